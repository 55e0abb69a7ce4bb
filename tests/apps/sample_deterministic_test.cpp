// sampling.deterministic: fixed threads per rank make the samples independent of how many ranks (and so how
// many threads each) a job had, and every batch records what it ran with.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "support/run.h"
#include "support/tiny_checkpoint.h"

namespace scorch {
namespace sample_deterministic_test {

using nlohmann::json;

std::vector<std::string> shard_checksums(const std::string& samples) {
  std::vector<std::string> out;
  for (const auto& e : json::parse(read_file(samples + "/manifest.json")).at("shards"))
    out.push_back(e.at("sha256").get<std::string>());
  return out;
}

// Without the mode, 1 rank x 2 threads and 3 ranks x 1 thread were seen to differ by one 8-bit level in 48
// images (the intra-op split changes float summation order); with it both run 1 thread per rank.
TEST(SampleDeterministic, OneRankWithTwoThreadsEqualsThreeRanksBitwise) {
  const auto dir = test::temp_dir("sampledet");
  test::write_tiny_run(dir + "/run", "ve_tiny.yaml", {"model.num_scales=10"});
  const std::string args = " sample --ckpt " + dir + "/run --num 24 --batch 8 --sampling.deterministic true --out ";
  auto one = test::run("OMP_NUM_THREADS=2 " + test::scorch_bin() + args + dir + "/one 2>&1", 300);
  ASSERT_EQ(one.code, 0) << one.output;
  auto three = test::run("mpirun -np 3 --oversubscribe " + test::scorch_bin() + args + dir + "/three 2>&1", 300);
  ASSERT_EQ(three.code, 0) << three.output;
  EXPECT_EQ(shard_checksums(dir + "/one"), shard_checksums(dir + "/three"));
  std::set<int> ranks;
  for (auto name : {"shard-00000", "shard-00001", "shard-00002"}) {
    const auto info = json::parse(read_file(dir + "/three/runinfo/" + name + ".json"));
    EXPECT_EQ(info.at("threads").get<int>(), 1);
    EXPECT_EQ(info.at("device"), "cpu");
    EXPECT_EQ(info.at("world").get<int>(), 3);
    EXPECT_GT(info.at("nfe").get<int>(), 0);
    ranks.insert(info.at("rank").get<int>());
  }
  EXPECT_FALSE(ranks.empty());
  const auto info = json::parse(read_file(dir + "/one/runinfo/shard-00000.json"));
  EXPECT_EQ(info.at("threads").get<int>(), 1) << "OMP_NUM_THREADS must not win over sampling.threads";
}

}  // namespace sample_deterministic_test
}  // namespace scorch
