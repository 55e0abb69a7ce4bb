// DDIM beyond its sampling step: inversion (FewStepSampler::encode) against the exact probability-flow
// encoding of Gaussian data (support/gaussian_flow.h), and the refusals of inversion and of ermongroup/ddim's label
// sequences where they do not apply.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "sampler/few_step.h"
#include "support/gaussian_flow.h"

namespace scorch::sampler {
namespace ddim_test {

using namespace gaussian_flow;

// DDIM inversion (FewStepSampler::encode) against the exact encoding: data drawn from the marginal at eps
// (the exact flow of prior draws) goes up to T, where the exact probability-flow map puts it at
// flow(x, eps, T). The error must fall at first order (the inverse step is DDIM's with the model at the
// lower end: Euler in the other direction), and decoding with run() (noise_removal off, the same grid)
// must come back to the data, also at first order. `steps` evaluations each way.
TEST(FastSamplers, DdimInversionConvergesToTheExactEncodingAndBack) {
  for (auto kind : {sdes::SdeKind::VE, sdes::SdeKind::VP, sdes::SdeKind::SubVP}) {
    SCOPED_TRACE(sdes::sde_name(kind));
    auto sde = sde_named(kind);
    Gaussian g{NoiseSchedule(sde)};
    const auto x = g.flow(g.start(), kT, kEps);
    const auto want = g.flow(x, kEps, kT);
    std::vector<double> enc_err, round_err;
    for (int64_t steps : {20, 40, 80}) {
      SamplingOptions o;
      o.method = "ddim";
      o.spacing = "logsnr";
      o.steps = steps;
      o.eps = kEps;
      o.noise_removal = false;
      FewStepSampler few(sde, g.score(), o);
      const auto z = few.encode(x);
      EXPECT_EQ(few.nfe(), steps);
      enc_err.push_back(((z - want).abs().max() / want.abs().max()).item<double>());
      auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
      round_err.push_back(((few.run(z, gen) - x).abs().max() / x.abs().max()).item<double>());
    }
    const double p_enc = std::log2(enc_err[1] / enc_err[2]), p_round = std::log2(round_err[1] / round_err[2]);
    std::printf(
        "ddim inversion %s: encoding rel. errors %.3g %.3g %.3g (order %.2f), round trip %.3g %.3g %.3g "
        "(order %.2f)\n",
        sdes::sde_name(kind), enc_err[0], enc_err[1], enc_err[2], p_enc, round_err[0], round_err[1], round_err[2],
        p_round);
    EXPECT_GT(p_enc, 0.65);
    EXPECT_LT(p_enc, 1.6);
    EXPECT_GT(p_round, 0.65);
    EXPECT_LT(p_round, 1.6);
    EXPECT_LT(enc_err[2], 0.1);
    EXPECT_LT(round_err[2], 0.15);
  }
}

// DDIM inversion is deterministic DDIM's: eta > 0 and ermongroup/ddim's label sequences (which end in an x_0
// prediction) are refused naming the key.
TEST(FastSamplers, DdimInversionRefusesWhatItCannotInvert) {
  auto vp = std::make_shared<sdes::VPSDE>(0.1, 20.0, 1000);
  sdes::ScoreFn zero = [](const torch::Tensor& x, const torch::Tensor&) { return torch::zeros_like(x); };
  const auto x = torch::zeros({1, 1, 2, 2}, torch::kFloat64);
  SamplingOptions o;
  o.method = "ddim";
  o.ddim_eta = 0.5;
  try {
    FewStepSampler(vp, zero, o).encode(x);
    FAIL() << "eta 0.5 accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("sampling.ddim_eta = 0.5 draws noise"), std::string::npos) << e.message();
  }
  o.ddim_eta = 0;
  o.spacing = "ddim_uniform";
  o.continuous = false;
  try {
    FewStepSampler(vp, zero, o).encode(x);
    FAIL() << "ddim_uniform accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("sampling.spacing ddim_uniform ends with ermongroup/ddim's x_0 prediction"),
              std::string::npos)
        << e.message();
  }
  o.spacing = "time_uniform";
  EXPECT_NO_THROW(FewStepSampler(vp, zero, o).encode(x));
}

// The encoder walks the decoder's grid backwards: decoding (noise_removal off) calls the network at the grid's
// upper ends g_0 = T, ..., g_{S-1}, encoding at its lower ends g_S = eps, ..., g_1, the same doubles. And it
// records no graph, whatever the network's parameters ask.
TEST(FastSamplers, DdimInversionWalksTheDecodersGridBackwardsWithoutAGraph) {
  auto vp = std::make_shared<sdes::VPSDE>(0.1, 20.0, 1000);
  const auto w = torch::full({1}, 0.5, torch::dtype(torch::kFloat64).requires_grad(true));
  std::vector<double> times;
  sdes::ScoreFn score = [&](const torch::Tensor& x, const torch::Tensor& t) {
    times.push_back(t[0].item<double>());
    return -x * w;
  };
  SamplingOptions o;
  o.method = "ddim";
  o.spacing = "time_quadratic";
  o.steps = 7;
  o.noise_removal = false;
  FewStepSampler few(vp, score, o);
  const auto x = torch::randn({2, 1, 2, 2}, torch::kFloat64);
  const auto z = few.encode(x);
  EXPECT_FALSE(z.requires_grad());
  const auto up = times;
  times.clear();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  few.run(z, gen);
  const auto down = times;
  ASSERT_EQ(up.size(), 7u);
  ASSERT_EQ(down.size(), 7u);
  EXPECT_EQ(up[0], o.eps);
  for (size_t i = 1; i < up.size(); ++i) EXPECT_EQ(up[i], down[down.size() - i]) << i;
}

// ermongroup/ddim's label sequences exist only for ddim and ddpm on a DDPM chain, and end in its final x_0
// prediction:
// another method, a continuous network, no final denoising, or more labels than the chain has are refused
// by name when the sampler is built, so scorch sample --dry-run reports them.
TEST(FastSamplers, DdimLabelSequencesAreRefusedWhereTheyDoNotApply) {
  auto vp = std::make_shared<sdes::VPSDE>(0.1, 20.0, 1000);
  sdes::ScoreFn zero = [](const torch::Tensor& x, const torch::Tensor&) { return torch::zeros_like(x); };
  const auto refused = [&](SamplingOptions o, const std::string& message, const std::string& hint) {
    SCOPED_TRACE(message);
    try {
      FewStepSampler(vp, zero, o);
      FAIL() << "accepted";
    } catch (const Error& e) {
      EXPECT_NE(e.message().find(message), std::string::npos) << e.message();
      EXPECT_NE(e.hint().find(hint), std::string::npos) << e.hint();
    }
  };
  SamplingOptions o;
  o.method = "ddim";
  o.spacing = "ddim_quad";
  o.continuous = false;
  o.steps = 10;
  EXPECT_NO_THROW(FewStepSampler(vp, zero, o));
  auto ddpm = o;
  ddpm.method = "ddpm";
  EXPECT_NO_THROW(FewStepSampler(vp, zero, ddpm));
  auto dpm = o;
  dpm.method = "dpm_solver";
  refused(dpm, "ermongroup/ddim's label sequence, which only ddim and ddpm take (method dpm_solver)",
          "sampling.method ddim");
  auto continuous = o;
  continuous.continuous = true;
  refused(continuous, "trained on it (training.sde vpsde, training.continuous false)", "time_uniform");
  auto raw = o;
  raw.noise_removal = false;
  refused(raw, "with the x_0 prediction at label 0", "sampling.noise_removal true");
  auto many = o;
  many.spacing = "ddim_uniform";
  many.steps = 1001;
  refused(many, "sampling.steps = 1001 labels of a chain of 1000", "set sampling.steps to 1..1000");
}

}  // namespace ddim_test
}  // namespace scorch::sampler
