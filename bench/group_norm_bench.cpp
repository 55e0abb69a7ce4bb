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
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/models/fused_group_norm.h"

namespace {

using namespace scorch;
using Clock = std::chrono::steady_clock;

struct Shape {
  int64_t n, c, h, w, groups;
};

enum class Way { kNchw, kChannelsLast, kFusedNchw, kFusedChannelsLast };
constexpr Way kWays[] = {Way::kNchw, Way::kChannelsLast, Way::kFusedNchw, Way::kFusedChannelsLast};
const char* name(Way w) {
  switch (w) {
    case Way::kNchw: return "libtorch_nchw";
    case Way::kChannelsLast: return "libtorch_channels_last";
    case Way::kFusedNchw: return "scorch_nchw";
    case Way::kFusedChannelsLast: return "scorch_channels_last";
  }
  return "";
}
bool fused(Way w) { return w == Way::kFusedNchw || w == Way::kFusedChannelsLast; }
bool channels_last(Way w) { return w == Way::kChannelsLast || w == Way::kFusedChannelsLast; }

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

struct Pass {
  torch::Tensor y, dx;
};

// One forward and backward; the leaves' gradients are cleared first so repeats do not accumulate.
Pass step(Way way, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
          const torch::Tensor& dy, int64_t groups, bool silu) {
  x.mutable_grad() = torch::Tensor();
  weight.mutable_grad() = torch::Tensor();
  bias.mutable_grad() = torch::Tensor();
  // LibTorch's kernels get the parameters in x's dtype, as the GroupNorm module passes them under autocast.
  auto y = fused(way) ? models::fused_group_norm(x, groups, weight, bias, 1e-6, silu)
                      : torch::group_norm(x, groups, weight.to(x.scalar_type()), bias.to(x.scalar_type()), 1e-6);
  if (silu && !fused(way)) y = torch::silu(y);
  y.backward(dy);
  return {y, x.grad()};
}

double max_rel(const torch::Tensor& got, const torch::Tensor& want) {
  const auto g = got.to(torch::kFloat64), w = want.to(torch::kFloat64);
  return ((g - w).abs().max() / w.abs().max().clamp_min(1e-30)).item<double>();
}

Shape parse_shape(const std::string& text) {
  Shape s{};
  SCORCH_CHECK(std::sscanf(text.c_str(), "%ld,%ld,%ld,%ld,%ld", &s.n, &s.c, &s.h, &s.w, &s.groups) == 5 && s.n > 0 &&
                   s.c > 0 && s.h > 0 && s.w > 0 && s.groups > 0 && s.c % s.groups == 0,
               "shape '{}': expected N,C,H,W,G with positive sizes and C a multiple of G", text);
  return s;
}

void bench(const Shape& s, const torch::Device& device, torch::ScalarType dtype, bool silu, int64_t repeats) {
  torch::manual_seed(0);
  const auto o = torch::TensorOptions().device(device);
  const auto x0 = (torch::randn({s.n, s.c, s.h, s.w}, o) * 2 + 1).to(dtype);
  const auto dy0 = torch::randn({s.n, s.c, s.h, s.w}, o).to(dtype);
  const auto weight = torch::randn({s.c}, o).requires_grad_(true), bias = torch::randn({s.c}, o).requires_grad_(true);
  // bf16's output rounding is 2^-8 of a value; LibTorch and scorch round differently summed statistics.
  const double tol = dtype == torch::kFloat32 ? 1e-4 : 2e-2;
  Pass want;
  double nchw_ms = 0, channels_last_ms = 0;
  for (Way way : kWays) {
    const auto format = channels_last(way) ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    const auto x = x0.contiguous(format).detach().requires_grad_(true), dy = dy0.contiguous(format);
    const auto first = step(way, x, weight, bias, dy, s.groups, silu);
    double err_y = 0, err_dx = 0;
    if (way == Way::kNchw) {
      want = {first.y.detach().clone(), first.dx.clone()};
    } else {
      err_y = max_rel(first.y, want.y);
      err_dx = max_rel(first.dx, want.dx);
      SCORCH_CHECK(err_y <= tol && err_dx <= tol,
                   "validation: {} at {}x{}x{}x{}/{}: output off by {:g}, input gradient by {:g} (relative to the "
                   "largest value; tolerance {:g})",
                   name(way), s.n, s.c, s.h, s.w, s.groups, err_y, err_dx, tol);
    }
    for (int i = 0; i < 2; ++i) step(way, x, weight, bias, dy, s.groups, silu);
    synchronize(device);
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < repeats; ++i) step(way, x, weight, bias, dy, s.groups, silu);
    synchronize(device);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / repeats;
    if (way == Way::kNchw) nchw_ms = ms;
    if (way == Way::kChannelsLast) channels_last_ms = ms;
    const double bytes = 8.0 * static_cast<double>(x0.numel() * x0.element_size());
    nlohmann::json row = {{"bench", "group_norm"},
                          {"way", name(way)},
                          {"shape", {s.n, s.c, s.h, s.w}},
                          {"groups", s.groups},
                          {"dtype", c10::toString(dtype)},
                          {"silu", silu},
                          {"device", device.str()},
                          {"ms_forward_backward", ms},
                          {"traffic_GBps_at_8_passes", bytes / ms / 1e6},
                          {"max_rel_err_y", err_y},
                          {"max_rel_err_dx", err_dx}};
    if (fused(way)) row["speedup_vs_libtorch_same_layout"] = (channels_last(way) ? channels_last_ms : nchw_ms) / ms;
    if (way == Way::kFusedChannelsLast) row["speedup_vs_libtorch_nchw"] = nchw_ms / ms;
    std::printf("%s\n", row.dump().c_str());
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    SCORCH_CHECK(argc >= 4, "usage: group_norm_bench DEVICE DTYPE[+silu] REPEATS [N,C,H,W,G]...");
    const torch::Device device(argv[1]);
    std::string dtype_name = argv[2];
    const bool silu = dtype_name.size() > 5 && dtype_name.substr(dtype_name.size() - 5) == "+silu";
    if (silu) dtype_name.resize(dtype_name.size() - 5);
    SCORCH_CHECK(dtype_name == "fp32" || dtype_name == "bf16", "DTYPE '{}': expected fp32 or bf16, with +silu or not",
                 argv[2]);
    const auto dtype = dtype_name == "fp32" ? torch::kFloat32 : torch::kBFloat16;
    const int64_t repeats = std::stoll(argv[3]);
    SCORCH_CHECK(repeats >= 1, "REPEATS {}: expected at least 1", repeats);
    std::vector<Shape> shapes;
    for (int i = 4; i < argc; ++i) shapes.push_back(parse_shape(argv[i]));
    if (shapes.empty())
      shapes = {{128, 128, 32, 32, 32}, {128, 256, 16, 16, 32}, {32, 128, 256, 256, 32}, {32, 128, 128, 128, 32}};
    for (const auto& s : shapes) bench(s, device, dtype, silu, repeats);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "group_norm_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
