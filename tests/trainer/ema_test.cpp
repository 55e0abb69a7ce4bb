// EMA: the update formula with score_sde's warm-up, frozen parameters left out, copy_to, the EMA swap, state.
#include "trainer/ema.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace scorch {
namespace {

// A frozen parameter in a child module, like NCSN++'s Fourier features (all_modules.0.W).
struct Fourier : torch::nn::Module {
  torch::Tensor W;
  Fourier() { W = register_parameter("W", torch::full({4}, 5.0), /*requires_grad=*/false); }
};

// Two trainable parameters and the frozen one, named "fourier.W".
struct Toy : torch::nn::Module {
  torch::Tensor w, b, frozen;
  Toy() {
    w = register_parameter("w", torch::full({2, 3}, 1.0));
    b = register_parameter("b", torch::full({3}, -1.0));
    frozen = register_module("fourier", std::make_shared<Fourier>())->W;
  }
};

void set_params(Toy& m, double w, double b, double f) {
  torch::NoGradGuard g;
  m.w.fill_(w);
  m.b.fill_(b);
  m.frozen.fill_(f);
}

TEST(Ema, WarmUpDecayIsMinOfRateAndTheCountRatio) {
  EXPECT_DOUBLE_EQ(trainer::Ema::decay_at(0.999, 1), 2.0 / 11.0);
  EXPECT_DOUBLE_EQ(trainer::Ema::decay_at(0.999, 10), 11.0 / 20.0);
  // (1 + n)/(10 + n) reaches 0.999 at n = 8991.
  EXPECT_DOUBLE_EQ(trainer::Ema::decay_at(0.999, 8990), 8991.0 / 9000.0);
  EXPECT_DOUBLE_EQ(trainer::Ema::decay_at(0.999, 9000), 0.999);
  EXPECT_DOUBLE_EQ(trainer::Ema::decay_at(0.9999, 1000000), 0.9999);
}

TEST(Ema, UpdatesFollowTheFormulaAndSkipFrozenParameters) {
  Toy m;
  trainer::Ema ema(m, 0.999);
  ASSERT_EQ(ema.shadow().size(), 2u);
  EXPECT_EQ(ema.shadow().count("fourier.W"), 0u);
  // Replay s <- s - (1 - d_n)(s - p_n) by hand in double for five updates with moving parameters.
  double s_w = 1.0, s_b = -1.0;
  for (int n = 1; n <= 5; ++n) {
    const double pw = 1.0 + n, pb = -1.0 - 2.0 * n;
    set_params(m, pw, pb, 100.0 + n);
    ema.update(m);
    const double d = std::min(0.999, (1.0 + n) / (10.0 + n));
    s_w -= (1 - d) * (s_w - pw);
    s_b -= (1 - d) * (s_b - pb);
    EXPECT_NEAR(ema.shadow().at("w")[0][0].item<double>(), s_w, 1e-5 * std::abs(s_w)) << n;
    EXPECT_NEAR(ema.shadow().at("b")[0].item<double>(), s_b, 1e-5 * std::abs(s_b)) << n;
  }
  EXPECT_EQ(ema.num_updates(), 5);
  EXPECT_EQ(ema.shadow().at("w").scalar_type(), torch::kFloat32);
}

// The device-masked update (the sync-free step's) against the plain one: bitwise equal shadows and count over
// the warm-up, and a flagged step changes nothing.
TEST(Ema, MaskedUpdateEqualsThePlainOneAndAFlaggedStepChangesNothing) {
  Toy plain_model, masked_model;
  trainer::Ema plain(plain_model, 0.999), masked(masked_model, 0.999);
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(5);
  for (int n = 1; n <= 30; ++n) {
    const auto w = torch::randn({2, 3}, gen), b = torch::randn({3}, gen);
    for (auto* m : {&plain_model, &masked_model}) {
      torch::NoGradGuard g;
      m->w.copy_(w);
      m->b.copy_(b);
    }
    plain.update(plain_model);
    masked.update(masked_model, torch::zeros({}));
    if (n % 7 == 0) {
      const auto before = masked.shadow().at("w").clone();
      {
        torch::NoGradGuard g;
        masked_model.w.fill_(1e6);
      }
      masked.update(masked_model, torch::ones({}));
      EXPECT_TRUE(torch::equal(masked.shadow().at("w"), before)) << n;
    }
  }
  EXPECT_EQ(masked.num_updates(), 30);
  for (const auto& [name, t] : plain.shadow()) EXPECT_TRUE(torch::equal(masked.shadow().at(name), t)) << name;
}

// score_sde's update, s.sub_((1 - d) * (s - p)) on float32 tensors, is the truth bit for bit: the plain and the
// masked update reproduce its roundings over parameters long enough that a fused multiply-add (what a lerp
// does) would round hundreds of elements differently.
TEST(Ema, UpdatesRoundAsTheReferenceDoes) {
  struct Wide : torch::nn::Module {
    torch::Tensor w;
    Wide() { w = register_parameter("w", torch::randn({64, 257})); }
  };
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(11);
  Wide plain_model, masked_model;
  {
    torch::NoGradGuard g;
    const auto w0 = torch::randn({64, 257}, gen);
    plain_model.w.copy_(w0);
    masked_model.w.copy_(w0);
  }
  trainer::Ema plain(plain_model, 0.999), masked(masked_model, 0.999);
  auto reference = plain_model.w.detach().clone();
  for (int n = 1; n <= 40; ++n) {
    const auto p = torch::randn({64, 257}, gen);
    {
      torch::NoGradGuard g;
      plain_model.w.copy_(p);
      masked_model.w.copy_(p);
    }
    plain.update(plain_model);
    masked.update(masked_model, torch::zeros({}));
    reference.sub_((1.0 - trainer::Ema::decay_at(0.999, n)) * (reference - p));
    ASSERT_TRUE(torch::equal(plain.shadow().at("w"), reference)) << "plain, update " << n;
    ASSERT_TRUE(torch::equal(masked.shadow().at("w"), reference)) << "masked, update " << n;
  }
}

TEST(Ema, ShadowsStayFloat32ForLowPrecisionModels) {
  Toy m;
  m.to(torch::kBFloat16);
  trainer::Ema ema(m, 0.5);
  EXPECT_EQ(ema.shadow().at("w").scalar_type(), torch::kFloat32);
  ema.update(m);
  m.to(torch::kFloat32);
  ema.copy_to(m);
  EXPECT_EQ(m.w.scalar_type(), torch::kFloat32);
}

TEST(Ema, SwapHoldsTheAveragesInEvalModeAndPutsTheTrainingWeightsBack) {
  Toy m;
  trainer::Ema ema(m, 0.9);
  set_params(m, 3.0, 4.0, 7.0);
  ema.update(m);  // d = 2/11: shadow w = 1 - 9/11 (1 - 3) = 1 + 18/11
  {
    trainer::EmaSwap swap(ema, m);
    EXPECT_NEAR(m.w[0][0].item<double>(), 1.0 + 18.0 / 11.0, 1e-6);
    EXPECT_EQ(m.frozen[0].item<double>(), 7.0);  // not tracked, so not overwritten
    EXPECT_FALSE(m.is_training());
  }
  EXPECT_EQ(m.w[0][0].item<double>(), 3.0);
  EXPECT_EQ(m.b[0].item<double>(), 4.0);
  EXPECT_TRUE(m.is_training());
  // An exception inside the scope restores them too, and a model in eval mode stays in eval mode.
  m.eval();
  try {
    trainer::EmaSwap swap(ema, m);
    throw Error(__FILE__, __LINE__, "inside the swap (test)");
  } catch (const Error&) {
  }
  EXPECT_EQ(m.w[0][0].item<double>(), 3.0);
  EXPECT_FALSE(m.is_training());
}

TEST(Ema, StateLoadsOnlyWhenNamesAndShapesMatch) {
  Toy m;
  trainer::Ema ema(m, 0.999);
  std::map<std::string, torch::Tensor> good = {{"w", torch::full({2, 3}, 9.0)}, {"b", torch::full({3}, 8.0)}};
  ema.load_state(123, good);
  EXPECT_EQ(ema.num_updates(), 123);
  EXPECT_EQ(ema.shadow().at("w")[1][2].item<double>(), 9.0);
  auto missing = good;
  missing.erase("b");
  EXPECT_THROW(ema.load_state(1, missing), Error);
  auto extra = good;
  extra["fourier.W"] = torch::zeros({4});
  EXPECT_THROW(ema.load_state(1, extra), Error);
  auto wrong = good;
  wrong["w"] = torch::zeros({3, 2});
  try {
    ema.load_state(1, wrong);
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'w'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace scorch
