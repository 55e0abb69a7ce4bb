// Streams from (seed, id) are reproducible and distinct; generator state survives a text round trip.
#include "core/rng.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace scorch {
namespace {

TEST(Rng, SameSeedAndStreamGiveTheSameNumbers) {
  auto a = cpu_generator(42, 7), b = cpu_generator(42, 7), c = cpu_generator(42, 8), d = cpu_generator(43, 7);
  auto x = torch::randn({100}, a), y = torch::randn({100}, b);
  EXPECT_TRUE(torch::equal(x, y));
  EXPECT_FALSE(torch::equal(x, torch::randn({100}, c)));
  EXPECT_FALSE(torch::equal(x, torch::randn({100}, d)));
  EXPECT_NE(mix_seed(0, 0), mix_seed(0, 1));
  EXPECT_NE(mix_seed(1, 0), mix_seed(0, 1));
}

TEST(Rng, StateRoundTripResumesTheStream) {
  auto g = cpu_generator(1, 2);
  torch::randn({17}, g);
  std::string saved = generator_state(g);
  auto expected = torch::randn({50}, g);
  auto h = cpu_generator(99, 99);
  set_generator_state(h, saved);
  EXPECT_TRUE(torch::equal(torch::randn({50}, h), expected));
}

TEST(Rng, CorruptStateIsRefused) {
  auto g = cpu_generator(1, 2);
  EXPECT_THROW(set_generator_state(g, "abc"), Error);
  EXPECT_THROW(set_generator_state(g, "ab!d"), Error);
}

}  // namespace
}  // namespace scorch
