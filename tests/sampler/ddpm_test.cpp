// DDPM's ancestral sampler with the larger variance (sampling.method ddpm) on Gaussian data with the exact
// score: what it samples, its clipping and its noise. ermongroup/ddim's own ddpm_steps is the reference in
// fast_samplers_reference_test.cpp.
#include <gtest/gtest.h>

#include <cmath>

#include "sampler/few_step.h"
#include "support/gaussian_flow.h"

namespace scorch::sampler {
namespace ddpm_test {

using gaussian_flow::kEps;
using gaussian_flow::kT;
using gaussian_flow::sde_named;

// Data x0 ~ N(0, 0.2^2) per pixel, narrow enough (5 standard deviations inside [-1, 1]) that clipping never
// binds.
gaussian_flow::Gaussian narrow(const std::shared_ptr<sdes::Sde>& sde) { return {NoiseSchedule(sde), 0.0, 0.2}; }

SamplingOptions ddpm(int64_t steps) {
  SamplingOptions o;
  o.method = "ddpm";
  o.spacing = "logsnr";
  o.steps = steps;
  o.eps = kEps;
  o.centered = true;
  o.noise_removal = false;
  return o;
}

// Started from the exact marginal at T, the chain must end in the marginal at eps. Its excess variance falls
// at first order in the step: this chain is linear and Gaussian, and its exact moments (worked out apart, on
// VP) give 2.27, 1.064, 1.016, 1.008 and 1.004 times the marginal's variance at 10, 125, 500, 1000 and 2000
// logsnr steps. At 1000 the variance must be within 4 % (50,000 draws: 0.63 % sampling error), the mean within
// 4 standard errors. At 10 steps DDPM's larger variance overshoots and DDIM's eta 1 (the posterior's smaller one)
// undershoots (0.45 on VP): the sigma-hat and eta = 1 rows of the DDIM paper.
TEST(Ddpm, SamplesTheMarginalOfGaussianDataForEverySde) {
  for (auto kind : {sdes::SdeKind::VE, sdes::SdeKind::VP, sdes::SdeKind::SubVP}) {
    SCOPED_TRACE(sdes::sde_name(kind));
    auto sde = sde_named(kind);
    const auto d = narrow(sde);
    constexpr int64_t kN = 50000;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    const auto x_T = torch::randn({kN, 1, 1, 1}, gen, torch::kFloat64) * std::sqrt(d.v(kT));
    FewStepSampler few(sde, d.score(), ddpm(1000));
    const auto x = few.run(x_T, gen);
    EXPECT_EQ(few.nfe(), 1000);
    const double var = x.var().item<double>(), want = d.v(kEps);
    std::printf("%s, 1000 steps: variance %.5g, the marginal's %.5g, mean %.3g\n", sdes::sde_name(kind), var, want,
                x.mean().item<double>());
    EXPECT_NEAR(var / want, 1.0, 0.04);
    EXPECT_LT(std::abs(x.mean().item<double>()), 4 * std::sqrt(want / kN));

    const double var_ddpm10 = FewStepSampler(sde, d.score(), ddpm(10)).run(x_T, gen).var().item<double>();
    SamplingOptions eta1 = ddpm(10);
    eta1.method = "ddim";
    eta1.ddim_eta = 1.0;
    const double var_ddim10 = FewStepSampler(sde, d.score(), eta1).run(x_T, gen).var().item<double>();
    std::printf("    10 steps: ddpm %.3g, ddim eta 1 %.3g times the marginal's variance\n", var_ddpm10 / want,
                var_ddim10 / want);
    EXPECT_GT(var_ddpm10 / want, 1.5);
    EXPECT_LT(var_ddim10 / want, 1.0);
  }
}

// Every x_0 prediction is clipped to model space's data range, [0, 1] or with data.centered [-1, 1] (as
// ermongroup/ddim's [-1, 1]), so with noise_removal the samples lie in it, and on data that reaches past it
// some lie on its ends; without clipping a quarter of these would lie outside.
TEST(Ddpm, ClipsEachDataPredictionToTheDataRange) {
  auto sde = sde_named(sdes::SdeKind::VP);
  gaussian_flow::Gaussian g{NoiseSchedule(sde)};  // N(0.3, 0.5^2): 8 % above 1, 27 % below 0
  for (bool centered : {false, true}) {
    SCOPED_TRACE(centered ? "centered" : "[0, 1]");
    SamplingOptions o = ddpm(20);
    o.centered = centered;
    o.noise_removal = true;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(2);
    const auto x = FewStepSampler(sde, g.score(), o).run(g.start(), gen);
    const double lo = centered ? -1.0 : 0.0;
    EXPECT_GE(x.min().item<double>(), lo);
    EXPECT_LE(x.max().item<double>(), 1.0);
    EXPECT_GT((x == 1.0).sum().item<int64_t>() + (x == lo).sum().item<int64_t>(), 0);
  }
}

}  // namespace ddpm_test
}  // namespace scorch::sampler
