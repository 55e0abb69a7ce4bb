// safetensors reader and writer (format: huggingface/safetensors, little-endian only).
#include "core/io/safetensors.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/torch_file.h"
#include "core/json_numbers.h"

namespace scorch::io {

namespace {

struct DtypeName {
  const char* name;
  torch::ScalarType type;
};

constexpr DtypeName kDtypes[] = {
    {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16},
    {"I64", torch::kInt64},   {"I32", torch::kInt32},   {"I16", torch::kInt16},   {"I8", torch::kInt8},
    {"U8", torch::kUInt8},    {"BOOL", torch::kBool},
};

const char* dtype_name(torch::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  SCORCH_FAIL("safetensors: dtype {} cannot be written", c10::toString(t));
}

// The header may not exceed this (the reference implementation's own limit is 100 MB).
constexpr uint64_t kMaxHeader = 100'000'000;

}  // namespace

SafetensorsFile read_safetensors(const std::string& path) {
  SCORCH_CHECK(!std::filesystem::is_directory(path), "safetensors: {} is a directory, not a safetensors file", path);
  std::ifstream in(path, std::ios::binary);
  SCORCH_CHECK(in.good(), "safetensors: cannot open {}", path);
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  SCORCH_CHECK(file_size >= 8, "safetensors: {} is truncated ({} bytes, no header length)", path, file_size);
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > kMaxHeader || header_len > file_size - 8) {
    // A score_sde_pytorch .pth is the likeliest wrong file here: name it rather than call it corrupt.
    const auto torch_kind = sniff_torch_file(path);
    SCORCH_CHECK_HINT(torch_kind == TorchFileKind::NotTorch,
                      "a score_sde_pytorch checkpoint converts with `scorch convert import FILE --config CONFIG` "
                      "(docs/convert.md)",
                      "safetensors: {} is a {}, not a safetensors file", path, torch_file_kind_name(torch_kind));
  }
  SCORCH_CHECK(header_len <= kMaxHeader && header_len <= file_size - 8,
               "safetensors: {} is truncated or corrupt (header length {} but file has {} bytes)", path, header_len,
               file_size);
  std::string header_text(header_len, '\0');
  in.read(header_text.data(), static_cast<std::streamsize>(header_len));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_text);
  } catch (const std::exception& e) {
    SCORCH_FAIL("safetensors: {} has a corrupt JSON header: {}", path, e.what());
  }
  SCORCH_CHECK(header.is_object(), "safetensors: {} header is not a JSON object", path);
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file_size - data_start;

  SafetensorsFile out;
  struct Entry {
    std::string name;
    torch::ScalarType dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      SCORCH_CHECK(entry.is_object(), "safetensors: {} __metadata__ is not an object", path);
      for (const auto& [k, v] : entry.items()) {
        SCORCH_CHECK(v.is_string(), "safetensors: {} __metadata__.{} is not a string", path, k);
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    try {
      const auto dtype_text = entry.at("dtype").get<std::string>();
      const DtypeName* dtype = nullptr;
      for (const auto& d : kDtypes)
        if (dtype_text == d.name) dtype = &d;
      SCORCH_CHECK(dtype, "safetensors: {} tensor '{}' has unsupported dtype {}", path, name, dtype_text);
      const auto where = fmt::format("safetensors: {} tensor '{}'", path, name);
      std::vector<int64_t> shape = json_int64_list(entry.at("shape"), where + " shape");
      const auto offsets = json_uint64_list(entry.at("data_offsets"), where + " data_offsets");
      SCORCH_CHECK(offsets.size() == 2 && offsets[0] <= offsets[1], "safetensors: {} tensor '{}' has bad data_offsets",
                   path, name);
      SCORCH_CHECK(offsets[1] <= data_size,
                   "safetensors: {} is truncated: tensor '{}' ends at byte {} of a {}-byte data section", path, name,
                   offsets[1], data_size);
      // Element counts are bounded by the data section before they are multiplied, so nothing overflows.
      uint64_t numel = 1;
      for (auto d : shape) {
        SCORCH_CHECK(d >= 0, "safetensors: {} tensor '{}' has a negative dimension", path, name);
        numel = d == 0 || numel == 0 ? 0 : (static_cast<uint64_t>(d) > data_size / numel ? data_size + 1 : numel * d);
      }
      const uint64_t elem = c10::elementSize(dtype->type);
      SCORCH_CHECK(numel <= data_size && numel * elem == offsets[1] - offsets[0],
                   "safetensors: {} tensor '{}' has {} bytes of data but its shape {} of {} needs {}", path, name,
                   offsets[1] - offsets[0], fmt::join(shape, "x"), dtype_text,
                   numel <= data_size ? fmt::to_string(numel * elem) : "more than the file holds");
      entries.push_back({name, dtype->type, std::move(shape), offsets[0], offsets[1]});
    } catch (const nlohmann::json::exception& e) {
      SCORCH_FAIL("safetensors: {} tensor '{}' has a malformed header entry: {}", path, name, e.what());
    }
  }
  // As the format requires: the tensors tile the data section exactly, without overlaps or holes, so no
  // two names share bytes and nothing hides between them (nor does a forged header make this reader
  // allocate more than the file holds).
  std::vector<const Entry*> by_offset;
  for (const auto& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;
  for (size_t i = 0; i < by_offset.size(); ++i) {
    const Entry& e = *by_offset[i];
    SCORCH_CHECK(e.begin >= covered, "safetensors: {} tensors '{}' and '{}' overlap (bytes {}..{} and from {})", path,
                 by_offset[i - 1]->name, e.name, by_offset[i - 1]->begin, by_offset[i - 1]->end, e.begin);
    SCORCH_CHECK(e.begin == covered, "safetensors: {} has {} unused bytes before tensor '{}' (at byte {})", path,
                 e.begin - covered, e.name, covered);
    covered = e.end;
  }
  SCORCH_CHECK(covered == data_size, "safetensors: {} has {} bytes after its last tensor that no tensor uses", path,
               data_size - covered);
  for (const auto& e : entries) {
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
    in.seekg(static_cast<std::streamoff>(data_start + e.begin));
    in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(e.end - e.begin));
    SCORCH_CHECK(in.good(), "safetensors: {} read failed for tensor '{}'", path, e.name);
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // The header is emitted in insertion order so data offsets ascend with it.
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> cpu;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    SCORCH_CHECK(name != "__metadata__", "safetensors: a tensor may not be named __metadata__ ({})", path);
    auto c = t.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = c.numel() * c.element_size();
    header[name] = {
        {"dtype", dtype_name(c.scalar_type())}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(std::move(c));
  }
  std::string header_text = header.dump();
  // Padding to 8 bytes keeps the data aligned for readers that map the file.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  write_path_atomic(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    SCORCH_CHECK(out.good(), "safetensors: cannot create {}: {}", tmp, std::strerror(errno));
    uint64_t len = header_text.size();
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>((len >> (8 * i)) & 0xff);
    out.write(reinterpret_cast<const char*>(len_bytes), 8);
    out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
    for (const auto& c : cpu) out.write(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
    out.flush();
    // errno is the failed write's: the stream reports no error of its own.
    SCORCH_CHECK(out.good(), "safetensors: writing {} failed: {} (disk full?)", tmp, std::strerror(errno));
  });
}

}  // namespace scorch::io
