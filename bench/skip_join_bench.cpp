// The residual join forward + backward at NCSN++'s shapes, four ways: the block's tail as LibTorch runs it (the
// convolution's bias added in its own pass, the skip added, the sum divided by √2) on NCHW and on channels_last, and
// fused_skip_join (model.fused_skip_join) on each. Each way is validated against the first, then timed; one JSON row
// per shape and way, the fused ones with their speed-up over LibTorch in the same layout.
//
//   skip_join_bench DEVICE DTYPE REPEATS [N,C,H,W]...
// DEVICE cpu | cuda; DTYPE fp32 | bf16. Without shapes: the residual blocks' outputs of NCSN++ at 32² (cifar10, batch
// 128: 128 and 256 channels) and at 256² (celebahq, batch 32). The traffic column counts the least a forward and
// backward move: skip and h read and the output written, the output's gradient read and one gradient written.
#include <cmath>
#include <cstdio>

#include "bench/layer_ways.h"
#include "core/error.h"
#include "core/models/fused_skip_join.h"
#include "core/models/layers.h"

namespace {

using namespace scorch;

void run_case(const bench::Nchw& s, const torch::Device& device, torch::ScalarType dtype, int64_t repeats) {
  torch::manual_seed(0);
  const auto o = torch::TensorOptions().device(device);
  const auto skip0 = torch::randn({s.n, s.c, s.h, s.w}, o).to(dtype), h0 = torch::randn_like(skip0);
  const auto dy0 = torch::randn_like(skip0);
  const auto bias = torch::randn({s.c}, o).requires_grad_(true);
  // LibTorch rounds after the bias, the sum and the division, the kernel once: a few units of bf16's 2^-8.
  const double tol = dtype == torch::kFloat32 ? 1e-5 : 3e-2;
  const nlohmann::json row = {{"bench", "skip_join"}, {"shape", {s.n, s.c, s.h, s.w}}, {"dtype", c10::toString(dtype)}};
  const double bytes = 5.0 * static_cast<double>(skip0.numel() * skip0.element_size());
  const auto what = fmt::format("at {}x{}x{}x{}", s.n, s.c, s.h, s.w);
  bench::compare_ways(device, repeats, tol, what, row, "traffic_GBps_at_least", bytes, [&](const bench::Way& way) {
    const auto format = way.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    const auto skip = skip0.contiguous(format).detach().requires_grad_(true);
    const auto h = h0.contiguous(format).detach().requires_grad_(true), dy = dy0.contiguous(format);
    return std::function<bench::Pass()>([skip, h, dy, bias, fused = way.fused] {
      for (const auto& t : {skip, h, bias}) t.mutable_grad() = torch::Tensor();
      auto y = fused ? models::fused_skip_join(skip, h, bias, true)
                     : models::skip_join(skip, h + bias.to(h.scalar_type()).view({1, -1, 1, 1}), true);
      y.backward(dy);
      return bench::Pass{y, h.grad()};
    });
  });
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto a = bench::parse_layer_args(argc, argv, "skip_join_bench DEVICE DTYPE REPEATS [N,C,H,W]...");
    for (const auto& s : bench::parse_nchw_shapes(a.shapes)) run_case(s, a.device, a.dtype, a.repeats);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "skip_join_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
