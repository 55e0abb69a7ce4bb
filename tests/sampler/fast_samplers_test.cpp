// The few-step samplers (DPM-Solver++, EDM, DDIM) against the exact probability-flow map of Gaussian data.
//
// Data x0 ~ N(mu, s^2) per pixel, whose probability-flow map is known exactly (support/gaussian_flow.h). A
// solver's distance to that map, on fixed starting points in float64, is its discretisation error alone;
// doubling the steps must divide it by about 2^order (the order each paper claims). Bands: the observed order of
// the last doubling (40 -> 80 steps) within [order - 0.35, order + 0.6], where warm-up steps and grid effects
// leave it.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/sdes/score_fn.h"
#include "core/sdes/subvp_sde.h"
#include "core/sdes/ve_sde.h"
#include "core/sdes/vp_sde.h"
#include "sampler/ddim_sampler.h"
#include "sampler/dpm_solver.h"
#include "sampler/edm_sampler.h"
#include "sampler/few_step.h"
#include "sampler/time_steps.h"
#include "support/gaussian_flow.h"

namespace scorch::sampler {
namespace fast_samplers_test {

using namespace gaussian_flow;

using SolverRun = std::function<torch::Tensor(Gaussian&, DataPrediction&, const torch::Tensor&, int64_t)>;

// Errors at about 20, 40 and 80 steps; the observed order of the last doubling must match `order`.
void check_order(const std::string& what, const SolverRun& run, double order,
                 const std::function<torch::Tensor(const Gaussian&, const torch::Tensor&)>& exact,
                 std::vector<int64_t> steps_list = {20, 40, 80}) {
  for (auto kind : {sdes::SdeKind::VE, sdes::SdeKind::VP, sdes::SdeKind::SubVP}) {
    SCOPED_TRACE(what + " " + sdes::sde_name(kind));
    Gaussian g{NoiseSchedule(sde_named(kind))};
    const auto x_T = g.start();
    const auto want = exact(g, x_T);
    std::vector<double> err;
    for (int64_t steps : steps_list) {
      DataPrediction model(g.schedule, g.score());
      err.push_back((run(g, model, x_T, steps) - want).abs().max().item<double>() / want.abs().max().item<double>());
    }
    const double p = std::log(err[1] / err[2]) / std::log(double(steps_list[2]) / double(steps_list[1]));
    std::printf("%s %s: rel. errors %.3g %.3g %.3g, order %.2f\n", what.c_str(), sdes::sde_name(kind), err[0], err[1],
                err[2], p);
    EXPECT_GT(p, order - 0.35);
    EXPECT_LT(p, order + 0.6);
    EXPECT_LT(err[2], err[0]);
  }
}

torch::Tensor exact_at_eps(const Gaussian& g, const torch::Tensor& x_T) { return g.flow(x_T, kT, kEps); }

// Multistep methods start with lower orders (the reference's warm-up: step 1 is first order), and that one
// step's O(h^2) error stays in the result, so 3M converges at order 2 like 2M (measured to 640 steps: 2.01),
// with a smaller constant; the third-order update itself shows in the smaller error.
TEST(FastSamplers, DpmSolverMultistepConvergesAtItsOrderForEverySde) {
  for (int64_t order : {1, 2, 3}) {
    SolverRun run = [order](Gaussian& g, DataPrediction& m, const torch::Tensor& x, int64_t steps) {
      return DpmSolver(g.schedule, m, {order, "multistep", "logsnr"}).run(x, kT, kEps, steps);
    };
    check_order(fmt::format("dpm_solver {}M", order), run, static_cast<double>(std::min<int64_t>(order, 2)),
                exact_at_eps);
  }
  for (auto kind : {sdes::SdeKind::VE, sdes::SdeKind::VP, sdes::SdeKind::SubVP}) {
    Gaussian g{NoiseSchedule(sde_named(kind))};
    const auto x = g.start();
    const auto want = exact_at_eps(g, x);
    DataPrediction m2(g.schedule, g.score()), m3(g.schedule, g.score());
    const double e2 =
        (DpmSolver(g.schedule, m2, {2, "multistep", "logsnr"}).run(x, kT, kEps, 40) - want).abs().max().item<double>();
    const double e3 =
        (DpmSolver(g.schedule, m3, {3, "multistep", "logsnr"}).run(x, kT, kEps, 40) - want).abs().max().item<double>();
    EXPECT_LT(e3, 0.6 * e2) << sdes::sde_name(kind);
  }
}

// Singlestep methods have no warm-up. Their asymptotic order shows only past ~80 steps for order 3 (at 20 -> 41
// it reads 2.2); time_uniform grids put few steps at low noise, so they are checked for convergence only.
TEST(FastSamplers, DpmSolverSinglestepConvergesAtItsOrderForEverySde) {
  for (int64_t order : {2, 3}) {
    SolverRun run = [order](Gaussian& g, DataPrediction& m, const torch::Tensor& x, int64_t steps) {
      return DpmSolver(g.schedule, m, {order, "singlestep", "logsnr"}).run(x, kT, kEps, steps);
    };
    // 3S step counts are 2 mod 3, so the split ends [3, ..., 3, 2]; a first-order final step would cap it at 2.
    const auto steps = order == 3 ? std::vector<int64_t>{83, 167, 335} : std::vector<int64_t>{20, 40, 80};
    check_order(fmt::format("dpm_solver {}S", order), run, static_cast<double>(order), exact_at_eps, steps);
  }
  for (auto kind : {sdes::SdeKind::VE, sdes::SdeKind::VP, sdes::SdeKind::SubVP}) {
    Gaussian g{NoiseSchedule(sde_named(kind))};
    const auto x = g.start();
    DataPrediction m(g.schedule, g.score());
    const auto got = DpmSolver(g.schedule, m, {3, "singlestep", "time_uniform"}).run(x, kT, kEps, 167);
    EXPECT_LT((got - exact_at_eps(g, x)).abs().max().item<double>(), 1e-3) << sdes::sde_name(kind);
    EXPECT_EQ(m.nfe(), 167);
  }
}

TEST(FastSamplers, DdimIsFirstOrderAndEqualsDpmSolverOne) {
  SolverRun run = [](Gaussian& g, DataPrediction& m, const torch::Tensor& x, int64_t steps) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
    return DdimSampler(g.schedule, m, {0.0, "time_uniform"}).run(x, kT, kEps, steps, gen);
  };
  check_order("ddim", run, 1.0, exact_at_eps);
  Gaussian g{NoiseSchedule(sde_named(sdes::SdeKind::VP))};
  DataPrediction m1(g.schedule, g.score()), m2(g.schedule, g.score());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  const auto x = g.start();
  auto ddim = DdimSampler(g.schedule, m1, {0.0, "logsnr"}).run(x, kT, kEps, 7, gen);
  auto dpm1 = DpmSolver(g.schedule, m2, {1, "multistep", "logsnr"}).run(x, kT, kEps, 7);
  EXPECT_LT((ddim - dpm1).abs().max().item<double>(), 1e-12);
  EXPECT_EQ(m1.nfe(), 7);
  EXPECT_EQ(m2.nfe(), 7);
}

// EDM ends with an Euler step from sigma~(eps) to 0, which returns D there; the reference includes that step
// exactly, so only the Heun part's error is measured.
torch::Tensor exact_edm(const Gaussian& g, const torch::Tensor& x_T) {
  const double a = g.schedule.alpha(kEps), se = g.schedule.edm_sigma(kEps);
  const auto x_eps = g.flow(x_T, kT, kEps) / a;  // x~ at sigma~(eps)
  return kMu + (kS * kS / (kS * kS + se * se)) * (x_eps - kMu);
}

TEST(FastSamplers, EdmHeunIsSecondOrderAndEulerFirst) {
  for (std::string solver : {"heun", "euler"}) {
    SolverRun run = [solver](Gaussian& g, DataPrediction& m, const torch::Tensor& x, int64_t steps) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
      EdmOptions o;
      o.solver = solver;
      return EdmSampler(g.schedule, m, o).run(x, kT, kEps, steps, gen);
    };
    check_order("edm " + solver, run, solver == "heun" ? 2.0 : 1.0, exact_edm);
  }
}

TEST(FastSamplers, NetworkEvaluationsAreWhatEachMethodPromises) {
  Gaussian g{NoiseSchedule(sde_named(sdes::SdeKind::VE))};
  const auto x = g.start();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto nfe_of = [&](const std::function<void(DataPrediction&)>& f) {
    DataPrediction m(g.schedule, g.score());
    f(m);
    return m.nfe();
  };
  EXPECT_EQ(nfe_of([&](DataPrediction& m) { EdmSampler(g.schedule, m, {}).run(x, kT, kEps, 18, gen); }), 35);
  EXPECT_EQ(nfe_of([&](DataPrediction& m) {
              DpmSolverOptions o{3, "singlestep", "logsnr"};
              DpmSolver(g.schedule, m, o).run(x, kT, kEps, 10);
            }),
            10);
  EXPECT_EQ(nfe_of([&](DataPrediction& m) {
              DpmSolverOptions o{2, "multistep", "logsnr", true, true};
              DpmSolver(g.schedule, m, o).run(x, kT, kEps, 15);
            }),
            16);
}

// sampling.steps is the budget whatever the method and noise_removal say; too small a budget names the key.
TEST(FastSamplers, SamplingStepsIsTheExactNetworkEvaluationCount) {
  auto sde = sde_named(sdes::SdeKind::VP);
  Gaussian g{NoiseSchedule(sde)};
  const auto x = g.start().to(torch::kFloat32);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  for (std::string method : {"dpm_solver", "ddim", "edm", "ddpm"}) {
    for (bool noise_removal : {true, false}) {
      for (int64_t steps : {7, 20, 35}) {
        SamplingOptions o;
        o.method = method;
        o.spacing = method == "edm" ? "edm" : "logsnr";
        o.steps = steps;
        o.noise_removal = noise_removal;
        FewStepSampler few(sde, g.score(), o);
        few.run(x, gen);
        // EDM's Heun takes 2 levels - 1 evaluations, so an even budget leaves one unused.
        EXPECT_EQ(few.nfe(), method == "edm" ? steps - 1 + steps % 2 : steps) << method << " " << steps;
      }
    }
  }
  SamplingOptions tiny;
  tiny.method = "dpm_solver";
  tiny.steps = 1;
  try {
    FewStepSampler(sde, g.score(), tiny);
    FAIL() << "a budget of one evaluation with noise_removal was accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("sampling.steps = 1 is too small"), std::string::npos) << e.message();
  }
}

// A network of NCSN's 10 VE levels knows only its rungs; between them the few-step solvers would scale the
// noise its x0 estimate removes by up to the rungs' ratio (1.67 here), so they refuse it; 1000 levels
// (score_sde's) or a continuous network pass.
TEST(FastSamplers, ACoarseDiscreteVeLadderIsRefused) {
  auto coarse = std::make_shared<sdes::VESDE>(0.01, 1.0, 10);
  auto fine = std::make_shared<sdes::VESDE>(0.01, 50.0, 1000);
  sdes::ScoreFn zero = [](const torch::Tensor& x, const torch::Tensor&) { return torch::zeros_like(x); };
  SamplingOptions o;
  o.method = "dpm_solver";
  o.continuous = false;
  try {
    FewStepSampler(coarse, zero, o);
    FAIL() << "dpm_solver on a 10-level discrete VE network was accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("on a network trained on 10 discrete VE levels (training.continuous: false)"),
              std::string::npos)
        << e.message();
    EXPECT_NE(e.message().find("scaled by up to 1.67x"), std::string::npos) << e.message();
    EXPECT_NE(e.hint().find("sampling.method ald or pc"), std::string::npos) << e.hint();
  }
  EXPECT_NO_THROW(FewStepSampler(fine, zero, o));
  o.continuous = true;
  EXPECT_NO_THROW(FewStepSampler(coarse, zero, o));
}

// A discrete VP (DDPM) network was trained on its table, not on the continuous VP SDE: its schedule is
// DPM-Solver's discrete one, log alpha linear between labels. Reference: LuChengTHU/dpm-solver's
// dpm_solver_pytorch.py, NoiseScheduleVP('discrete', betas=score_sde's float32 betas as float64,
// dtype=float64), marginal_log_mean_coeff and marginal_lambda at its time (u + 1) / 1000, scorch's t = u / 999.
// Tolerances 2e-7 (log alpha, lambda) and 2e-8 (t): the reference's time grid is float32 (2e-8 in log alpha at
// label 730), and float32 linspace betas may differ by an ulp between processes (6.5e-8 at label 999). The
// continuous SDE's schedule is 5e-5 off at the first label.
TEST(FastSamplers, DiscreteVpScheduleIsDpmSolversDiscreteOne) {
  auto vp = std::make_shared<sdes::VPSDE>(0.1, 20.0, 1000);
  NoiseSchedule discrete(vp, /*continuous=*/false), continuous(vp);
  ASSERT_TRUE(discrete.discrete_vp());
  ASSERT_FALSE(continuous.discrete_vp());
  struct Ref {
    double u, log_alpha, lambda;
  };
  for (const Ref& r :
       {Ref{0.999, -0.00010990608402933067, 4.211313624872589}, Ref{0.5, -7.998427181809346e-05, 4.370226689497621},
        Ref{123.4, -0.08273960850904756, 0.8575146734598905}, Ref{730.27, -2.7092654637573426, -2.7070437072451994},
        Ref{998.5, -5.053805916236918, -5.053785531795602}, Ref{999.0, -5.058856657978554, -5.058836478417948}}) {
    const double t = r.u / 999.0;
    EXPECT_NEAR(std::log(discrete.alpha(t)), r.log_alpha, 2e-7) << "label " << r.u;
    EXPECT_NEAR(discrete.lambda(t), r.lambda, 2e-7) << "label " << r.u;
    EXPECT_NEAR(discrete.t_of_lambda(r.lambda), t, 2e-8) << "label " << r.u;
  }
  // The continuous SDE's alpha is another function: 5.5e-5 against 1.1e-4 at t = 0.001.
  EXPECT_GT(std::abs(std::log(continuous.alpha(0.001)) + 0.00010990608402933067), 5e-5);
}

// At whole labels a perfect DDPM network for data N(mu, s^2), eps(x, i) = sigma_i (x - alpha_i mu) /
// (alpha_i^2 s^2 + sigma_i^2) from the SDE's own float32 tables, must be turned into the posterior mean
// E[x_0 | x] = mu + alpha_i s^2 (x - alpha_i mu) / (alpha_i^2 s^2 + sigma_i^2). Tolerance 1e-4 of the largest
// value: the float32 tables against the schedule's float64 sums, divided by alpha (3.2e-5 measured, at label 998
// where alpha is 6e-3). With the continuous SDE's schedule it was 4.4e-4 at label 1 and 3.6e-2 at label 998.
TEST(FastSamplers, DiscreteVpDenoiserGivesThePosteriorMeanOfItsTable) {
  auto vp = std::make_shared<sdes::VPSDE>(0.1, 20.0, 1000);
  NoiseSchedule schedule(vp, /*continuous=*/false);
  auto table = [&](const torch::Tensor& labels, const torch::Tensor& values) {
    return values.index({labels.round().to(torch::kLong)}).to(torch::kFloat64).view({-1, 1, 1, 1});
  };
  sdes::ModelFn eps = [&](const torch::Tensor& x, const torch::Tensor& labels) {
    const auto a = table(labels, vp->sqrt_alphas_cumprod()), s = table(labels, vp->sqrt_1m_alphas_cumprod());
    return s * (x - a * kMu) / (a * a * kS * kS + s * s);
  };
  DataPrediction denoise(schedule, sdes::make_score_fn(vp, eps, /*continuous=*/false));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const auto x = torch::randn({8, 1, 2, 2}, gen, torch::kFloat64);
  for (int64_t label : {1, 10, 250, 600, 998}) {
    const auto labels = torch::full({8}, static_cast<double>(label), torch::kFloat64);
    const auto a = table(labels, vp->sqrt_alphas_cumprod()), s = table(labels, vp->sqrt_1m_alphas_cumprod());
    const auto want = kMu + a * kS * kS * (x - a * kMu) / (a * a * kS * kS + s * s);
    const auto got = denoise(x, static_cast<double>(label) / 999.0);
    EXPECT_LE((got - want).abs().max().item<double>(), 1e-4 * want.abs().max().item<double>()) << "label " << label;
  }
}

// FewStepSampler takes the DDPM table for a network trained with training.continuous false: a perfect network
// of that table (between labels, as DPM-Solver's schedule assumes) is carried along the table's exact flow, to the
// accuracy of DPM-Solver-3 (singlestep) at 150 steps.
TEST(FastSamplers, FewStepSamplersFollowTheTableOfADiscreteVpNetwork) {
  auto vp = std::make_shared<sdes::VPSDE>(0.1, 20.0, 1000);
  Gaussian g{NoiseSchedule(vp, /*continuous=*/false)};
  sdes::ModelFn eps = [&](const torch::Tensor& x, const torch::Tensor& labels) {
    const double t = labels[0].item<double>() / 999.0;
    return g.schedule.sigma(t) * (x - g.schedule.alpha(t) * kMu) / g.v(t);
  };
  const auto x_T = g.start();
  const auto want = g.flow(x_T, kT, kEps);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  SamplingOptions o;
  o.method = "dpm_solver";
  o.solver_order = 3;
  o.dpm_method = "singlestep";
  o.steps = 150;
  o.noise_removal = false;
  o.continuous = false;
  FewStepSampler few(vp, sdes::make_score_fn(vp, eps, /*continuous=*/false), o);
  const auto got = few.run(x_T, gen);
  const double err = (got - want).abs().max().item<double>() / want.abs().max().item<double>();
  std::printf("dpm_solver 3S on the DDPM table: rel. error %.3g\n", err);
  EXPECT_LT(err, 1e-4);  // 1.3e-5 measured; 1.5e-3 on the continuous SDE's schedule
}

TEST(FastSamplers, GridsStartAndStopWhereAskedAndFollowTheirSpacing) {
  NoiseSchedule vp(sde_named(sdes::SdeKind::VP));
  const auto lsnr = time_steps(vp, "logsnr", kT, kEps, 10);
  ASSERT_EQ(lsnr.size(), 11u);
  EXPECT_EQ(lsnr.front(), kT);
  EXPECT_EQ(lsnr.back(), kEps);
  const double dl = vp.lambda(lsnr[1]) - vp.lambda(lsnr[0]);
  for (size_t i = 1; i < lsnr.size(); ++i) EXPECT_NEAR(vp.lambda(lsnr[i]) - vp.lambda(lsnr[i - 1]), dl, 1e-9);
  // EDM's published 18-level grid from 80 to 0.002 (rho 7) on a VE SDE whose sigma spans that range.
  NoiseSchedule ve(std::make_shared<sdes::VESDE>(0.002, 80.0, 1000));
  const auto edm = time_steps(ve, "edm", 1.0, 1e-9, 17);
  EXPECT_NEAR(ve.edm_sigma(edm[1]), 57.585985, 1e-5);
  EXPECT_NEAR(ve.edm_sigma(edm[9]), 1.92334, 1e-5);
  EXPECT_THROW(time_steps(vp, "cosine", kT, kEps, 10), Error);
}

}  // namespace fast_samplers_test
}  // namespace scorch::sampler
