// A source whose images are framed by a zero border to a larger square, e.g. 28x28 MNIST-style digits to
// 32x32, the size the U-Nets halve cleanly (the DDPM practice for MNIST).
#pragma once
#include <memory>

#include "data/sources.h"

namespace scorch::data {

class PaddedSource : public Source {
 public:
  // Every image of `inner` is centred on a `size` x `size` canvas of zeros; `size` must not be smaller.
  PaddedSource(std::unique_ptr<Source> inner, int64_t size);
  int64_t count() const override { return inner_->count(); }
  std::vector<int64_t> shape() const override;
  bool has_labels() const override { return inner_->has_labels(); }
  void read(int64_t index, uint8_t* dst) const override;
  int64_t label(int64_t index) const override { return inner_->label(index); }
  nlohmann::json describe() const override;

 private:
  std::unique_ptr<Source> inner_;
  int64_t size_, h_, w_, c_, top_, left_;
};

}  // namespace scorch::data
