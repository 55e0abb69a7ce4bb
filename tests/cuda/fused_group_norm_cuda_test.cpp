// fused_group_norm's CUDA kernels against float64 GroupNorm on the CPU and LibTorch's on the GPU: forward and the
// gradients of input, weight and bias, at shapes that reach the kernels' edges, and the same bits on every call.
#include <array>
#include <vector>

#include "core/models/fused_group_norm.h"
#include "core/models/layers.h"
#include "cuda/cuda_test_util.h"
#include "support/group_norm_runs.h"

namespace scorch {
namespace {

using test::kCuda;

using test::GroupNormPath;
using test::GroupNormShape;
using test::max_rel;
using test::run_group_norm;

class FusedGroupNormCuda : public ::testing::TestWithParam<GroupNormShape> {};

// In NCHW and in channels_last, each with a SiLU fused in too, against torch::silu after the GroupNorm.
// float32: within 2e-5 of the largest value of float64's result, as LibTorch's own kernels are (their sums run
// in other orders). bfloat16 inputs, output and gradients: within 2^-7 (twice bf16's rounding) of float64 on
// the same bf16 inputs, and as much for float16. A wrong channel index, chunk boundary or group is off by 1e-1 or more.
TEST_P(FusedGroupNormCuda, EqualsFloat64GroupNormAndLibTorchs) {
  SCORCH_REQUIRE_CUDA();
  const auto s = GetParam();
  torch::manual_seed(s.c + s.h);
  const auto x = torch::randn({s.n, s.c, s.h, s.w}) * 2 + torch::randn({1, s.c, 1, 1}) * 3;
  const auto weight = torch::randn({s.c}), bias = torch::randn({s.c}), probe = torch::randn_like(x);
  // The references do not depend on the path: computed once per SiLU setting (float64 on the CPU is most of the
  // test's time on the device machine).
  for (bool silu : {false, true}) {
    const auto exact = run_group_norm(x.to(torch::kFloat64), weight.to(torch::kFloat64), bias.to(torch::kFloat64),
                                      probe.to(torch::kFloat64), s.groups, GroupNormPath::kLibTorch, silu);
    const auto libtorch = run_group_norm(x.to(kCuda), weight.to(kCuda), bias.to(kCuda), probe.to(kCuda), s.groups,
                                         GroupNormPath::kLibTorch, silu);
    const std::array<torch::ScalarType, 2> halves = {torch::kBFloat16, torch::kHalf};
    std::vector<test::GroupNormRun> exact16;
    for (auto half : halves)
      exact16.push_back(run_group_norm(x.to(half).to(torch::kFloat64), weight.to(torch::kFloat64),
                                       bias.to(torch::kFloat64), probe.to(half).to(torch::kFloat64), s.groups,
                                       GroupNormPath::kLibTorch, silu));
    for (const auto path : test::kFusedPaths) {
      SCOPED_TRACE(fmt::format("{}, {}", test::name_of(path), silu ? "with the SiLU fused" : "GroupNorm alone"));
      const auto ours =
          run_group_norm(x.to(kCuda), weight.to(kCuda), bias.to(kCuda), probe.to(kCuda), s.groups, path, silu);
      EXPECT_TRUE(test::in_layout(ours.y, path));
      EXPECT_TRUE(test::in_layout(ours.dx, path));
      const std::pair<const char*, double> errs[] = {{"y", max_rel(ours.y, exact.y)},
                                                     {"dx", max_rel(ours.dx, exact.dx)},
                                                     {"dweight", max_rel(ours.dweight, exact.dweight)},
                                                     {"dbias", max_rel(ours.dbias, exact.dbias)},
                                                     {"LibTorch's dx", max_rel(libtorch.dx, exact.dx)}};
      for (const auto& [what, err] : errs) EXPECT_LE(err, 2e-5) << what;
      std::printf("fp32 %s%s: y %.2g, dx %.2g (LibTorch's %.2g), dweight %.2g, dbias %.2g\n", test::name_of(path),
                  silu ? " + SiLU" : "", errs[0].second, errs[1].second, errs[4].second, errs[2].second,
                  errs[3].second);

      for (size_t k = 0; k < halves.size(); ++k) {
        const auto half = halves[k];
        SCOPED_TRACE(c10::toString(half));
        const auto ours16 = run_group_norm(x.to(half).to(kCuda), weight.to(kCuda), bias.to(kCuda),
                                           probe.to(half).to(kCuda), s.groups, path, silu);
        EXPECT_EQ(ours16.y.scalar_type(), half);
        EXPECT_EQ(ours16.dweight.scalar_type(), torch::kFloat32);
        EXPECT_LE(max_rel(ours16.y, exact16[k].y), 1.0 / 128);
        EXPECT_LE(max_rel(ours16.dx, exact16[k].dx), 1.0 / 128);
        EXPECT_LE(max_rel(ours16.dweight, exact16[k].dweight), 1e-4);  // float32 sums of 16-bit products
        EXPECT_LE(max_rel(ours16.dbias, exact16[k].dbias), 1e-4);
      }

      const auto again =
          run_group_norm(x.to(kCuda), weight.to(kCuda), bias.to(kCuda), probe.to(kCuda), s.groups, path, silu);
      EXPECT_TRUE(torch::equal(again.y, ours.y) && torch::equal(again.dx, ours.dx) &&
                  torch::equal(again.dweight, ours.dweight) && torch::equal(again.dbias, ours.dbias))
          << "the partial sums are added in a fixed order: every call gives the same bits";
    }
  }
}

// With a shift (model.fold_time_bias's (N, C) bias + time embedding), against float64 GroupNorm of x + shift: the
// kernels take it into the per-group tables only. Tolerances as above; the shift's gradient relative to the
// channels' largest Σ |dx| (with one channel per group it is rounding noise on both sides).
TEST_P(FusedGroupNormCuda, ShiftedEqualsFloat64GroupNormOfTheSum) {
  SCORCH_REQUIRE_CUDA();
  const auto s = GetParam();
  torch::manual_seed(s.c + s.h + 1);
  const auto x = torch::randn({s.n, s.c, s.h, s.w}) * 2;
  const auto weight = torch::randn({s.c}), bias = torch::randn({s.c}), probe = torch::randn_like(x);
  const auto pre = torch::randn({s.n, s.c}) * 4;
  const auto f64 = [](const torch::Tensor& t) { return t.to(torch::kFloat64); };
  for (bool silu : {false, true})
    for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
      const auto xd = x.to(dtype), probed = probe.to(dtype);
      const auto exact = run_group_norm(f64(xd), f64(weight), f64(bias), f64(probed), s.groups,
                                        GroupNormPath::kLibTorch, silu, f64(pre));
      for (const auto path : test::kFusedPaths) {
        SCOPED_TRACE(fmt::format("{}, {}, {}", test::name_of(path), silu ? "+ SiLU" : "alone", c10::toString(dtype)));
        const auto ours = run_group_norm(xd.to(kCuda), weight.to(kCuda), bias.to(kCuda), probed.to(kCuda), s.groups,
                                         path, silu, pre.to(kCuda));
        const double tol = dtype == torch::kFloat32 ? 2e-5 : 1.0 / 128;
        EXPECT_LE(max_rel(ours.y, exact.y), tol);
        EXPECT_LE(max_rel(ours.dx, exact.dx), tol);
        EXPECT_LE(max_rel(ours.dweight, exact.dweight), dtype == torch::kFloat32 ? 2e-5 : 1e-4);
        const auto scale = exact.dx.abs().sum({2, 3}).max();
        EXPECT_LE(((ours.dpre.cpu().to(torch::kFloat64) - exact.dpre).abs().max() / scale).item<double>(),
                  dtype == torch::kFloat32 ? 2e-5 : 1e-4);
      }
    }
}

// fused_group_norm_passing_input (model.fused_input_grad): the affine kernels add the gradient of x's second use
// (Σ x²·q / 2, so x·q) into dx as they write it. Against float64 GroupNorm with x used twice, at the tolerances
// above, but 2^-6 for bf16's dx: three roundings reach it (x·q by autograd in bf16, dy, the output). Dropping the
// added gradient, adding it twice or reading it in the wrong layout is off by order 1.
TEST_P(FusedGroupNormCuda, PassingInputAddsItsGradientIntoTheInputs) {
  SCORCH_REQUIRE_CUDA();
  const auto s = GetParam();
  torch::manual_seed(s.c + s.h + 2);
  const auto x = torch::randn({s.n, s.c, s.h, s.w}) * 2;
  const auto weight = torch::randn({s.c}), bias = torch::randn({s.c}), probe = torch::randn_like(x);
  const auto q = torch::randn_like(x);
  const auto f64 = [](const torch::Tensor& t) { return t.to(torch::kFloat64); };
  for (bool silu : {false, true})
    for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
      const auto xd = x.to(dtype), probed = probe.to(dtype), qd = q.to(dtype);
      const auto exact = run_group_norm(f64(xd), f64(weight), f64(bias), f64(probed), s.groups,
                                        GroupNormPath::kLibTorch, silu, {}, f64(qd));
      for (const auto path : test::kFusedPaths) {
        SCOPED_TRACE(fmt::format("{}, {}, {}", test::name_of(path), silu ? "+ SiLU" : "alone", c10::toString(dtype)));
        const auto ours = run_group_norm(xd.to(kCuda), weight.to(kCuda), bias.to(kCuda), probed.to(kCuda), s.groups,
                                         path, silu, {}, qd.to(kCuda));
        EXPECT_TRUE(test::in_layout(ours.dx, path));
        const bool fp32 = dtype == torch::kFloat32;
        EXPECT_LE(max_rel(ours.y, exact.y), fp32 ? 2e-5 : 1.0 / 128);
        EXPECT_LE(max_rel(ours.dx, exact.dx), fp32 ? 2e-5 : 1.0 / 64);
        EXPECT_LE(max_rel(ours.dweight, exact.dweight), fp32 ? 2e-5 : 1e-4);
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Shapes, FusedGroupNormCuda,
                         ::testing::Values(GroupNormShape{4, 64, 8, 8, 16},       // NCSN++ at 8², one chunk per image
                                           GroupNormShape{2, 48, 5, 7, 12},       // channels not a multiple of 32
                                           GroupNormShape{2, 20, 6, 6, 5},        // 16-byte packs in float32 only
                                           GroupNormShape{32, 80, 13, 13, 16},    // chunks of 9 rows, a last one of 7
                                           GroupNormShape{3, 512, 4, 4, 32},      // 16 blocks of channels
                                           GroupNormShape{128, 128, 32, 32, 32},  // NCSN++ CIFAR-10's first stage
                                           GroupNormShape{2, 128, 64, 64, 32},    // many chunks per image
                                           GroupNormShape{1, 32, 256, 256, 8},    // one image, 256² rows, long chunks
                                           GroupNormShape{2, 16, 64, 64, 4},      // 1024²'s 16 channels: 2 packs a row
                                           GroupNormShape{3, 24, 1, 1, 6}),       // 1×1: a warp per pixel (NCHW)
                         [](const auto& info) {
                           const auto& s = info.param;
                           return fmt::format("n{}_c{}_{}x{}_g{}", s.n, s.c, s.h, s.w, s.groups);
                         });

// The residual blocks' act(GroupNorm(x)) reaches the fused kernels: with model.fused_group_norm a SiLU after the
// module leaves no SiLU of its own in the autograd graph, in bf16 as training runs it, in both layouts, and the
// values agree.
TEST(FusedGroupNormCudaModule, NormActFusesTheSilu) {
  SCORCH_REQUIRE_CUDA();
  models::GroupNorm norm(8, 64, 1e-6);
  norm->to(kCuda);
  norm->set_fused(Switch::On);
  for (const auto format : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
    SCOPED_TRACE(c10::str(format));
    const auto x = torch::randn({4, 64, 8, 8}, kCuda).to(torch::kBFloat16).contiguous(format).requires_grad_(true);
    const auto y = models::norm_act(*norm, models::make_activation("swish"), x);
    ASSERT_TRUE(y.grad_fn());
    EXPECT_EQ(y.grad_fn()->name().find("Silu"), std::string::npos) << y.grad_fn()->name();
    EXPECT_TRUE(y.is_contiguous(format));
    const auto unfused = torch::silu(torch::group_norm(x.to(torch::kFloat32), 8, norm->weight, norm->bias, 1e-6));
    EXPECT_LE(max_rel(y.detach().to(torch::kFloat32), unfused.detach()), 1.0 / 64);
  }
}

// channel_sum (a bias's gradient) against float64 sums on the CPU, relative to the channels' Σ |x| (the sums
// cancel): 1e-6 in float32, as the sums' rounding; the 16-bit inputs are exact in float32, so the same. Both layouts,
// packed and per-element kernels (16 channels: two 16-byte packs a pixel in bf16; 24: three in fp16; 20: none in
// bf16), one chunk and many; a sliced tensor (contiguous in neither layout) and a tensor to be differentiated
// take at::sum. A wrong chunk, row step or channel index is off by far more.
TEST(FusedGroupNormCudaChannelSum, EqualsFloat64Sums) {
  SCORCH_REQUIRE_CUDA();
  torch::manual_seed(7);
  const std::vector<std::vector<int64_t>> shapes = {
      {2, 16, 64, 64}, {3, 24, 5, 7}, {2, 20, 9, 9}, {32, 128, 16, 16}, {1, 512, 4, 4}};
  for (const auto& shape : shapes)
    for (const auto format : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast})
      for (const auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kHalf}) {
        SCOPED_TRACE(fmt::format("{}, {}, {}", c10::str(shape), c10::str(format), c10::toString(dtype)));
        const auto x = (torch::randn(shape) + 0.5).to(dtype).to(kCuda).contiguous(format);
        const auto x64 = x.to(torch::kCPU, torch::kFloat64);
        const auto scale = x64.abs().sum({0, 2, 3}).max().item<double>();
        const auto sum = models::channel_sum(x, torch::kFloat32);
        EXPECT_EQ(sum.scalar_type(), torch::kFloat32);
        EXPECT_LE((sum.to(torch::kCPU, torch::kFloat64) - x64.sum({0, 2, 3})).abs().max().item<double>() / scale, 1e-6);
        EXPECT_TRUE(torch::equal(sum, models::channel_sum(x, torch::kFloat32))) << "a fixed order: the same bits";
      }
  const auto wide = torch::randn({2, 8, 6, 10}, kCuda);
  const auto sliced = wide.narrow(3, 2, 5);  // (2, 8, 6, 5), contiguous in neither layout
  EXPECT_LE(max_rel(models::channel_sum(sliced, torch::kFloat64), sliced.to(torch::kFloat64).sum({0, 2, 3})), 1e-6);
  const auto tracked = wide.clone().requires_grad_(true);
  const auto differentiable = models::channel_sum(tracked, torch::kFloat32);
  ASSERT_TRUE(differentiable.requires_grad());
  differentiable.sum().backward();
  EXPECT_TRUE(torch::equal(tracked.grad(), torch::ones_like(wide)));
  EXPECT_LE(max_rel(differentiable.detach(), wide.sum({0, 2, 3})), 1e-6);
}

}  // namespace
}  // namespace scorch
