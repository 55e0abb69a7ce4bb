// fused_group_norm's arithmetic (the ATen path the CPU runs; tests/cuda runs the kernels) against
// torch::group_norm: outputs and the gradients of input, weight and bias, in NCHW and in channels_last.
//
// Tolerances: float64 1e-10 (both are exact formulas; what differs is the order of the sums); float32 2e-5
// relative to the largest value (LibTorch's CPU kernel and ours accumulate in float32 in other orders). A wrong
// mean, variance, group boundary or gradient term is off by 1e-2 or more.
#include "core/models/fused_group_norm.h"

#include <gtest/gtest.h>

#include "core/models/grad_checkpoint.h"
#include "core/models/group_norm.h"
#include "core/models/layers.h"
#include "support/checks.h"
#include "support/group_norm_runs.h"

namespace scorch::models {
namespace {

using test::GroupNormPath;
using test::GroupNormShape;
using test::max_rel;
using test::run_group_norm;

class FusedGroupNorm : public ::testing::TestWithParam<GroupNormShape> {};

// With the SiLU fused in, against torch::silu after torch::group_norm at the same tolerances: a SiLU derivative
// taken at the wrong point (the normalised value without the affine map, say) is off by 1e-1. With a shift
// (model.fold_time_bias's (N, C) bias + time embedding), against torch::group_norm of x + shift, its gradient too.
TEST_P(FusedGroupNorm, EqualsGroupNormForwardAndBackward) {
  const auto p = GetParam();
  torch::manual_seed(p.c * 7 + p.groups);
  for (bool shifted : {false, true})
    for (auto [dtype, silu] : {std::pair{torch::kFloat64, false}, std::pair{torch::kFloat32, false},
                               std::pair{torch::kFloat64, true}, std::pair{torch::kFloat32, true}}) {
      SCOPED_TRACE(fmt::format("{}{}{}", c10::toString(dtype), silu ? " + SiLU" : "", shifted ? ", shifted" : ""));
      const auto o = torch::TensorOptions().dtype(dtype);
      // Per-channel offsets of a few units and one channel far off: groups mix channels of unlike means.
      auto x = torch::randn({p.n, p.c, p.h, p.w}, o) * 2 + torch::randn({1, p.c, 1, 1}, o) * 3;
      const auto weight = torch::randn({p.c}, o), bias = torch::randn({p.c}, o), probe = torch::randn_like(x);
      // Unlike per image and channel, a few units: the shift moves channels apart within a group.
      const auto pre = shifted ? torch::randn({p.n, p.c}, o) * 4 : torch::Tensor();
      const auto want = run_group_norm(x, weight, bias, probe, p.groups, GroupNormPath::kLibTorch, silu, pre);
      for (const auto path : test::kFusedPaths) {
        SCOPED_TRACE(test::name_of(path));
        const auto got = run_group_norm(x, weight, bias, probe, p.groups, path, silu, pre);
        EXPECT_TRUE(test::in_layout(got.y, path));
        EXPECT_TRUE(test::in_layout(got.dx, path));
        const double tol = dtype == torch::kFloat64 ? 1e-10 : 2e-5;
        EXPECT_LE(max_rel(got.y, want.y), tol);
        EXPECT_LE(max_rel(got.dx, want.dx), tol);
        EXPECT_LE(max_rel(got.dweight, want.dweight), tol);
        EXPECT_LE(max_rel(got.dbias, want.dbias), tol);
        if (shifted) {
          ASSERT_TRUE(got.dpre.defined());
          EXPECT_EQ(got.dpre.scalar_type(), dtype);
          // Relative to the channels' largest Σ |dx|: with a group per channel (InstanceNorm) a shift changes
          // nothing and dpre is rounding noise on both sides.
          const auto scale = want.dx.abs().sum({2, 3}).max();
          EXPECT_LE(((got.dpre - want.dpre).abs().max() / scale).item<double>(), tol);
        }
      }
    }
}

// fused_group_norm_passing_input (model.fused_input_grad): x's gradient from y and from the second use of `input`
// (Σ input²·q / 2, so x·q) is added in the layer's backward, against torch::group_norm with x used twice, at the
// tolerances above. A backward that dropped `input`'s gradient, or added it twice, is off by its size (order 1).
TEST_P(FusedGroupNorm, PassingInputAddsItsGradientIntoTheInputs) {
  const auto p = GetParam();
  torch::manual_seed(p.c * 5 + p.groups);
  for (auto [dtype, silu] : {std::pair{torch::kFloat64, false}, std::pair{torch::kFloat32, true}}) {
    SCOPED_TRACE(fmt::format("{}{}", c10::toString(dtype), silu ? " + SiLU" : ""));
    const auto o = torch::TensorOptions().dtype(dtype);
    const auto x = torch::randn({p.n, p.c, p.h, p.w}, o) * 2 + torch::randn({1, p.c, 1, 1}, o);
    const auto weight = torch::randn({p.c}, o), bias = torch::randn({p.c}, o), probe = torch::randn_like(x);
    const auto input_probe = torch::randn_like(x);
    const auto want = run_group_norm(x, weight, bias, probe, p.groups, GroupNormPath::kLibTorch, silu, {}, input_probe);
    for (const auto path : test::kFusedPaths) {
      SCOPED_TRACE(test::name_of(path));
      const auto got = run_group_norm(x, weight, bias, probe, p.groups, path, silu, {}, input_probe);
      EXPECT_TRUE(test::in_layout(got.dx, path));
      const double tol = dtype == torch::kFloat64 ? 1e-10 : 2e-5;
      EXPECT_LE(max_rel(got.y, want.y), tol);
      EXPECT_LE(max_rel(got.dx, want.dx), tol);
      EXPECT_LE(max_rel(got.dweight, want.dweight), tol);
      EXPECT_LE(max_rel(got.dbias, want.dbias), tol);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, FusedGroupNorm,
                         ::testing::Values(GroupNormShape{2, 8, 4, 4, 2},      // NCSN++'s min(C/4, 32) groups
                                           GroupNormShape{3, 12, 5, 3, 1},     // one group: LayerNorm over C, H, W
                                           GroupNormShape{2, 6, 3, 7, 6},      // a group per channel: InstanceNorm
                                           GroupNormShape{1, 64, 16, 16, 32},  // DDPM's 32 groups of 2
                                           GroupNormShape{3, 8, 1, 1, 2}       // 1×1: contiguous in both layouts
                                           ));

// The mean is 1e4 standard deviations: summed around each channel's first element, the variance keeps its
// digits in float32 where Σx² - (Σx)²/n would lose them all (a relative 1e4² · 6e-8 = 6 of the variance).
TEST(FusedGroupNormStatistics, ALargeMeanDoesNotCancelTheVariance) {
  torch::manual_seed(3);
  const auto x64 = torch::randn({2, 8, 8, 8}, torch::kFloat64) + 1e4;
  const auto weight = torch::ones({8}, torch::kFloat64), bias = torch::zeros({8}, torch::kFloat64);
  const auto want = torch::group_norm(x64, 2, weight, bias, 1e-6);
  for (const auto format : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
    const auto got = fused_group_norm(x64.to(torch::kFloat32).contiguous(format), 2, weight.to(torch::kFloat32),
                                      bias.to(torch::kFloat32), 1e-6);
    // float32 holds 1e4 + x to 1e-3: the normalised values inherit that, not a cancelled variance.
    EXPECT_LE((got.to(torch::kFloat64) - want).abs().max().item<double>(), 5e-3) << format;
  }
}

// Under bf16 autocast the input stays bf16 and the statistics are float32's: within bf16's rounding of the
// output (2^-8 relative) of the float64 result.
TEST(FusedGroupNormStatistics, BFloat16InputHasFloatStatistics) {
  torch::manual_seed(4);
  const auto x = torch::randn({2, 16, 6, 6}, torch::kFloat64) * 3 + 5;
  const auto weight = torch::randn({16}, torch::kFloat32), bias = torch::randn({16}, torch::kFloat32);
  const auto x16 = x.to(torch::kBFloat16);
  const auto want =
      torch::group_norm(x16.to(torch::kFloat64), 4, weight.to(torch::kFloat64), bias.to(torch::kFloat64), 1e-6);
  const auto got = fused_group_norm(x16.contiguous(at::MemoryFormat::ChannelsLast), 4, weight, bias, 1e-6);
  EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
  EXPECT_LE(max_rel(got, want), 1.0 / 128);
}

TEST(FusedGroupNormStatistics, RefusesChannelsThatDoNotFormTheGroups) {
  const auto x = torch::zeros({1, 6, 2, 2}).contiguous(at::MemoryFormat::ChannelsLast);
  EXPECT_THROW(fused_group_norm(x, 4, torch::ones({6}), torch::zeros({6}), 1e-6), std::exception);
  EXPECT_THROW(fused_group_norm(x, 3, torch::ones({5}), torch::zeros({5}), 1e-6), std::exception);
  EXPECT_THROW(fused_group_norm(x, 3, torch::ones({1, 6}), torch::zeros({1, 6}), 1e-6), std::exception);
  EXPECT_THROW(fused_group_norm(torch::zeros({0, 6, 2, 2}), 3, torch::ones({6}), torch::zeros({6}), 1e-6),
               std::exception);
}

// The parameters' memory is read directly, so parameters on another device than the input are refused by name
// (a CPU weight with a CUDA input would hand the kernels a host pointer; here a meta-device one stands in).
TEST(FusedGroupNormStatistics, RefusesParametersOnAnotherDevice) {
  const auto x = torch::randn({1, 6, 2, 2});
  const auto meta = torch::TensorOptions().device(torch::kMeta);
  test::expect_error_containing([&] { fused_group_norm(x, 3, torch::ones({6}, meta), torch::zeros({6}), 1e-6); },
                                "weight on meta, bias on cpu, input on cpu");
  test::expect_error_containing([&] { fused_group_norm(x, 3, torch::ones({6}), torch::zeros({6}, meta), 1e-6); },
                                "expected all three on one device");
}

// Its backward is not itself differentiable; under create_graph (sliced score matching's double backward) it
// must refuse rather than hand back a gradient with this layer's second-order terms missing.
TEST(FusedGroupNormStatistics, RefusesADoubleBackward) {
  const auto x = torch::randn({2, 8, 4, 4}).contiguous(at::MemoryFormat::ChannelsLast).requires_grad_(true);
  const auto y = fused_group_norm(x, 2, torch::ones({8}), torch::zeros({8}), 1e-6);
  EXPECT_THROW(torch::autograd::grad({y.square().sum()}, {x}, {}, true, /*create_graph=*/true), std::exception);
  EXPECT_NO_THROW(torch::autograd::grad({y.square().sum()}, {x}));
}

// Gradient checkpointing recomputes the block in its backward and differentiates it there once (no
// create_graph): the layer must give the plain gradients, not mistake that for a double backward.
TEST(FusedGroupNormStatistics, WorksInsideACheckpointedBlock) {
  torch::manual_seed(5);
  const auto x0 = torch::randn({2, 8, 4, 4}).contiguous(at::MemoryFormat::ChannelsLast);
  const auto weight = torch::randn({8}).requires_grad_(true), bias = torch::randn({8}).requires_grad_(true);
  auto block = [&](const std::vector<torch::Tensor>& in) {
    return torch::silu(fused_group_norm(in[0], 2, weight, bias, 1e-6));
  };
  std::vector<torch::Tensor> grads[2];
  for (int checkpointed = 0; checkpointed < 2; ++checkpointed) {
    const auto x = x0.detach().requires_grad_(true);
    const auto y = checkpointed ? checkpoint(block, {x}, {weight, bias}) : block({x});
    grads[checkpointed] = torch::autograd::grad({y.square().sum()}, {x, weight, bias});
  }
  for (size_t k = 0; k < 3; ++k) EXPECT_TRUE(torch::allclose(grads[1][k], grads[0][k], 1e-6, 1e-7)) << k;
}

// model.fused_group_norm: `true` runs scorch's GroupNorm on the CPU too (its loop, as every switch's `true` forces
// its CPU loop, docs/training.md "Speed switches"), in every entry point; `auto` and `false` leave the CPU on
// LibTorch's. LibTorch's values either way (float32 sums in other orders).
TEST(FusedGroupNormStatistics, TheModuleTakesItOnTheCpuOnlyWhenForced) {
  torch::manual_seed(4);
  const auto x = torch::randn({2, 8, 4, 4}, torch::requires_grad());  // (B, C, H, W)
  const auto pre = torch::randn({2, 8});                              // (B, C)
  for (const auto s : {Switch::On, Switch::Auto, Switch::Off}) {
    SCOPED_TRACE(switch_name(s));
    GroupNorm gn(4, 8, 1e-6), ref(4, 8, 1e-6);
    gn->set_fused(s);
    const bool fused = s == Switch::On;
    for (const auto& [y, want] :
         {std::pair{gn->forward(x), ref->forward(x)}, std::pair{gn->forward_silu(x), torch::silu(ref->forward(x))},
          std::pair{gn->forward_shifted(x, pre, true), torch::silu(ref->forward(x + pre.view({2, 8, 1, 1})))}}) {
      ASSERT_TRUE(y.grad_fn());
      EXPECT_EQ(y.grad_fn()->name().find("FusedGroupNorm") != std::string::npos, fused) << y.grad_fn()->name();
      EXPECT_LE(max_rel(y, want), 2e-5);
    }
  }
}

// The input handed on is x's values, routed through the layer's autograd node (which is what lets its backward add
// the gradient); either output may go unused: x's gradient is then the other's alone.
TEST(FusedGroupNormPassingInput, HandsOnTheInputThroughTheLayer) {
  torch::manual_seed(8);
  const auto x = torch::randn({2, 8, 4, 4}).contiguous(at::MemoryFormat::ChannelsLast).requires_grad_(true);
  const auto weight = torch::randn({8}), bias = torch::randn({8}), q = torch::randn({2, 8, 4, 4});
  const auto out = fused_group_norm_passing_input(x, 2, weight, bias, 1e-6, /*silu=*/true);
  EXPECT_TRUE(torch::equal(out.input, x));
  ASSERT_TRUE(out.input.grad_fn() && out.y.grad_fn());
  EXPECT_EQ(out.input.grad_fn(), out.y.grad_fn());
  EXPECT_NE(out.y.grad_fn()->name().find("FusedGroupNorm"), std::string::npos) << out.y.grad_fn()->name();
  const auto only_input = torch::autograd::grad({(out.input * q).sum()}, {x}, {}, /*retain_graph=*/true);
  EXPECT_TRUE(torch::equal(only_input[0], q));
  const auto only_y = torch::autograd::grad({(out.y * q).sum()}, {x});
  const auto plain = fused_group_norm(x, 2, weight, bias, 1e-6, /*silu=*/true);
  EXPECT_TRUE(torch::equal(only_y[0], torch::autograd::grad({(plain * q).sum()}, {x})[0]));
}

// The blocks' entry: the input passes through the GroupNorm only while the switch applies to its device and a
// gradient is to reach it; otherwise it is x itself and the pair is norm_act's.
TEST(FusedGroupNormPassingInput, TheBlocksEntryPassesOnlyWhenItApplies) {
  torch::manual_seed(9);
  GroupNorm norm(2, 8, 1e-6);
  norm->set_fused(Switch::On);
  const auto act = make_activation("swish");
  const auto x = torch::randn({2, 8, 4, 4}, torch::requires_grad());
  for (const auto s : {Switch::On, Switch::Auto, Switch::Off}) {
    SCOPED_TRACE(switch_name(s));
    const auto [h, input] = norm_act_passing_input(*norm, act, x, s);
    EXPECT_EQ(input.is_same(x), s != Switch::On);
    EXPECT_TRUE(torch::equal(h, norm_act(*norm, act, x)));
  }
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(norm_act_passing_input(*norm, act, x, Switch::On).second.is_same(x));
  }
  const auto untracked = x.detach();
  EXPECT_TRUE(norm_act_passing_input(*norm, act, untracked, Switch::On).second.is_same(untracked));
  const auto [h, input] = norm_act_passing_input(*norm, {}, x, Switch::On);  // no activation: attention's
  EXPECT_TRUE(torch::equal(h, norm->forward(x)));
  EXPECT_FALSE(input.is_same(x));
}

// The residual blocks' act(GroupNorm(x)) goes to forward_silu for make_activation's SiLU only: another
// activation must not be replaced by a SiLU.
TEST(FusedGroupNormStatistics, NormActFusesOnlyTheSilu) {
  torch::manual_seed(6);
  GroupNorm norm(2, 8, 1e-6);
  norm->bias.data().normal_();  // negative inputs, where ELU, ReLU and SiLU differ
  const auto x = torch::randn({2, 8, 4, 4});
  const auto normed = norm->forward(x);
  for (const std::string name : {"swish", "silu", "elu", "relu", "lrelu"}) {
    SCOPED_TRACE(name);
    const auto act = make_activation(name);
    EXPECT_TRUE(torch::equal(norm_act(*norm, act, x), act(normed)));
  }
  const Activation custom = [](const torch::Tensor& t) { return torch::tanh(t); };
  EXPECT_TRUE(torch::equal(norm_act(*norm, custom, x), torch::tanh(normed)));
}

}  // namespace
}  // namespace scorch::models
