// Image sources for FID: image files decoded with stb_image; dataset dirs through the data/ reader.
#include "eval/image_source.h"

#include <stb_image.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"

namespace scorch::eval {

namespace fs = std::filesystem;

namespace {

class FolderSource : public ImageSource {
 public:
  FolderSource(std::string dir, std::vector<std::string> files) : dir_(std::move(dir)), files_(std::move(files)) {}
  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  std::string describe() const override { return fmt::format("{} ({} image files)", dir_, files_.size()); }

  std::vector<torch::Tensor> read(int64_t begin, int64_t end) override {
    std::vector<torch::Tensor> out;
    for (int64_t i = begin; i < end; ++i) {
      int w = 0, h = 0, c = 0;
      unsigned char* px = stbi_load(files_[i].c_str(), &w, &h, &c, 0);
      SCORCH_CHECK(px, "{}: cannot decode image ({})", files_[i], stbi_failure_reason());
      auto t = torch::from_blob(px, {h, w, c}, torch::kByte).clone();
      stbi_image_free(px);
      if (c == 2) t = t.slice(2, 0, 1);  // grey + alpha: keep the grey
      out.push_back(t);
    }
    return out;
  }

 private:
  std::string dir_;
  std::vector<std::string> files_;
};

}  // namespace

std::unique_ptr<ImageSource> open_image_source(const std::string& path) {
  SCORCH_CHECK(fs::is_directory(path), "image source '{}' is not a directory (expected a folder of images or a "
               "dataset/samples dir)", path);
  SCORCH_CHECK_HINT(!fs::exists(fs::path(path) / "manifest.json"),
                    "export the images to a folder of PNGs and pass that folder",
                    "{}: reading HDF5 dataset/samples dirs is not wired into `scorch fid` yet", path);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(path)) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    for (const char* known : {".png", ".jpg", ".jpeg", ".bmp", ".tga", ".pgm", ".ppm"})
      if (ext == known) files.push_back(e.path());
  }
  SCORCH_CHECK(!files.empty(), "{}: no images (.png .jpg .jpeg .bmp .tga .pgm .ppm) found", path);
  std::sort(files.begin(), files.end());
  return std::make_unique<FolderSource>(path, std::move(files));
}

}  // namespace scorch::eval
