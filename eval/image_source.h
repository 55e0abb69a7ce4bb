// Where FID images come from: a folder of image files, or a dataset/samples dir (HDF5 shards via data/).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace scorch::eval {

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual int64_t size() const = 0;
  // Images [begin, end), each (H, W, C) uint8 with C in {1, 3, 4}; sizes may differ between images.
  virtual std::vector<torch::Tensor> read(int64_t begin, int64_t end) = 0;
  virtual std::string describe() const = 0;
};

// A folder of the files pytorch-fid reads (.bmp .jpg .jpeg .pgm .png .ppm .tif .tiff .webp, lower case, sorted
// by name), each decoded to PIL's RGB pixels, or a dataset dir (manifest.json + shards). Throws naming the path
// when it is neither or holds no images; warns naming the image-like files it skips, as pytorch-fid skips them.
std::unique_ptr<ImageSource> open_image_source(const std::string& path);

// Images already in memory, (N, H, W, C) uint8 with C in {1, 3, 4} (samples in hand, tests, benchmarks).
std::unique_ptr<ImageSource> tensor_image_source(torch::Tensor images, std::string description);

}  // namespace scorch::eval
