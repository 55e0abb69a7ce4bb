// Single-head self-attention over all pixels.
#include "core/models/attention.h"

#include <cmath>

#include "core/models/fused_skip_join.h"

namespace scorch::models {

AttnBlockImpl::AttnBlockImpl(const AttnBlockOptions& options_) : options(options_) {
  const auto C = options.channels();
  GroupNorm_0 = register_module("GroupNorm_0", make_group_norm(C, options.groups()));
  NIN_0 = register_module("NIN_0", NIN(C, C));
  NIN_1 = register_module("NIN_1", NIN(C, C));
  NIN_2 = register_module("NIN_2", NIN(C, C));
  NIN_3 = register_module("NIN_3", NIN(C, C, options.init_scale()));
}

torch::Tensor AttnBlockImpl::forward(const torch::Tensor& x_in, const torch::Tensor&) {
  const auto B = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
  const auto [h, x] = norm_act_passing_input(*GroupNorm_0, {}, x_in, options.fused_input_grad());
  auto q = NIN_0->forward(h), k = NIN_1->forward(h), v = NIN_2->forward(h);  // (B, C, H, W) each
  torch::Tensor out;
  if (options.fused()) {
    // One head of width C over N = H W tokens. The permute is free for channels_last activations; the
    // kernel's default scale 1/sqrt(C) is the reference's.
    auto tokens = [&](const torch::Tensor& t) { return t.permute({0, 2, 3, 1}).reshape({B, 1, H * W, C}); };
    out = at::scaled_dot_product_attention(tokens(q), tokens(k), tokens(v));  // (B, 1, N, C)
    // Back in the input's layout: a channels_last result would switch every later layer of a contiguous
    // network to channels_last kernels and mixed-layout additions.
    out = out.reshape({B, H, W, C}).permute({0, 3, 1, 2}).contiguous(x.suggest_memory_format());  // (B, C, H, W)
  } else {
    auto qf = q.reshape({B, C, H * W}), kf = k.reshape({B, C, H * W}), vf = v.reshape({B, C, H * W});  // (B, C, N)
    auto logits = torch::bmm(qf.transpose(1, 2), kf) * (1.0 / std::sqrt(static_cast<double>(C)));      // (B, Nq, Nk)
    auto weights = torch::softmax(logits, -1);
    if (x.suggest_memory_format() == at::MemoryFormat::ChannelsLast)
      // The product transposed, (B, Nq, C), is channels_last (B, C, H, W) as it stands: in NCHW NIN_3's output
      // would miss the fused join (its operands must share a layout) and mix layouts in the residual add.
      out = torch::bmm(weights, vf.transpose(1, 2)).view({B, H, W, C}).permute({0, 3, 1, 2});
    else
      out = torch::bmm(vf, weights.transpose(1, 2)).reshape({B, C, H, W});  // (B, C, H, W)
  }
  if (switch_applies(options.fused_skip_join(), x.is_cuda()))
    return fused_skip_join(x, NIN_3->forward_without_bias(out), NIN_3->b, options.skip_rescale());
  return skip_join(x, NIN_3->forward(out), options.skip_rescale());
}

}  // namespace scorch::models
