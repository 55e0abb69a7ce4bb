// A folder of PNG/JPEG images (recursive, sorted by path) as a pack source, decoded on demand. When every
// image lies in a first-level sub-folder, those sub-folders are the classes (as torchvision's ImageFolder
// reads them): label k is the k-th folder name in byte order.
#pragma once
#include <string>
#include <vector>

#include "core/io/image_io.h"
#include "data/sources.h"

namespace scorch::dist {
class Communicator;
}

namespace scorch::data {

struct FolderOptions {
  int resolution = 0;  // 0: keep the size, which must then be the same for every image
  bool grayscale = false;
  bool skip_bad = false;  // leave out images that will not decode (reported), instead of failing
  // A centred crop x crop square first (0: the largest one when resizing; score_sde's CelebA: 140), and the
  // filter of the resize to resolution.
  int crop = 0;
  io::ResizeFilter filter = io::ResizeFilter::Mitchell;
};

class FolderSource : public Source {
 public:
  // Lists the images and decodes every one once (split over the ranks of `comm`) to find bad files and
  // sizes before anything is written, so shard boundaries are known and equal on every rank.
  FolderSource(const std::string& root, FolderOptions options, dist::Communicator& comm);
  int64_t count() const override { return static_cast<int64_t>(files_.size()); }
  std::vector<int64_t> shape() const override { return shape_; }
  bool has_labels() const override { return !classes_.empty(); }
  void read(int64_t index, uint8_t* dst) const override;
  int64_t label(int64_t index) const override { return labels_.at(index); }
  const std::vector<std::string>& classes() const { return classes_; }
  nlohmann::json describe() const override;
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  std::string root_;
  FolderOptions options_;
  std::vector<std::string> files_, skipped_;
  std::vector<int64_t> shape_;
  std::vector<std::string> classes_;  // empty: no labels (some image lies directly in the root)
  std::vector<int64_t> labels_;       // per file in files_

  void label_by_folder();
};

// Files under `root` with an image extension (png, jpg, jpeg, bmp; any case), sorted by relative path.
std::vector<std::string> list_images(const std::string& root);

}  // namespace scorch::data
