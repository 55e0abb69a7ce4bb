// The short kill -9 campaigns (tests/reliability/kill_campaign.sh, docs/reliability.md): a 2-rank training
// run and a 2-rank sampler farm, each SIGKILLed 5 times at seeded random moments (the whole job or one
// rank) and restarted, end bitwise equal to an uninterrupted run, with every checkpoint complete after
// every kill and every restart resuming from the newest one.
#include <gtest/gtest.h>

#include "support/run.h"

namespace scorch {
namespace kill_campaign {

std::string campaign(const std::string& mode, int seed) {
  const auto dir = test::temp_dir("kill_" + mode);
  return "SCORCH='" + test::scorch_bin() + "' '" + test::source_dir() + "/tests/reliability/kill_campaign.sh' " + mode +
         " 5 " + std::to_string(seed) + " '" + dir + "/c'";
}

TEST(KillCampaign, TrainingSurvivesFiveRandomKills) {
  const auto r = test::run(campaign("train", 1), 400);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("survived 5/5 kills (final result bitwise equal"), std::string::npos) << r.output;
}

TEST(KillCampaign, SamplerFarmSurvivesFiveRandomKills) {
  const auto r = test::run(campaign("sample", 2), 400);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("survived 5/5 kills (final result bitwise equal"), std::string::npos) << r.output;
}

}  // namespace kill_campaign
}  // namespace scorch
