// Adam against the textbook recurrence in double precision, warm-up, clipping, state checks, loss scaling.
#include "trainer/adam.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "trainer/precision.h"

namespace scorch {
namespace {

TEST(Adam, MatchesTheTextbookRecurrence) {
  for (int variant = 0; variant < 4; ++variant) {
    const bool amsgrad = variant % 2 == 1, fused = variant >= 2;
    SCOPED_TRACE(fmt::format("{} {}", amsgrad ? "amsgrad" : "adam", fused ? "fused" : "foreach"));
    trainer::AdamOptions o;
    o.lr = 0.01, o.beta1 = 0.8, o.beta2 = 0.9, o.eps = 1e-6, o.weight_decay = 0.1, o.amsgrad = amsgrad;
    o.fused = fused;
    auto p = torch::tensor({0.5f, -1.0f, 2.0f});
    trainer::Adam adam({{"w", p}}, o);
    // Gradients chosen so that v shrinks at some step (AMSGrad's max then matters).
    const std::vector<std::vector<double>> grads = {{1.0, -2.0, 0.1}, {0.1, 0.5, -3.0}, {-0.01, 0.02, 0.01}};
    std::vector<double> w = {0.5, -1.0, 2.0}, m(3, 0.0), v(3, 0.0), vmax(3, 0.0);
    for (size_t t = 1; t <= grads.size(); ++t) {
      p.mutable_grad() = torch::tensor({float(grads[t - 1][0]), float(grads[t - 1][1]), float(grads[t - 1][2])});
      adam.step(o.lr);
      for (int i = 0; i < 3; ++i) {
        const double g = grads[t - 1][i] + o.weight_decay * w[i];
        m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
        v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
        vmax[i] = std::max(vmax[i], v[i]);
        const double mhat = m[i] / (1 - std::pow(o.beta1, t));
        const double vhat = (amsgrad ? vmax[i] : v[i]) / (1 - std::pow(o.beta2, t));
        w[i] -= o.lr * mhat / (std::sqrt(vhat) + o.eps);
      }
    }
    EXPECT_EQ(adam.step_count(), 3);
    // float32 arithmetic against double: a few ulps of values of order 1.
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[i].item<double>(), w[i], 2e-6) << i;
  }
}

// The fused kernel against the foreach ops over 20 steps of random gradients on several tensors: the same
// arithmetic in a different order (1e-6 relative: float32 rounding, which Adam's normalisation does not
// amplify once v is warm).
TEST(Adam, FusedEqualsForeachOverTwentySteps) {
  for (const bool amsgrad : {false, true}) {
    SCOPED_TRACE(amsgrad ? "amsgrad" : "adam");
    trainer::AdamOptions o;
    o.lr = 1e-3, o.weight_decay = 0.01, o.amsgrad = amsgrad;
    auto gen = torch::make_generator<at::CPUGeneratorImpl>(3);
    std::vector<torch::Tensor> a = {torch::randn({7, 5}, gen), torch::randn({33}, gen),
                                    torch::randn({2, 3, 3, 3}, gen)};
    std::vector<torch::Tensor> b;
    for (const auto& t : a) b.push_back(t.clone());
    auto fused = o, plain = o;
    fused.fused = true, plain.fused = false;
    trainer::Adam fa({{"x", a[0]}, {"y", a[1]}, {"z", a[2]}}, fused),
        pa({{"x", b[0]}, {"y", b[1]}, {"z", b[2]}}, plain);
    for (int step = 0; step < 20; ++step) {
      for (size_t i = 0; i < a.size(); ++i) {
        auto g = torch::randn(a[i].sizes(), gen) * (step % 3 == 0 ? 5.0 : 0.2);
        a[i].mutable_grad() = g.clone();
        b[i].mutable_grad() = g.clone();
      }
      fa.step(o.lr);
      pa.step(o.lr);
    }
    EXPECT_EQ(fa.step_count(), 20);
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_LE(((a[i] - b[i]).abs().max() / b[i].abs().max()).item<double>(), 1e-6) << i;
    for (const auto& [key, t] : pa.state())
      EXPECT_LE(((fa.state().at(key) - t).abs().max() / t.abs().max()).item<double>(), 1e-6) << key;
  }
}

// The learning rate as a float32 tensor (what a captured training step reads at each replay) under a
// warm-up schedule, against the foreach update with the host's double. Compared on the displacement from
// the start, 1e-4 relative: float32 rounding of weights near 1 moved by ~3e-3 in all, while a rate off by
// 0.1 % would be 1e-3.
TEST(Adam, DeviceLearningRateEqualsTheHostOneUnderWarmup) {
  trainer::AdamOptions o;
  o.lr = 2e-4, o.warmup = 12;
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(5);
  const auto start = torch::randn({4, 6}, gen);
  auto a = start.clone(), b = start.clone();
  auto fused = o, plain = o;
  plain.fused = false;
  trainer::Adam fa({{"w", a}}, fused), pa({{"w", b}}, plain);
  auto lr = torch::zeros({});
  for (int step = 0; step < 20; ++step) {
    auto g = torch::randn(a.sizes(), gen);
    a.mutable_grad() = g.clone();
    b.mutable_grad() = g.clone();
    lr.fill_(trainer::warmup_lr(o, step));
    fa.step(lr);
    pa.step(trainer::warmup_lr(o, step));
  }
  const auto moved = (b - start).abs().max().item<double>();
  EXPECT_GT(moved, 1e-3);
  EXPECT_LE(((a - start) - (b - start)).abs().max().item<double>(), 1e-4 * moved);
  EXPECT_THROW(pa.step(lr), Error);                                 // foreach Adam has no device rate
  EXPECT_THROW(fa.step(torch::zeros({}, torch::kFloat64)), Error);  // the kernel reads float32
}

TEST(Adam, FusedSkipsOnTheDeviceFlagAndCountsOnlyAppliedSteps) {
  trainer::AdamOptions o;
  o.amsgrad = true;
  auto p = torch::tensor({0.5f, -1.0f});
  trainer::Adam adam({{"w", p}}, o);
  p.mutable_grad() = torch::tensor({1.0f, 2.0f});
  adam.step(o.lr, torch::zeros({}));
  const auto after_one = p.clone();
  const auto state = adam.state();
  p.mutable_grad() = torch::tensor({std::nanf(""), 2.0f});
  adam.step(o.lr, torch::ones({}));
  EXPECT_TRUE(torch::equal(p, after_one));
  for (const auto& [key, t] : adam.state()) EXPECT_TRUE(torch::equal(t, state.at(key))) << key;
  EXPECT_EQ(adam.step_count(), 1);
  auto foreach = o;
  foreach
    .fused = false;
  trainer::Adam plain({{"w", p}}, foreach);
  EXPECT_THROW(plain.step(o.lr, torch::zeros({})), Error);
}

TEST(Adam, WarmupStartsAtZeroAsTheReference) {
  trainer::AdamOptions o;
  o.lr = 2e-4, o.warmup = 5000;
  EXPECT_EQ(trainer::warmup_lr(o, 0), 0.0);
  EXPECT_DOUBLE_EQ(trainer::warmup_lr(o, 2500), 1e-4);
  EXPECT_DOUBLE_EQ(trainer::warmup_lr(o, 5000), 2e-4);
  EXPECT_DOUBLE_EQ(trainer::warmup_lr(o, 90000), 2e-4);
  o.warmup = 0;
  EXPECT_DOUBLE_EQ(trainer::warmup_lr(o, 0), 2e-4);
}

TEST(Adam, ClippingScalesToTheGlobalNorm) {
  auto a = torch::zeros({2}), b = torch::zeros({1});
  a.mutable_grad() = torch::tensor({3.0f, 0.0f});
  b.mutable_grad() = torch::tensor({4.0f});
  auto norm = trainer::grad_norm({a, b});
  EXPECT_FLOAT_EQ(norm.item<float>(), 5.0f);
  trainer::clip_grads({a, b}, norm, 1.0);
  EXPECT_NEAR(a.grad()[0].item<double>(), 3.0 / (5.0 + 1e-6), 1e-7);
  EXPECT_NEAR(b.grad()[0].item<double>(), 4.0 / (5.0 + 1e-6), 1e-7);
  trainer::clip_grads({a, b}, trainer::grad_norm({a, b}), 10.0);  // below the bound: unchanged
  EXPECT_NEAR(b.grad()[0].item<double>(), 4.0 / (5.0 + 1e-6), 1e-7);
}

TEST(Adam, StateRoundTripAndClearErrors) {
  auto p = torch::ones({2, 3});
  trainer::Adam adam({{"layer.weight", p}}, {});
  p.mutable_grad() = torch::ones({2, 3});
  adam.step(0.1);
  auto state = adam.state();
  ASSERT_EQ(state.size(), 2u);
  trainer::Adam other({{"layer.weight", torch::ones({2, 3})}}, {});
  other.load_state(state, 1, "test");
  EXPECT_TRUE(torch::equal(other.state().at("exp_avg.layer.weight"), state.at("exp_avg.layer.weight")));
  auto missing = state;
  missing.erase("exp_avg_sq.layer.weight");
  EXPECT_THROW(other.load_state(missing, 1, "test"), Error);
  auto shaped = state;
  shaped["exp_avg.layer.weight"] = torch::zeros({3, 2});
  try {
    other.load_state(shaped, 1, "ckpt/optimizer.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("exp_avg.layer.weight' has shape 3x2, expected 2x3"), std::string::npos) << e.message();
  }
  auto extra = state;
  extra["exp_avg.other"] = torch::zeros({1});
  EXPECT_THROW(other.load_state(extra, 1, "test"), Error);
}

TEST(LossScaler, HalvesOnOverflowAndGrowsAfterCleanSteps) {
  trainer::LossScaler s(true, 1024.0, 3);
  s.update(false);
  EXPECT_EQ(s.scale(), 512.0);
  s.update(true), s.update(true);
  EXPECT_EQ(s.scale(), 512.0);
  s.update(true);
  EXPECT_EQ(s.scale(), 1024.0);
  trainer::LossScaler off(false);
  off.update(false);
  EXPECT_EQ(off.scale(), 1.0);
}

}  // namespace
}  // namespace scorch
