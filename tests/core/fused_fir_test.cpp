// fused_upfirdn2d (model.fused_fir) against the FIR resampling of zero insertion, padding and LibTorch's depthwise
// convolution (fir.h's upfirdn2d): every resampling the networks use, both layouts, first and second derivatives,
// and the switch reaching every FIR site of NCSN++.
#include "core/models/fused_fir.h"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <unordered_set>
#include <vector>

#include "core/autocast.h"
#include "core/config.h"
#include "core/models/fir.h"
#include "core/models/score_model.h"
#include "support/checks.h"
#include "support/fir_cases.h"
#include "support/run.h"

namespace scorch::models {
namespace {

using test::max_rel;

using test::fir_cases;
using test::FirCase;

std::string name_of(const FirCase& c, bool channels_last) {
  return std::string(c.what) + (channels_last ? ", channels_last" : ", NCHW");
}

torch::Tensor reference(const torch::Tensor& x, const FirCase& c) { return test::reference_fir(x, c); }
torch::Tensor fused(const torch::Tensor& x, const FirCase& c) { return test::fused_fir(x, c); }

torch::Tensor in_layout(const torch::Tensor& x, bool channels_last) {
  return channels_last ? x.contiguous(at::MemoryFormat::ChannelsLast) : x.contiguous();
}

// The output and the input's gradient for a probe, and the gradient of that gradient (it is linear in the probe)
// for a second probe: what a double backward through the layer computes.
struct Derivatives {
  torch::Tensor y, dx, ddprobe;
};

template <typename F>
Derivatives derivatives(const torch::Tensor& x0, const torch::Tensor& probe0, const torch::Tensor& probe2, F&& f) {
  auto x = x0.detach().clone().requires_grad_(true);
  auto probe = probe0.detach().clone().requires_grad_(true);
  auto y = f(x);
  auto dx = torch::autograd::grad({y}, {x}, {probe}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  auto ddprobe = torch::autograd::grad({dx}, {probe}, {probe2})[0];
  return {y.detach(), dx.detach(), ddprobe};
}

// float64 on both sides: the same sums in other orders, so equal to rounding (1e-12 of the largest value).
TEST(FusedFir, EqualsDepthwiseFirInFloat64ForwardBackwardAndDoubleBackward) {
  torch::manual_seed(7);
  for (const auto& c : fir_cases())
    for (bool channels_last : {false, true}) {
      SCOPED_TRACE(name_of(c, channels_last));
      const auto x = in_layout(torch::randn({2, 3, 5, 7}, torch::kFloat64), channels_last);  // (N, C, H, W)
      const auto y_ref = reference(x, c);
      const auto probe = in_layout(torch::randn_like(y_ref), channels_last);
      const auto probe2 = in_layout(torch::randn_like(x), channels_last);
      const auto ref = derivatives(x, probe, probe2, [&](const torch::Tensor& t) { return reference(t, c); });
      const auto ours = derivatives(x, probe, probe2, [&](const torch::Tensor& t) { return fused(t, c); });
      ASSERT_EQ(ours.y.sizes(), ref.y.sizes());
      EXPECT_LE(max_rel(ours.y, ref.y), 1e-12);
      EXPECT_LE(max_rel(ours.dx, ref.dx), 1e-12);
      EXPECT_LE(max_rel(ours.ddprobe, ref.ddprobe), 1e-12);
      // The output and the gradient keep the input's layout (an NCHW tensor of one pixel is both).
      EXPECT_EQ(ours.y.is_contiguous(at::MemoryFormat::ChannelsLast) && !ours.y.is_contiguous(), channels_last);
      EXPECT_EQ(ours.dx.is_contiguous(at::MemoryFormat::ChannelsLast) && !ours.dx.is_contiguous(), channels_last);
    }
}

// float32 accumulates in float32 (1e-6 of the largest value: at most 16 products); bfloat16 and float16 in float32
// too, then round once: within 2^-8 relative of float64 on the same rounded inputs, where a wrong tap is off by
// a tenth.
TEST(FusedFir, LowerPrecisionsRoundOnceFromFloat32Sums) {
  torch::manual_seed(8);
  for (const auto& c : fir_cases())
    for (bool channels_last : {false, true}) {
      SCOPED_TRACE(name_of(c, channels_last));
      const auto x = in_layout(torch::randn({2, 4, 6, 5}), channels_last);
      EXPECT_LE(max_rel(fused(x, c), reference(x.to(torch::kFloat64), c)), 1e-6);
      for (auto half : {torch::kBFloat16, torch::kHalf}) {
        SCOPED_TRACE(c10::toString(half));
        const auto x16 = x.to(half);
        const auto y16 = fused(x16, c);
        EXPECT_EQ(y16.scalar_type(), half);
        EXPECT_LE(max_rel(y16, reference(x16.to(torch::kFloat64), c)), std::ldexp(1.0, -8));
      }
    }
}

// On channels_last data whose channels divide into groups of 16 bytes (2 in float64, 4 in float32, 8 in 16 bits)
// the loop walks the kernel's channel groups (fused_fir_math.h's channel_group_sample), else (image, channel)
// planes. Both run output_sample's sums in the same order, so the groups give the planes' bits exactly; 16 channels
// group in every dtype, 12 in float64 and float32 only, 6 in float64 only.
TEST(FusedFir, ChannelGroupsGiveThePlanesBitsInEveryDtype) {
  torch::manual_seed(9);
  for (const auto& c : fir_cases())
    for (int64_t channels : {16, 12, 6})
      for (auto dtype : {torch::kFloat64, torch::kFloat32, torch::kBFloat16, torch::kHalf}) {
        SCOPED_TRACE(std::string(c.what) + ", " + std::to_string(channels) + " channels, " + c10::toString(dtype));
        const auto x = torch::randn({2, channels, 6, 5}).to(dtype);  // (N, C, H, W)
        const auto planes = fused(x, c);
        const auto groups = fused(in_layout(x, true), c);
        EXPECT_TRUE(groups.is_contiguous(at::MemoryFormat::ChannelsLast));
        EXPECT_TRUE(torch::equal(groups.contiguous(), planes))
            << "max |difference| "
            << (groups.to(torch::kFloat64) - planes.to(torch::kFloat64)).abs().max().item<double>();
        const double tol = dtype == torch::kFloat64 ? 1e-12 : dtype == torch::kFloat32 ? 1e-6 : std::ldexp(1.0, -8);
        EXPECT_LE(max_rel(groups, reference(x.to(torch::kFloat64), c)), tol);
      }
}

// As LibTorch's convolution is under autocast, a float32 input comes out in the autocast dtype.
TEST(FusedFir, AutocastCastsTheInputAsLibTorchsConvolutionDoes) {
  const auto x = torch::randn({1, 2, 8, 8});
  const AutocastGuard autocast(torch::kCPU, true, torch::kBFloat16);
  const auto ours = fused_upfirdn2d(x, {1, 3, 3, 1}, 1.0, 1, 2, 1, 1);
  const auto theirs = fir_downsample_2d(x, {1, 3, 3, 1}, /*fused=*/false);
  EXPECT_EQ(ours.scalar_type(), theirs.scalar_type());
  EXPECT_EQ(ours.scalar_type(), torch::kBFloat16);
}

TEST(FusedFir, BadArgumentsAreRefusedNamingThem) {
  const auto x = torch::randn({1, 2, 4, 4});
  test::expect_error_containing([&] { fused_upfirdn2d(x[0], {1, 3, 3, 1}, 1.0, 1, 2, 1, 1); }, "expected (N, C, H, W)");
  test::expect_error_containing([&] { fused_upfirdn2d(x, std::vector<int64_t>(17, 1), 1.0, 1, 2, 1, 1); },
                                "a kernel of 17 taps, expected 1 to 16");
  test::expect_error_containing([&] { fused_upfirdn2d(x, {1, 3, 3, 1}, 1.0, 0, 2, 1, 1); }, "up 0");
  test::expect_error_containing(
      [&] {
        fused_upfirdn2d(x, {1, 3, 3, 1}, 1.0, 1, 2, -2, -2);
      },
      "padding (-2, -2) leaves 4 taps no room");
  test::expect_error_containing([&] { fused_upfirdn2d(x, {1, -1}, 1.0, 1, 2, 1, 1); }, "the taps sum to 0");
  test::expect_error_containing(
      [&] {
        fused_upfirdn2d(x.to(torch::kLong), {1, 3, 3, 1}, 1.0, 1, 2, 1, 1);
      },
      "expected floating point");
}

// The names of the autograd nodes behind `y`.
std::unordered_multiset<std::string> graph_nodes(const torch::Tensor& y) {
  std::unordered_multiset<std::string> names;
  std::unordered_set<torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> todo{y.grad_fn().get()};
  while (!todo.empty()) {
    auto* node = todo.back();
    todo.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    names.insert(node->name());
    for (const auto& edge : node->next_edges()) todo.push_back(edge.function.get());
  }
  return names;
}

size_t count_containing(const std::unordered_multiset<std::string>& names, const std::string& part) {
  size_t n = 0;
  for (const auto& name : names) n += test::contains(name, part) ? 1 : 0;
  return n;
}

struct NetworkCase {
  const char* what;
  std::vector<std::string> sets;
};

// NCSN++'s FIR sites: BigGAN blocks resampling h and x, the progressive input's FIR downsampling (input_skip) or
// FirConv2d down (residual), the progressive output's FIR upsampling (output_skip) or FirConv2d up (residual), and
// with DDPM-style blocks the Upsample/Downsample between stages, with (FirConv2d) and without a convolution.
const NetworkCase kNetworks[] = {
    {"biggan, input_skip, output_skip", {"model.progressive_input=input_skip", "model.progressive=output_skip"}},
    {"biggan, residual pyramids", {"model.progressive_input=residual", "model.progressive=residual"}},
    {"ddpm blocks, resampling convolutions", {"model.resblock_type=ddpm", "model.resamp_with_conv=true"}},
    {"ddpm blocks, plain resampling", {"model.resblock_type=ddpm", "model.resamp_with_conv=false"}},
};

// With model.fused_fir every FIR of the network goes through fused_upfirdn2d (no padding node of the
// depthwise path is left in the graph), and the network's output and every gradient equal the unfused network's
// in float64.
TEST(FusedFir, TheSwitchReachesEveryFirOfNcsnppAndChangesNothingElse) {
  for (const auto& net : kNetworks) {
    SCOPED_TRACE(net.what);
    std::vector<torch::Tensor> outputs, grads;
    for (bool on : {false, true}) {
      auto sets = net.sets;
      sets.push_back(std::string("model.fused_fir=") + (on ? "true" : "false"));
      sets.push_back("model.attn_resolutions=[]");
      const auto config = Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml", sets);
      torch::manual_seed(3);
      auto model = make_model(config);
      model->to(torch::kFloat64);
      torch::manual_seed(4);
      for (auto& p : model->parameters()) p.data().add_(torch::randn_like(p) * 0.05);
      const auto x = torch::rand({2, 3, 16, 16}, torch::kFloat64);
      const auto t = torch::full({2}, 0.5, torch::kFloat64);
      const auto y = model->forward(x, t);
      const auto nodes = graph_nodes(y);
      if (on) {
        EXPECT_GT(count_containing(nodes, "FusedFir"), 0u);
        EXPECT_EQ(count_containing(nodes, "ConstantPadNd"), 0u);
      } else {
        EXPECT_EQ(count_containing(nodes, "FusedFir"), 0u);
        EXPECT_GT(count_containing(nodes, "ConstantPadNd"), 0u);
      }
      y.pow(2).sum().backward();
      outputs.push_back(y.detach());
      grads.push_back(torch::cat([&] {
        std::vector<torch::Tensor> g;
        for (const auto& p : model->parameters())
          if (p.grad().defined()) g.push_back(p.grad().flatten());
        return g;
      }()));
    }
    EXPECT_LE(max_rel(outputs[1], outputs[0]), 1e-12);
    EXPECT_LE(max_rel(grads[1], grads[0]), 1e-10);
  }
}

}  // namespace
}  // namespace scorch::models
