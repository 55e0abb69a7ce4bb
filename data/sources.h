// Inputs that `scorch data pack` reads: image folders, CIFAR-10 binaries, IDX files, .npy/.npz arrays.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace scorch::data {

// Random access to the items to pack, uint8 HWC, in a fixed order (the dataset order).
class Source {
 public:
  virtual ~Source() = default;
  virtual int64_t count() const = 0;
  virtual std::vector<int64_t> shape() const = 0;  // {H, W, C}
  virtual bool has_labels() const = 0;
  virtual void read(int64_t index, uint8_t* dst) const = 0;
  virtual int64_t label(int64_t index) const = 0;
  virtual nlohmann::json describe() const = 0;  // recorded as the manifest's "source"
};

// Decoded arrays held in memory: images (N, H, W, C) uint8, labels (N,) int64 or undefined.
class ArraySource : public Source {
 public:
  ArraySource(torch::Tensor images, torch::Tensor labels, nlohmann::json description);
  int64_t count() const override { return images_.size(0); }
  std::vector<int64_t> shape() const override;
  bool has_labels() const override { return labels_.defined(); }
  void read(int64_t index, uint8_t* dst) const override;
  int64_t label(int64_t index) const override { return labels_.data_ptr<int64_t>()[index]; }
  nlohmann::json describe() const override { return description_; }

 private:
  torch::Tensor images_, labels_;
  nlohmann::json description_;
};

// IDX (MNIST / Fashion-MNIST), gzipped or not: images [N, H, W] ubyte, labels [N] ubyte (optional "").
std::unique_ptr<Source> open_idx(const std::string& images_path, const std::string& labels_path);
// CIFAR-10 binary batches (label byte + 3072 bytes R, G, B planes per record); a directory means its
// data_batch_*.bin files.
std::unique_ptr<Source> open_cifar10(const std::vector<std::string>& paths);
// .npy with uint8 [N,H,W] or [N,H,W,C]; .npz: arrays `images_key` and `labels_key` (integer [N], >= 0), which
// may be absent unless `labels_required` (the user named it).
std::unique_ptr<Source> open_numpy(const std::string& path, const std::string& images_key,
                                   const std::string& labels_key, bool labels_required = false);
// Reads a whole file, inflating it when it is gzip (zlib reads plain files unchanged).
std::string read_maybe_gzip(const std::string& path);

}  // namespace scorch::data
