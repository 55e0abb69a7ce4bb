// Distributed sampler: per-epoch permutations, identical global batches for W = 1, 2, 4, and resume.
#include "data/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"

namespace scorch::data {
namespace {

// The concatenated global stream of `batches` batches as the ranks of a W-world see it.
std::vector<int64_t> stream(int64_t n, int64_t batch, int world, int64_t batches, SamplerState start = {},
                            bool drop_last = true) {
  std::vector<DistributedSampler> ranks;
  for (int r = 0; r < world; ++r) {
    ranks.emplace_back(n, batch, 7, r, world, drop_last);
    ranks.back().set_state(start);
  }
  std::vector<int64_t> out;
  for (int64_t b = 0; b < batches; ++b)
    for (auto& s : ranks) {
      auto part = s.next();
      EXPECT_EQ(static_cast<int64_t>(part.size()), batch / world);
      out.insert(out.end(), part.begin(), part.end());
    }
  return out;
}

TEST(Sampler, PermutationIsFixedBySeedAndEpoch) {
  const auto p = epoch_permutation(1000, 7, 0);
  auto sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(p, epoch_permutation(1000, 7, 0));
  EXPECT_NE(p, epoch_permutation(1000, 7, 1));
  EXPECT_NE(p, epoch_permutation(1000, 8, 0));
  // Pinned values (computed once by a standalone copy of the algorithm): a change here means the data
  // order of every resumed run changed.
  EXPECT_EQ(epoch_permutation(10, 0, 0), (std::vector<int64_t>{1, 7, 9, 2, 5, 3, 8, 4, 6, 0}));
}

TEST(Sampler, EpochUnionIsAPermutationAndSameForWorldSizes) {
  const int64_t n = 96, batch = 8;
  const auto w1 = stream(n, batch, 1, n / batch);
  auto sorted = w1;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(stream(n, batch, 2, n / batch), w1);
  EXPECT_EQ(stream(n, batch, 4, n / batch), w1);
}

TEST(Sampler, DropLastSkipsTheTailAndStartsTheNextEpoch) {
  const int64_t n = 10, batch = 4;
  DistributedSampler s(n, batch, 7, 0, 1, true);
  EXPECT_EQ(s.batches_per_epoch(), 2);
  const auto perm0 = epoch_permutation(n, 7, 0), perm1 = epoch_permutation(n, 7, 1);
  EXPECT_EQ(s.next(), std::vector<int64_t>(perm0.begin(), perm0.begin() + 4));
  EXPECT_EQ(s.next(), std::vector<int64_t>(perm0.begin() + 4, perm0.begin() + 8));
  EXPECT_EQ(s.next(), std::vector<int64_t>(perm1.begin(), perm1.begin() + 4));  // perm0[8..9] dropped
  EXPECT_EQ(s.state(), (SamplerState{1, 4}));
}

TEST(Sampler, WithoutDropLastTheLastBatchWrapsAround) {
  DistributedSampler s(10, 4, 7, 0, 1, false);
  EXPECT_EQ(s.batches_per_epoch(), 3);
  const auto p = epoch_permutation(10, 7, 0);
  s.next(), s.next();
  EXPECT_EQ(s.next(), (std::vector<int64_t>{p[8], p[9], p[0], p[1]}));
  EXPECT_EQ(s.state(), (SamplerState{1, 0}));
}

TEST(Sampler, ResumeContinuesTheStreamAlsoWithAnotherWorldSize) {
  const int64_t n = 100, batch = 8;
  const auto full = stream(n, batch, 1, 30);  // crosses three epochs
  DistributedSampler probe(n, batch, 7, 0, 2);
  for (int i = 0; i < 17; ++i) probe.next();
  const SamplerState saved = probe.state();  // epoch 1, 40 consumed
  EXPECT_EQ(saved, (SamplerState{1, 40}));
  const std::vector<int64_t> rest(full.begin() + 17 * batch, full.end());
  EXPECT_EQ(stream(n, batch, 4, 13, saved), rest);
  EXPECT_EQ(stream(n, batch, 1, 13, saved), rest);
}

TEST(Sampler, BadArgumentsAreErrors) {
  EXPECT_THROW(DistributedSampler(100, 6, 0, 0, 4), Error);  // 6 not divisible by 4
  EXPECT_THROW(DistributedSampler(3, 8, 0, 0, 1), Error);    // fewer items than a batch
  DistributedSampler s(100, 8, 0, 0, 1);
  EXPECT_THROW(s.set_state({0, 200}), Error);
}

}  // namespace
}  // namespace scorch::data
