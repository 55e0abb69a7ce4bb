// Progress inside a sample batch: lines with t, the noise level and an ETA once a batch runs long, none for a
// short batch or on other ranks; the PC and ODE samplers report their time steps from T down to eps.
#include "sampler/batch_progress.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/config.h"
#include "core/rng.h"
#include "core/sdes/sde.h"
#include "sampler/ode_sampler.h"
#include "sampler/pc_sampler.h"
#include "support/log_capture.h"

namespace scorch::sampler {
namespace {

double sigma(double t) { return 2.0 * t; }

TEST(BatchProgress, LongBatchesLogTimeNoiseLevelAndEta) {
  BatchProgress p(sigma, 1.0, 0.0, /*enabled=*/true, /*quiet_s=*/0.0, /*every_s=*/0.0);
  p.start("sampling batch 3");
  const auto log = test::log_of([&] { p.at(0.75); });
  EXPECT_NE(log.find("sampling batch 3: t = 0.75, noise level 1.5, 25% of the reverse process"), std::string::npos)
      << log;
  EXPECT_NE(log.find("batch ETA 0:00:00"), std::string::npos) << log;
}

TEST(BatchProgress, ShortBatchesAndOtherRanksStaySilentAndLinesAreThrottled) {
  BatchProgress quiet(sigma, 1.0, 0.0, true, /*quiet_s=*/3600.0, 0.0);
  quiet.start("b");
  EXPECT_EQ(test::log_of([&] { quiet.at(0.5); }), "");
  BatchProgress other_rank(sigma, 1.0, 0.0, /*enabled=*/false, 0.0, 0.0);
  other_rank.start("b");
  EXPECT_EQ(test::log_of([&] { other_rank.at(0.5); }), "");
  BatchProgress throttled(sigma, 1.0, 0.0, true, 0.0, /*every_s=*/3600.0);
  throttled.start("b");
  const auto log = test::log_of([&] {
    for (double t : {0.9, 0.8, 0.7}) throttled.at(t);
  });
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
}

sdes::ScoreFn zero_score() {
  return [](const torch::Tensor& x, const torch::Tensor&) { return torch::zeros_like(x); };
}

TEST(BatchProgress, SamplersReportTheirTimesFromTDownToEps) {
  const auto sde = sdes::make_sde(Config::resolve("", {"model.num_scales=5"}));
  SamplingOptions o;
  o.corrector = "none";
  o.ode_solver = "euler";
  o.ode_steps = 4;
  std::vector<double> ts;
  const TimeHook record = [&](double t) { ts.push_back(t); };
  PcSampler pc(sde, zero_score(), o);
  pc.set_time_hook(record);
  auto gen = cpu_generator(0, 0);
  pc.run(torch::zeros({1, 1, 2, 2}), gen);
  ASSERT_EQ(ts.size(), 5u);
  EXPECT_DOUBLE_EQ(ts.front(), sde->T());
  EXPECT_NEAR(ts.back(), o.eps, 1e-7);
  ts.clear();
  OdeSampler ode(sde, zero_score(), o);
  ode.set_time_hook(record);
  ode.sample(torch::zeros({1, 1, 2, 2}));
  ASSERT_GE(ts.size(), 4u);
  EXPECT_DOUBLE_EQ(ts.front(), sde->T());
  EXPECT_LT(ts.back(), 0.3);
}

}  // namespace
}  // namespace scorch::sampler
