// torch.save containers: zip (records read/written with LibTorch's stream reader/writer) and the legacy
// pickle stream; storages become flat CPU tensors that the pickle's tensors view.
#include "core/io/torch_file.h"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/torch_pickle.h"

namespace scorch::io {

namespace fs = std::filesystem;

namespace {

// The first pickle of a legacy file: PROTO 2, LONG1 0x1950a86a20f9469cfc6c (torch's magic number), STOP.
const std::string kLegacyMagic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e", 15);
const std::string kZipMagic("PK\x03\x04", 4);

std::string head_of(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  SCORCH_CHECK(in, "cannot open '{}'", path);
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

// The parts of a persistent id ('storage', type, key, location, numel[, view]) a storage needs.
struct StorageId {
  torch::ScalarType dtype;
  std::string key;
  int64_t numel;
  py::Ref view;  // legacy only: (view key, offset, size) or None
};

StorageId parse_pid(const py::Ref& pid, const std::string& what) {
  const bool ok = pid->kind == py::Kind::Tuple && pid->items.size() >= 5 && pid->items[0]->kind == py::Kind::Str &&
                  pid->items[0]->s == "storage" && pid->items[1]->kind == py::Kind::Global &&
                  pid->items[2]->kind == py::Kind::Str && pid->items[4]->kind == py::Kind::Int && pid->items[4]->i >= 0;
  SCORCH_CHECK(ok, "{}: unexpected persistent id {} (expected ('storage', type, key, location, numel))", what,
               pid->describe());
  return {py::storage_dtype(pid->items[1]->s, what), pid->items[2]->s, pid->items[4]->i,
          pid->items.size() > 5 ? pid->items[5] : py::none()};
}

py::Ref storage_value(torch::Tensor flat) {
  auto v = std::make_shared<py::Value>();
  v->kind = py::Kind::Storage;
  v->tensor = std::move(flat);
  return v;
}

TorchFile read_zip(const std::string& path) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    SCORCH_FAIL("'{}' is not a readable torch.save zip (truncated or corrupt?): {}", path, e.what_without_backtrace());
  }
  // torch.save stores its members uncompressed, so none can be larger than the file: a member that claims
  // more is a compressed (zip-bomb) or forged archive, refused before anything is allocated for it.
  const auto file_bytes = fs::file_size(path);
  auto check_size = [&](const std::string& record) {
    const size_t n = reader->getRecordSize(record);
    SCORCH_CHECK(n <= file_bytes,
                 "'{}': zip member {} claims {} bytes, more than the whole file ({} bytes); torch.save writes "
                 "members uncompressed, so this archive is compressed or forged and is not read",
                 path, record, n, file_bytes);
  };
  try {
    if (reader->hasRecord("byteorder")) {
      check_size("byteorder");
      auto [ptr, n] = reader->getRecord("byteorder");
      const std::string order(static_cast<const char*>(ptr.get()), n);
      SCORCH_CHECK(order == "little", "'{}' was saved on a {}-endian machine; only little-endian files are supported",
                   path, order);
    }
    SCORCH_CHECK(reader->hasRecord("data.pkl"), "'{}' is a zip file without data.pkl: not a torch.save file", path);
    check_size("data.pkl");
    auto [pkl_ptr, pkl_n] = reader->getRecord("data.pkl");
    const std::string pkl(static_cast<const char*>(pkl_ptr.get()), pkl_n);
    std::map<std::string, py::Ref> storages;
    auto load = [&](const py::Ref& pid) -> py::Ref {
      const auto id = parse_pid(pid, path);
      auto it = storages.find(id.key);
      if (it != storages.end()) return it->second;
      const std::string record = "data/" + id.key;
      SCORCH_CHECK(reader->hasRecord(record), "'{}': storage record {} is missing", path, record);
      check_size(record);
      SCORCH_CHECK(static_cast<uint64_t>(id.numel) <= file_bytes,
                   "'{}': storage {} claims {} elements, more than the file holds", path, record, id.numel);
      const size_t bytes = static_cast<size_t>(id.numel) * c10::elementSize(id.dtype);
      SCORCH_CHECK(reader->getRecordSize(record) == bytes,
                   "'{}': storage record {} holds {} bytes, its tensors need {} ({} x {})", path, record,
                   reader->getRecordSize(record), bytes, id.numel, c10::toString(id.dtype));
      auto flat = torch::empty({id.numel}, torch::TensorOptions().dtype(id.dtype));
      if (bytes) reader->getRecord(record, flat.data_ptr(), bytes);
      return storages[id.key] = storage_value(flat);
    };
    size_t pos = 0;
    auto root = py::unpickle(pkl, &pos, load, path + " (data.pkl)");
    return {root, TorchFileKind::Zip};
  } catch (const c10::Error& e) {
    SCORCH_FAIL("'{}': cannot read a record (truncated or corrupt?): {}", path, e.what_without_backtrace());
  }
}

TorchFile read_legacy(const std::string& path) {
  const std::string data = read_file(path);
  const std::string what = path + " (legacy torch.save)";
  size_t pos = kLegacyMagic.size();
  const auto protocol = py::unpickle(data, &pos, nullptr, what);
  SCORCH_CHECK(protocol->kind == py::Kind::Int && protocol->i == 1001, "{}: unsupported protocol version {}", what,
               protocol->describe());
  const auto sys_info = py::unpickle(data, &pos, nullptr, what);
  const auto little = sys_info->is_dict() ? sys_info->get("little_endian") : nullptr;
  SCORCH_CHECK(little && little->kind == py::Kind::Bool && little->b,
               "{}: saved on a big-endian machine (or without sys_info); only little-endian files are supported", what);

  // Storage data follows the pickle, so tensors are views of storages filled in afterwards.
  std::map<std::string, torch::Tensor> roots;
  auto load = [&](const py::Ref& pid) -> py::Ref {
    const auto id = parse_pid(pid, what);
    SCORCH_CHECK(id.numel <= static_cast<int64_t>(data.size()), "{}: storage {} claims {} elements in a {}-byte file",
                 what, id.key, id.numel, data.size());
    auto it = roots.find(id.key);
    if (it == roots.end())
      it = roots.emplace(id.key, torch::empty({id.numel}, torch::TensorOptions().dtype(id.dtype))).first;
    if (id.view->kind == py::Kind::None) return storage_value(it->second);
    const auto& v = id.view->items;
    SCORCH_CHECK(id.view->kind == py::Kind::Tuple && v.size() == 3 && v[1]->kind == py::Kind::Int &&
                     v[2]->kind == py::Kind::Int && v[1]->i >= 0 && v[1]->i + v[2]->i <= id.numel,
                 "{}: malformed storage view {}", what, id.view->describe());
    return storage_value(it->second.narrow(0, v[1]->i, v[2]->i));
  };
  auto root = py::unpickle(data, &pos, load, what);
  const auto keys = py::unpickle(data, &pos, nullptr, what);
  SCORCH_CHECK(keys->kind == py::Kind::List, "{}: expected the list of storage keys, got {}", what, keys->describe());
  for (const auto& key : keys->items) {
    SCORCH_CHECK(key->kind == py::Kind::Str && roots.count(key->s), "{}: unknown storage key {}", what,
                 key->describe());
    auto& flat = roots.at(key->s);
    SCORCH_CHECK(data.size() - pos >= 8, "{}: truncated before storage {}", what, key->s);
    int64_t numel;
    std::memcpy(&numel, data.data() + pos, 8);
    pos += 8;
    const size_t bytes = static_cast<size_t>(flat.numel()) * flat.element_size();
    SCORCH_CHECK(numel == flat.numel(), "{}: storage {} holds {} elements, its tensors need {}", what, key->s, numel,
                 flat.numel());
    SCORCH_CHECK(data.size() - pos >= bytes, "{}: truncated inside storage {} (needs {} bytes, {} left)", what, key->s,
                 bytes, data.size() - pos);
    std::memcpy(flat.data_ptr(), data.data() + pos, bytes);
    pos += bytes;
  }
  SCORCH_CHECK(keys->items.size() == roots.size(), "{}: {} storages referenced, {} stored", what, roots.size(),
               keys->items.size());
  return {root, TorchFileKind::Legacy};
}

}  // namespace

TorchFileKind sniff_torch_file(const std::string& path) {
  const std::string head = head_of(path, kLegacyMagic.size());
  if (head == kLegacyMagic) return TorchFileKind::Legacy;
  if (head.compare(0, kZipMagic.size(), kZipMagic) != 0) return TorchFileKind::NotTorch;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    if (reader.hasRecord("constants.pkl") || reader.hasRecord("code/__torch__.py")) return TorchFileKind::TorchScript;
    return reader.hasRecord("data.pkl") ? TorchFileKind::Zip : TorchFileKind::NotTorch;
  } catch (const c10::Error& e) {
    SCORCH_FAIL("'{}' starts like a zip file but cannot be opened (truncated or corrupt?): {}", path,
                e.what_without_backtrace());
  }
}

const char* torch_file_kind_name(TorchFileKind kind) {
  switch (kind) {
    case TorchFileKind::NotTorch: return "not a torch file";
    case TorchFileKind::Zip: return "torch.save zip (torch >= 1.6)";
    case TorchFileKind::Legacy: return "torch.save legacy stream (torch < 1.6)";
    case TorchFileKind::TorchScript: return "TorchScript archive (torch.jit.save)";
  }
  return "?";
}

TorchFile read_torch_file(const std::string& path) {
  const auto kind = sniff_torch_file(path);
  SCORCH_CHECK_HINT(kind != TorchFileKind::TorchScript,
                    "load it with torch.jit.load in Python and torch.save its state_dict()",
                    "'{}' is a TorchScript archive, not a torch.save file of tensors", path);
  SCORCH_CHECK(kind != TorchFileKind::NotTorch,
               "'{}' is not a torch.save file (neither a zip archive nor the legacy pickle stream)", path);
  return kind == TorchFileKind::Zip ? read_zip(path) : read_legacy(path);
}

void write_torch_file(const std::string& path, const py::Ref& root) {
  write_path_atomic(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    SCORCH_CHECK(out, "cannot write '{}'", tmp);
    try {
      // A short count would make LibTorch throw, and its writer's destructor then throws again and ends the
      // process: every write is reported as done, and the stream's state is checked once it is closed.
      caffe2::serialize::PyTorchStreamWriter writer([&](const void* buf, size_t n) -> size_t {
        if (out) out.write(static_cast<const char*>(buf), static_cast<std::streamsize>(n));
        return n;
      });
      std::vector<std::pair<std::string, torch::Tensor>> storages;
      const std::string pkl = py::pickle(root, [&](const torch::Tensor& t) {
        storages.emplace_back(std::to_string(storages.size()), t);
        return storages.back().first;
      });
      writer.writeRecord("data.pkl", pkl.data(), pkl.size());
      writer.writeRecord("byteorder", "little", 6);
      for (const auto& [key, t] : storages)
        writer.writeRecord("data/" + key, t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
      writer.writeEndOfFile();
    } catch (const c10::Error& e) {
      SCORCH_FAIL("writing '{}' failed: {}", path, e.what_without_backtrace());
    }
    out.close();
    SCORCH_CHECK(out, "writing '{}' failed (disk full?)", tmp);
  });
}

}  // namespace scorch::io
