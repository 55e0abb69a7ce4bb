// The CI versions of tests/reliability/'s campaigns (docs/reliability.md). kill -9: a 2-rank training run
// and a 2-rank sampler farm, each SIGKILLed 5 times at seeded random moments (the whole job or one rank) and
// restarted, end bitwise equal to an uninterrupted run, with every checkpoint complete after every kill and
// every restart resuming from the newest one. Stopped rank: the watchdog ends a training job whose rank 1
// was SIGSTOPped. Load: 8 ranks on this machine's cores write 1,000 batches, each once, equal to a 2-rank
// run, without growing in memory.
#include <gtest/gtest.h>

#include "support/run.h"

namespace scorch {
namespace kill_campaign {

// Runs tests/reliability/SCRIPT with `before`, a scratch directory named after `tag`, then `after`.
test::RunResult campaign(const std::string& script, const std::string& tag, const std::string& before,
                         const std::string& after, int timeout_s) {
  const auto dir = test::temp_dir(tag);
  return test::run("SCORCH='" + test::scorch_bin() + "' '" + test::source_dir() + "/tests/reliability/" + script +
                       "' " + before + " '" + dir + "/c' " + after,
                   timeout_s);
}

// The campaign's verdict: all 5 kills landed, or fewer when a resumed run finished before its kill (under load
// the last runs are short; the script then stops, as there is nothing left to kill). At least 3 must land.
void expect_survived(const test::RunResult& r) {
  EXPECT_EQ(r.code, 0) << r.output;
  const auto at = r.output.find("survived ");
  ASSERT_NE(at, std::string::npos) << r.output;
  const int landed = std::stoi(r.output.substr(at + 9));
  const auto verdict = fmt::format("survived {0}/{0} kills (", landed);
  EXPECT_EQ(r.output.compare(at, verdict.size(), verdict), 0) << r.output;
  if (landed < 5) {
    EXPECT_GE(landed, 3) << r.output;
    EXPECT_NE(r.output.find("one run finished before its kill; ", at), std::string::npos) << r.output;
  }
  EXPECT_NE(r.output.find("final result bitwise equal to the uninterrupted run", at), std::string::npos) << r.output;
}

TEST(KillCampaign, TrainingSurvivesFiveRandomKills) {
  const auto r = campaign("kill_campaign.sh", "kill_train", "train 5 1", "", 400);
  expect_survived(r);
}

TEST(KillCampaign, SamplerFarmSurvivesFiveRandomKills) {
  const auto r = campaign("kill_campaign.sh", "kill_sample", "sample 5 2", "", 400);
  expect_survived(r);
}

// A rank that stops answering (SIGSTOP: a hung node, a debugger) in the middle of training: the others' watchdog
// ends the whole job within dist.timeout_s, naming the section it stalled in, instead of hanging it.
TEST(StoppedRank, TheWatchdogEndsTheJobWithinTheTimeout) {
  const auto r = campaign("stopped_rank.sh", "stopped_rank", "", "3", 120);
  EXPECT_EQ(r.code, 0) << r.output;
  const auto at = r.output.find(" s after rank 1 stopped");
  ASSERT_NE(at, std::string::npos) << r.output;
  const auto from = r.output.rfind(") ", at);
  EXPECT_LE(std::stoi(r.output.substr(from + 2)), 20) << r.output;
  EXPECT_NE(r.output.find("dist.timeout_s = 3"), std::string::npos) << r.output;
}

TEST(FarmLoad, EightOversubscribedRanksWriteAThousandBatchesEachOnce) {
  const auto r = campaign("farm_load.sh", "farm_load", "8 1000", "", 400);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1000 batches in"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("every batch once, equal to a 2-rank run"), std::string::npos) << r.output;
}

}  // namespace kill_campaign
}  // namespace scorch
