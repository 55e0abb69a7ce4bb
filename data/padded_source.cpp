// Zero-border padding of another source's images.
#include "data/padded_source.h"

#include <cstring>
#include <vector>

#include "core/error.h"

namespace scorch::data {

PaddedSource::PaddedSource(std::unique_ptr<Source> inner, int64_t size) : inner_(std::move(inner)), size_(size) {
  const auto s = inner_->shape();  // (H, W, C)
  h_ = s[0], w_ = s[1], c_ = s[2];
  SCORCH_CHECK_HINT(size_ >= h_ && size_ >= w_, "--pad only enlarges; use a folder with --resolution to shrink",
                    "--pad {} is smaller than the images ({}x{})", size_, h_, w_);
  top_ = (size_ - h_) / 2;
  left_ = (size_ - w_) / 2;
}

std::vector<int64_t> PaddedSource::shape() const { return {size_, size_, c_}; }

void PaddedSource::read(int64_t index, uint8_t* dst) const {
  thread_local std::vector<uint8_t> item;
  item.resize(static_cast<size_t>(h_ * w_ * c_));
  inner_->read(index, item.data());
  std::memset(dst, 0, static_cast<size_t>(size_ * size_ * c_));
  for (int64_t y = 0; y < h_; ++y)
    std::memcpy(dst + ((y + top_) * size_ + left_) * c_, item.data() + y * w_ * c_, static_cast<size_t>(w_ * c_));
}

nlohmann::json PaddedSource::describe() const {
  auto d = inner_->describe();
  d["pad_to"] = size_;
  return d;
}

}  // namespace scorch::data
