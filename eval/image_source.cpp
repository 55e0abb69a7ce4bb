// Image sources for FID: a folder of image files read as pytorch-fid reads them; dataset dirs through data/.
#include "eval/image_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/io/image_io.h"
#include "data/dataset.h"

namespace scorch::eval {

namespace fs = std::filesystem;

namespace {

class FolderSource : public ImageSource {
 public:
  FolderSource(std::string dir, std::vector<std::string> files) : dir_(std::move(dir)), files_(std::move(files)) {}
  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  std::string describe() const override { return fmt::format("{} ({} image files)", dir_, files_.size()); }

  // Each file as PIL's Image.open(path).convert("RGB") gives it (tests/core/io/image_codecs_test.cpp).
  std::vector<torch::Tensor> read(int64_t begin, int64_t end) override {
    std::vector<torch::Tensor> out;
    for (int64_t i = begin; i < end; ++i) {
      auto im = io::read_image(files_[i], 3);
      // PIL opens 16-bit grey as 32-bit integers and clips them at 255 when converting: mostly white images.
      SCORCH_CHECK_HINT(!(im.file_bits == 16 && im.file_channels <= 2),
                        "convert the folder to 8 bits; scorch will not score it the way pytorch-fid would",
                        "{}: 16-bit greyscale image, which pytorch-fid (PIL) clips at 255", files_[i]);
      out.push_back(torch::from_blob(im.pixels.data(), {im.height, im.width, 3}, torch::kByte).clone());
    }
    return out;
  }

 private:
  std::string dir_;
  std::vector<std::string> files_;
};

// A dataset / samples dir in the HDF5 shard format (manifest.json + shards), read through data/.
class DatasetSource : public ImageSource {
 public:
  explicit DatasetSource(const std::string& dir) : ds_(dir) {
    const auto& m = ds_.manifest();
    SCORCH_CHECK(m.kind == "images" && m.dtype == "uint8" && m.shape.size() == 3,
                 "{}: FID needs uint8 images (H, W, C), the manifest says kind '{}', dtype {}, {}-d items", dir, m.kind,
                 m.dtype, m.shape.size());
  }
  int64_t size() const override { return ds_.size(); }
  std::string describe() const override { return fmt::format("{} ({} images, HDF5 shards)", ds_.dir(), ds_.size()); }

  std::vector<torch::Tensor> read(int64_t begin, int64_t end) override {
    std::vector<int64_t> idx;
    for (int64_t i = begin; i < end; ++i) idx.push_back(i);
    const auto items = ds_.read_items(idx).unbind(0);  // n x (H, W, C) uint8
    return {items.begin(), items.end()};
  }

 private:
  data::Dataset ds_;
};

class TensorSource : public ImageSource {
 public:
  TensorSource(torch::Tensor images, std::string description)
      : images_(std::move(images)), description_(std::move(description)) {}
  int64_t size() const override { return images_.size(0); }
  std::string describe() const override { return description_; }
  std::vector<torch::Tensor> read(int64_t begin, int64_t end) override {
    std::vector<torch::Tensor> out;
    for (int64_t i = begin; i < end; ++i) out.push_back(images_[i]);
    return out;
  }

 private:
  torch::Tensor images_;  // (N, H, W, C) uint8
  std::string description_;
};

}  // namespace

std::unique_ptr<ImageSource> open_image_source(const std::string& path) {
  SCORCH_CHECK(fs::is_directory(path),
               "image source '{}' is not a directory (expected a folder of images or a "
               "dataset/samples dir)",
               path);
  // A farm without its manifest (unfinished) goes to the dataset reader, which says so.
  if (fs::exists(fs::path(path) / "manifest.json") || fs::exists(fs::path(path) / "farm.json"))
    return std::make_unique<DatasetSource>(path);
  // pytorch-fid's IMAGE_EXTENSIONS, matched as its glob matches them: case-sensitively.
  static const std::set<std::string> kRead = {".bmp", ".jpg", ".jpeg", ".pgm", ".png",
                                              ".ppm", ".tif", ".tiff", ".webp"};
  static const std::set<std::string> kImageLike = {".gif", ".tga", ".jfif", ".pnm", ".pbm"};
  std::vector<std::string> files, skipped;
  for (const auto& e : fs::directory_iterator(path)) {
    if (!e.is_regular_file()) continue;
    const std::string ext = e.path().extension().string();
    std::string lower = ext;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (kRead.count(ext))
      files.push_back(e.path());
    else if (kRead.count(lower) || kImageLike.count(lower))
      skipped.push_back(e.path().filename());
  }
  std::sort(skipped.begin(), skipped.end());
  SCORCH_CHECK(!files.empty(), "{}: no images (.png .jpg .jpeg .bmp .pgm .ppm .tif .tiff .webp, lower case) found{}",
               path, skipped.empty() ? "" : fmt::format("; {} other image files, e.g. {}", skipped.size(), skipped[0]));
  if (!skipped.empty())
    spdlog::warn(
        "{}: {} files skipped, as pytorch-fid skips them (it reads lower-case .png .jpg .jpeg .bmp .pgm .ppm "
        ".tif .tiff .webp), e.g. {}",
        path, skipped.size(), skipped[0]);
  std::sort(files.begin(), files.end());
  return std::make_unique<FolderSource>(path, std::move(files));
}

std::unique_ptr<ImageSource> tensor_image_source(torch::Tensor images, std::string description) {
  SCORCH_CHECK(images.dim() == 4 && images.scalar_type() == torch::kByte && images.is_cpu(),
               "in-memory FID images must be (N, H, W, C) uint8 on the CPU, got {} {}", c10::str(images.sizes()),
               c10::toString(images.scalar_type()));
  const auto c = images.size(3);
  SCORCH_CHECK(c == 1 || c == 3 || c == 4, "in-memory FID images must have 1, 3 or 4 channels, got {}", c);
  return std::make_unique<TensorSource>(std::move(images), std::move(description));
}

}  // namespace scorch::eval
