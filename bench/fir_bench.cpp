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
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/models/fir.h"

namespace {

using namespace scorch;
using Clock = std::chrono::steady_clock;

struct Shape {
  int64_t n, c, h, w;
};

struct Way {
  const char* name;
  bool fused, channels_last;
};
constexpr Way kWays[] = {{"libtorch_nchw", false, false},
                         {"libtorch_channels_last", false, true},
                         {"scorch_nchw", true, false},
                         {"scorch_channels_last", true, true}};

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

struct Pass {
  torch::Tensor y, dx;
};

Pass step(const Way& way, bool up, const torch::Tensor& x, const torch::Tensor& dy) {
  x.mutable_grad() = torch::Tensor();
  const std::vector<int64_t> k{1, 3, 3, 1};
  auto y = up ? models::fir_upsample_2d(x, k, way.fused) : models::fir_downsample_2d(x, k, way.fused);
  y.backward(dy);
  return {y, x.grad()};
}

double max_rel(const torch::Tensor& got, const torch::Tensor& want) {
  const auto g = got.to(torch::kFloat64), w = want.to(torch::kFloat64);
  return ((g - w).abs().max() / w.abs().max().clamp_min(1e-30)).item<double>();
}

Shape parse_shape(const std::string& text) {
  Shape s{};
  SCORCH_CHECK(std::sscanf(text.c_str(), "%ld,%ld,%ld,%ld", &s.n, &s.c, &s.h, &s.w) == 4 && s.n > 0 && s.c > 0 &&
                   s.h > 1 && s.w > 1 && s.h % 2 == 0 && s.w % 2 == 0,
               "shape '{}': expected N,C,H,W with positive sizes and H, W even", text);
  return s;
}

void bench(const Shape& s, bool up, const torch::Device& device, torch::ScalarType dtype, int64_t repeats) {
  torch::manual_seed(0);
  const auto o = torch::TensorOptions().device(device);
  const auto x0 = torch::randn({s.n, s.c, s.h, s.w}, o).to(dtype);
  const int64_t oh = up ? s.h * 2 : s.h / 2, ow = up ? s.w * 2 : s.w / 2;
  const auto dy0 = torch::randn({s.n, s.c, oh, ow}, o).to(dtype);
  // Both round float32 sums of the same products once; bf16's rounding is 2^-8 of a value.
  const double tol = dtype == torch::kFloat32 ? 1e-5 : 2e-2;
  Pass want;
  double ms_of[2] = {0, 0};  // LibTorch's, per layout
  for (const auto& way : kWays) {
    const auto format = way.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    const auto x = x0.contiguous(format).detach().requires_grad_(true), dy = dy0.contiguous(format);
    const auto first = step(way, up, x, dy);
    double err_y = 0, err_dx = 0;
    if (&way == &kWays[0]) {
      want = {first.y.detach().clone(), first.dx.clone()};
    } else {
      err_y = max_rel(first.y, want.y);
      err_dx = max_rel(first.dx, want.dx);
      SCORCH_CHECK(err_y <= tol && err_dx <= tol,
                   "validation: {} {} at {}x{}x{}x{}: output off by {:g}, input gradient by {:g} (relative to the "
                   "largest value; tolerance {:g})",
                   way.name, up ? "up" : "down", s.n, s.c, s.h, s.w, err_y, err_dx, tol);
    }
    for (int i = 0; i < 2; ++i) step(way, up, x, dy);
    synchronize(device);
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < repeats; ++i) step(way, up, x, dy);
    synchronize(device);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / repeats;
    if (!way.fused) ms_of[way.channels_last] = ms;
    const double bytes = 2.0 * static_cast<double>((x0.numel() + dy0.numel()) * x0.element_size());
    nlohmann::json row = {{"bench", "fir"},
                          {"way", way.name},
                          {"resampling", up ? "up" : "down"},
                          {"shape", {s.n, s.c, s.h, s.w}},
                          {"dtype", c10::toString(dtype)},
                          {"device", device.str()},
                          {"ms_forward_backward", ms},
                          {"traffic_GBps_at_least", bytes / ms / 1e6},
                          {"max_rel_err_y", err_y},
                          {"max_rel_err_dx", err_dx}};
    if (way.fused) row["speedup_vs_libtorch_same_layout"] = ms_of[way.channels_last] / ms;
    std::printf("%s\n", row.dump().c_str());
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    SCORCH_CHECK(argc >= 4, "usage: fir_bench DEVICE DTYPE REPEATS [N,C,H,W]...");
    const torch::Device device(argv[1]);
    const std::string dtype_name = argv[2];
    SCORCH_CHECK(dtype_name == "fp32" || dtype_name == "bf16", "DTYPE '{}': expected fp32 or bf16", dtype_name);
    const auto dtype = dtype_name == "fp32" ? torch::kFloat32 : torch::kBFloat16;
    const int64_t repeats = std::stoll(argv[3]);
    SCORCH_CHECK(repeats >= 1, "REPEATS {}: expected at least 1", repeats);
    std::vector<Shape> shapes;
    for (int i = 4; i < argc; ++i) shapes.push_back(parse_shape(argv[i]));
    if (shapes.empty()) shapes = {{128, 128, 32, 32}, {128, 256, 16, 16}, {32, 128, 256, 256}, {32, 256, 64, 64}};
    for (const auto& s : shapes)
      for (bool up : {false, true}) bench(s, up, device, dtype, repeats);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fir_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
