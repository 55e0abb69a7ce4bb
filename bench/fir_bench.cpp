// FIR resampling forward + backward at NCSN++'s shapes, four ways: zero insertion, padding and LibTorch's depthwise
// convolution on NCHW and on channels_last, and fused_upfirdn2d (model.fused_fir) on each. Each way is validated
// against the first, then timed; one JSON row per shape, resampling and way, the fused ones with their speed-up over
// LibTorch in the same layout.
//
//   fir_bench DEVICE DTYPE REPEATS [N,C,H,W]...
// DEVICE cpu | cuda; DTYPE fp32 | bf16. Each shape is timed for the ×2 upsampling and the ×2 downsampling of
// [1, 3, 3, 1] (fir_upsample_2d, fir_downsample_2d). Without shapes: the BigGAN blocks' resamplings of NCSN++ at
// 32² (cifar10, batch 128: 128 and 256 channels) and at 256² (celebahq, batch 32). The traffic column counts the
// least a forward and backward move: the input and the output once each way.
#include <cstdio>

#include "bench/layer_ways.h"
#include "core/error.h"
#include "core/models/fir.h"

namespace {

using namespace scorch;

void run_case(const bench::Nchw& s, bool up, const torch::Device& device, torch::ScalarType dtype, int64_t repeats) {
  torch::manual_seed(0);
  const auto o = torch::TensorOptions().device(device);
  const auto x0 = torch::randn({s.n, s.c, s.h, s.w}, o).to(dtype);
  const int64_t oh = up ? s.h * 2 : s.h / 2, ow = up ? s.w * 2 : s.w / 2;
  const auto dy0 = torch::randn({s.n, s.c, oh, ow}, o).to(dtype);
  // Both round float32 sums of the same products once; bf16's rounding is 2^-8 of a value.
  const double tol = dtype == torch::kFloat32 ? 1e-5 : 2e-2;
  const nlohmann::json row = {{"bench", "fir"},
                              {"resampling", up ? "up" : "down"},
                              {"shape", {s.n, s.c, s.h, s.w}},
                              {"dtype", c10::toString(dtype)}};
  const double bytes = 2.0 * static_cast<double>((x0.numel() + dy0.numel()) * x0.element_size());
  const auto what = fmt::format("{} at {}x{}x{}x{}", up ? "up" : "down", s.n, s.c, s.h, s.w);
  bench::compare_ways(device, repeats, tol, what, row, "traffic_GBps_at_least", bytes, [&](const bench::Way& way) {
    const auto format = way.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    const auto x = x0.contiguous(format).detach().requires_grad_(true), dy = dy0.contiguous(format);
    return std::function<bench::Pass()>([x, dy, up, fused = way.fused] {
      x.mutable_grad() = torch::Tensor();
      const std::vector<int64_t> k{1, 3, 3, 1};
      auto y = up ? models::fir_upsample_2d(x, k, fused) : models::fir_downsample_2d(x, k, fused);
      y.backward(dy);
      return bench::Pass{y, x.grad()};
    });
  });
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto a = bench::parse_layer_args(argc, argv, "fir_bench DEVICE DTYPE REPEATS [N,C,H,W]...");
    const auto shapes = bench::parse_nchw_shapes(a.shapes);
    for (const auto& s : shapes)
      SCORCH_CHECK(s.h % 2 == 0 && s.w % 2 == 0, "shape {},{},{},{}: expected H and W even", s.n, s.c, s.h, s.w);
    for (const auto& s : shapes)
      for (bool up : {false, true}) run_case(s, up, a.device, a.dtype, a.repeats);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fir_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
