// GroupNorm forward + backward at the score networks' shapes, four ways: LibTorch on NCHW (the default
// layout), LibTorch on channels_last (its copies between the layouts included), and fused_group_norm
// (model.fused_group_norm) on NCHW and on channels_last. Each way is validated against the NCHW result, then
// timed; one JSON row per shape and way, the fused ones with their speed-up over LibTorch in the same layout.
//
//   group_norm_bench DEVICE DTYPE[+silu] REPEATS [N,C,H,W,G]...
// DEVICE cpu | cuda; DTYPE fp32 | bf16; +silu times SiLU(GroupNorm(x)), as the residual blocks run it: LibTorch's
// two layers against fused_group_norm with the SiLU fused in (still 8 passes). Without shapes: NCSN++'s first two
// stages at 32² (cifar10, batch 128) and at 256² (celebahq, batch 32). The traffic column counts the 8 passes over the
// tensor that one forward and backward need at the least (statistics, normalisation; the backward's sums and input
// gradient).
#include <cstdio>

#include "bench/layer_ways.h"
#include "core/error.h"
#include "core/models/fused_group_norm.h"

namespace {

using namespace scorch;

struct Shape {
  int64_t n, c, h, w, groups;
};

Shape parse_shape(const std::string& text) {
  Shape s{};
  SCORCH_CHECK(std::sscanf(text.c_str(), "%ld,%ld,%ld,%ld,%ld", &s.n, &s.c, &s.h, &s.w, &s.groups) == 5 && s.n > 0 &&
                   s.c > 0 && s.h > 0 && s.w > 0 && s.groups > 0 && s.c % s.groups == 0,
               "shape '{}': expected N,C,H,W,G with positive sizes and C a multiple of G", text);
  return s;
}

void run_case(const Shape& s, const torch::Device& device, torch::ScalarType dtype, bool silu, int64_t repeats) {
  torch::manual_seed(0);
  const auto o = torch::TensorOptions().device(device);
  const auto x0 = (torch::randn({s.n, s.c, s.h, s.w}, o) * 2 + 1).to(dtype);
  const auto dy0 = torch::randn({s.n, s.c, s.h, s.w}, o).to(dtype);
  const auto weight = torch::randn({s.c}, o).requires_grad_(true), bias = torch::randn({s.c}, o).requires_grad_(true);
  // bf16's output rounding is 2^-8 of a value; LibTorch and scorch round differently summed statistics.
  const double tol = dtype == torch::kFloat32 ? 1e-4 : 2e-2;
  const nlohmann::json row = {{"bench", "group_norm"},
                              {"shape", {s.n, s.c, s.h, s.w}},
                              {"groups", s.groups},
                              {"dtype", c10::toString(dtype)},
                              {"silu", silu}};
  const double bytes = 8.0 * static_cast<double>(x0.numel() * x0.element_size());
  const auto what = fmt::format("at {}x{}x{}x{}/{}", s.n, s.c, s.h, s.w, s.groups);
  bench::compare_ways(device, repeats, tol, what, row, "traffic_GBps_at_8_passes", bytes, [&](const bench::Way& way) {
    const auto format = way.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    const auto x = x0.contiguous(format).detach().requires_grad_(true), dy = dy0.contiguous(format);
    const int64_t groups = s.groups;
    return std::function<bench::Pass()>([x, dy, weight, bias, groups, silu, fused = way.fused] {
      x.mutable_grad() = torch::Tensor();
      weight.mutable_grad() = torch::Tensor();
      bias.mutable_grad() = torch::Tensor();
      // LibTorch's kernels get the parameters in x's dtype, as the GroupNorm module passes them under autocast.
      auto y = fused ? models::fused_group_norm(x, groups, weight, bias, 1e-6, silu)
                     : torch::group_norm(x, groups, weight.to(x.scalar_type()), bias.to(x.scalar_type()), 1e-6);
      if (silu && !fused) y = torch::silu(y);
      y.backward(dy);
      return bench::Pass{y, x.grad()};
    });
  });
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto a =
        bench::parse_layer_args(argc, argv, "group_norm_bench DEVICE DTYPE[+silu] REPEATS [N,C,H,W,G]...", "+silu");
    std::vector<Shape> shapes;
    for (const auto& text : a.shapes) shapes.push_back(parse_shape(text));
    if (shapes.empty())
      shapes = {{128, 128, 32, 32, 32}, {128, 256, 16, 16, 32}, {32, 128, 256, 256, 32}, {32, 128, 128, 128, 32}};
    for (const auto& s : shapes) run_case(s, a.device, a.dtype, a.suffixed, a.repeats);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "group_norm_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
