// Single-head self-attention over all pixels.
#include "core/models/attention.h"

#include <cmath>

namespace scorch::models {

AttnBlockImpl::AttnBlockImpl(const AttnBlockOptions& options_) : options(options_) {
  const auto C = options.channels();
  GroupNorm_0 = register_module("GroupNorm_0", make_group_norm(C, options.groups()));
  NIN_0 = register_module("NIN_0", NIN(C, C));
  NIN_1 = register_module("NIN_1", NIN(C, C));
  NIN_2 = register_module("NIN_2", NIN(C, C));
  NIN_3 = register_module("NIN_3", NIN(C, C, options.init_scale()));
}

torch::Tensor AttnBlockImpl::forward(const torch::Tensor& x, const torch::Tensor&) {
  const auto B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  auto h = GroupNorm_0->forward(x);
  auto q = NIN_0->forward(h).reshape({B, C, H * W});                                           // (B, C, N)
  auto k = NIN_1->forward(h).reshape({B, C, H * W});                                           // (B, C, N)
  auto v = NIN_2->forward(h).reshape({B, C, H * W});                                           // (B, C, N)
  auto logits = torch::bmm(q.transpose(1, 2), k) * (1.0 / std::sqrt(static_cast<double>(C)));  // (B, Nq, Nk)
  auto weights = torch::softmax(logits, -1);
  auto out = torch::bmm(v, weights.transpose(1, 2)).reshape({B, C, H, W});  // (B, C, H, W)
  out = NIN_3->forward(out);
  return options.skip_rescale() ? (x + out) / std::sqrt(2.0) : x + out;
}

}  // namespace scorch::models
