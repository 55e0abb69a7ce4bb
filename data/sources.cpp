// In-memory sources: IDX, CIFAR-10 binaries and NumPy arrays are small enough to decode whole.
#include "data/sources.h"

#include <fmt/ranges.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/io/npz.h"

namespace scorch::data {

namespace fs = std::filesystem;

ArraySource::ArraySource(torch::Tensor images, torch::Tensor labels, nlohmann::json description)
    : images_(images.contiguous()),
      labels_(labels.defined() ? labels.to(torch::kInt64).contiguous() : labels),
      description_(std::move(description)) {
  SCORCH_CHECK(images_.dim() == 4 && images_.scalar_type() == torch::kUInt8, "source images must be uint8 [N,H,W,C]");
  SCORCH_CHECK(images_.size(3) == 1 || images_.size(3) == 3, "source images must have 1 or 3 channels, got {}",
               images_.size(3));
  if (labels_.defined())
    SCORCH_CHECK(labels_.dim() == 1 && labels_.size(0) == images_.size(0), "{} labels for {} images", labels_.numel(),
                 images_.size(0));
}

std::vector<int64_t> ArraySource::shape() const { return {images_.size(1), images_.size(2), images_.size(3)}; }

void ArraySource::read(int64_t index, uint8_t* dst) const {
  const int64_t item = images_.size(1) * images_.size(2) * images_.size(3);
  std::memcpy(dst, images_.data_ptr<uint8_t>() + index * item, item);
}

std::string read_maybe_gzip(const std::string& path) {
  SCORCH_CHECK(fs::is_regular_file(path), "input file '{}' does not exist", path);
  gzFile f = gzopen(path.c_str(), "rb");
  SCORCH_CHECK(f != nullptr, "cannot open '{}'", path);
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, n);
  int err = 0;
  const char* msg = gzerror(f, &err);
  const std::string reason = msg ? msg : "";
  gzclose(f);
  SCORCH_CHECK(n == 0 && (err == Z_OK || err == Z_STREAM_END), "cannot read '{}': {} (truncated or corrupted gzip?)",
               path, reason);
  return out;
}

namespace {

uint32_t be32(const std::string& b, size_t at) {
  return uint32_t(uint8_t(b[at])) << 24 | uint32_t(uint8_t(b[at + 1])) << 16 | uint32_t(uint8_t(b[at + 2])) << 8 |
         uint8_t(b[at + 3]);
}

// Parses an IDX ubyte array; returns its dims and the payload offset.
std::vector<int64_t> idx_dims(const std::string& b, const std::string& path, size_t* payload) {
  SCORCH_CHECK(b.size() >= 4 && b[0] == 0 && b[1] == 0, "'{}' is not an IDX file (bad magic)", path);
  SCORCH_CHECK(uint8_t(b[2]) == 0x08, "'{}': IDX element type 0x{:02x} is not unsigned byte", path, uint8_t(b[2]));
  const int nd = uint8_t(b[3]);
  SCORCH_CHECK(nd >= 1 && b.size() >= 4 + 4 * size_t(nd), "'{}': truncated IDX header", path);
  *payload = 4 + 4 * size_t(nd);
  // The product is bounded by the payload present before it is multiplied further, so nothing overflows.
  const uint64_t have = b.size() - *payload;
  std::vector<int64_t> dims;
  uint64_t total = 1;
  for (int i = 0; i < nd; ++i) {
    const uint64_t d = be32(b, 4 + 4 * i);
    dims.push_back(static_cast<int64_t>(d));
    total = d == 0 || total == 0 ? 0 : (d > have / total ? have + 1 : total * d);
  }
  SCORCH_CHECK(total == have, "'{}': IDX payload has {} bytes, header promises {} (truncated?)", path, have,
               total <= have ? fmt::to_string(total) : fmt::format("{}", fmt::join(dims, " x ")));
  // An empty array says nothing about its other dimensions: bound them so that no shape overflows.
  uint64_t item = 1;
  for (int i = 1; i < nd; ++i)  // each factor < 2^32 and item <= 2^32: the product fits in 64 bits
    item = std::min<uint64_t>(item * std::max<int64_t>(dims[i], 1), uint64_t{1} << 32);
  SCORCH_CHECK(item < uint64_t{1} << 32, "'{}': IDX item shape {} is larger than any image", path,
               fmt::join(dims.begin() + 1, dims.end(), " x "));
  return dims;
}

}  // namespace

std::unique_ptr<Source> open_idx(const std::string& images_path, const std::string& labels_path) {
  const std::string b = read_maybe_gzip(images_path);
  size_t at = 0;
  auto dims = idx_dims(b, images_path, &at);
  SCORCH_CHECK(dims.size() == 3 || (dims.size() == 4 && (dims[3] == 1 || dims[3] == 3)),
               "'{}': IDX images must be [N,H,W] or [N,H,W,C], got {} dimensions", images_path, dims.size());
  if (dims.size() == 3) dims.push_back(1);
  auto images = torch::empty(dims, torch::kUInt8);
  if (images.numel()) std::memcpy(images.data_ptr<uint8_t>(), b.data() + at, images.numel());
  torch::Tensor labels;
  nlohmann::json desc = {{"type", "idx"}, {"images", images_path}};
  if (!labels_path.empty()) {
    const std::string lb = read_maybe_gzip(labels_path);
    size_t lat = 0;
    auto ldims = idx_dims(lb, labels_path, &lat);
    SCORCH_CHECK(ldims.size() == 1 && ldims[0] == dims[0], "'{}': labels must be [{}] to match '{}'", labels_path,
                 dims[0], images_path);
    labels = torch::empty({ldims[0]}, torch::kUInt8);
    if (ldims[0]) std::memcpy(labels.data_ptr<uint8_t>(), lb.data() + lat, ldims[0]);
    desc["labels"] = labels_path;
  }
  return std::make_unique<ArraySource>(images, labels, desc);
}

std::unique_ptr<Source> open_cifar10(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    if (fs::is_directory(p)) {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(p))
        if (e.path().filename().string().rfind("data_batch_", 0) == 0 && e.path().extension() == ".bin")
          found.push_back(e.path().string());
      std::sort(found.begin(), found.end());
      SCORCH_CHECK(!found.empty(), "'{}' holds no CIFAR-10 data_batch_*.bin files", p);
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(p);
    }
  }
  constexpr int64_t kRecord = 1 + 3 * 32 * 32;
  std::vector<std::string> blobs;
  int64_t n = 0;
  for (const auto& f : files) {
    blobs.push_back(read_maybe_gzip(f));
    SCORCH_CHECK(!blobs.back().empty() && blobs.back().size() % kRecord == 0,
                 "'{}' is not a CIFAR-10 binary batch: {} bytes is not a multiple of {} (truncated?)", f,
                 blobs.back().size(), kRecord);
    n += static_cast<int64_t>(blobs.back().size()) / kRecord;
  }
  auto images = torch::empty({n, 32, 32, 3}, torch::kUInt8);
  auto labels = torch::empty({n}, torch::kInt64);
  uint8_t* img = images.data_ptr<uint8_t>();
  int64_t i = 0;
  for (size_t f = 0; f < blobs.size(); ++f) {
    const auto* b = reinterpret_cast<const uint8_t*>(blobs[f].data());
    for (size_t r = 0; r < blobs[f].size() / kRecord; ++r, ++i) {
      const uint8_t* rec = b + r * kRecord;
      SCORCH_CHECK(rec[0] < 10, "'{}': record {} has label {}, CIFAR-10 labels are 0..9", files[f], r, rec[0]);
      labels[i] = int64_t(rec[0]);
      for (int p = 0; p < 1024; ++p)  // planes R, G, B -> interleaved HWC
        for (int c = 0; c < 3; ++c) img[i * 3072 + p * 3 + c] = rec[1 + c * 1024 + p];
    }
  }
  const nlohmann::json classes = {"airplane", "automobile", "bird",  "cat",  "deer",
                                  "dog",      "frog",       "horse", "ship", "truck"};
  return std::make_unique<ArraySource>(images, labels,
                                       nlohmann::json{{"type", "cifar10"}, {"files", files}, {"classes", classes}});
}

std::unique_ptr<Source> open_numpy(const std::string& path, const std::string& images_key,
                                   const std::string& labels_key, bool labels_required) {
  torch::Tensor images, labels;
  SCORCH_CHECK(fs::is_regular_file(path), "input file '{}' does not exist", path);
  nlohmann::json desc = {{"type", "numpy"}, {"file", path}};
  if (fs::path(path).extension() == ".npz") {
    auto arrays = io::npz::read_npz(path);
    auto it = arrays.find(images_key);
    SCORCH_CHECK_HINT(it != arrays.end(), "name the array with --images-key", "'{}' has no array '{}'", path,
                      images_key);
    images = it->second;
    desc["images_key"] = images_key;
    const auto lt = arrays.find(labels_key);
    SCORCH_CHECK_HINT(lt != arrays.end() || !labels_required, "name the labels array with --labels-key",
                      "'{}' has no array '{}' (--labels-key)", path, labels_key);
    if (lt != arrays.end()) {
      labels = lt->second;
      SCORCH_CHECK(labels.dim() == 1 && labels.is_floating_point() == false,
                   "'{}': labels '{}' must be an integer [N] array, got shape {}", path, labels_key,
                   c10::str(labels.sizes()));
      SCORCH_CHECK(labels.numel() == 0 || labels.min().item<int64_t>() >= 0,
                   "'{}': labels '{}' hold a negative class id ({})", path, labels_key,
                   labels.numel() ? labels.min().item<int64_t>() : 0);
      desc["labels_key"] = labels_key;
    }
  } else {
    images = io::npz::parse_npy(read_maybe_gzip(path), path);
  }
  SCORCH_CHECK(images.scalar_type() == torch::kUInt8, "'{}': images must be uint8, got {}", path,
               std::string(c10::toString(images.scalar_type())));
  SCORCH_CHECK(images.dim() == 3 || images.dim() == 4,
               "'{}': images must be [N,H,W] or [N,H,W,C] (NHWC), got {} dimensions", path, images.dim());
  if (images.dim() == 3) images = images.unsqueeze(3);
  SCORCH_CHECK(images.size(3) == 1 || images.size(3) == 3,
               "'{}': the last dimension must be channels 1 or 3 (NHWC), got shape [{}]", path,
               fmt::join(images.sizes().vec(), ", "));
  if (labels.defined())
    SCORCH_CHECK(labels.size(0) == images.size(0), "'{}': {} labels for {} images", path, labels.size(0),
                 images.size(0));
  return std::make_unique<ArraySource>(images, labels, desc);
}

}  // namespace scorch::data
