// PerExampleNoise: each example's numbers come from its own stream (seed, step, global index) and nothing else.
#include "trainer/loss_noise.h"

#include <gtest/gtest.h>

#include "core/rng.h"

namespace scorch {
namespace {

constexpr uint64_t kSeed = 1234;
constexpr int64_t kStep = 7, kFirst = 5, kN = 3;

// The order a loss might draw in; the normals cover CPU randn's two paths (under 16 numbers an example, and
// from 16 on, where it fills in blocks of 16).
struct Draws {
  torch::Tensor t, z_small, z_large, labels;
};
Draws draw(trainer::LossNoise& noise) {
  const auto opts = torch::TensorOptions(torch::kFloat32);
  Draws d;
  d.t = noise.uniform(kN, opts);                   // (B,)
  d.z_small = noise.normal({kN, 1, 2, 3}, opts);   // (B, 1, 2, 3)
  d.z_large = noise.normal({kN, 2, 5, 5}, opts);   // (B, 2, 5, 5)
  d.labels = noise.labels(kN, 1000, torch::kCPU);  // (B,)
  return d;
}

TEST(PerExampleNoise, EachExampleDrawsFromItsOwnStream) {
  trainer::PerExampleNoise noise(kSeed, kStep, kFirst, kN);
  const auto d = draw(noise);
  for (int64_t i = 0; i < kN; ++i) {
    SCOPED_TRACE(i);
    auto gen = cpu_generator(mix_seed(kSeed, kStep), static_cast<uint64_t>(kFirst + i));
    EXPECT_TRUE(torch::equal(d.t[i], torch::rand({1}, gen)[0]));
    EXPECT_TRUE(torch::equal(d.z_small[i], torch::randn({1, 2, 3}, gen)));
    EXPECT_TRUE(torch::equal(d.z_large[i], torch::randn({2, 5, 5}, gen)));
    EXPECT_TRUE(torch::equal(d.labels[i], torch::randint(1000, {1}, gen)[0]));
  }
}

// Captured from the element-by-element implementation this one replaced: checkpoints carry only the seed and
// the step, so a resumed run must draw what the run that wrote them would have drawn. Uniforms and labels
// are integer arithmetic on the stream (exact); normals go through libm, or vector code from 16 numbers
// an example, whose last bit may differ between CPUs.
TEST(PerExampleNoise, NumbersAreThoseOfEarlierVersions) {
  const float t[] = {0.108873129f, 0.494123459f, 0.0468698144f};
  const int64_t labels[] = {452, 884, 684};
  const float z_small[][2] = {{-0.743113995f, 0.469463587f},
                              {-1.43028319f, -0.0802500844f},
                              {-0.330296129f, -0.15158169f}};  // elements 0 and 5
  const float z_large[][2] = {
      {0.0728237331f, 0.1790611f}, {-0.866812468f, 0.0481799431f}, {-1.24151361f, 0.509635091f}};  // elements 0 and 49
  trainer::PerExampleNoise noise(kSeed, kStep, kFirst, kN);
  const auto d = draw(noise);
  for (int64_t i = 0; i < kN; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(d.t[i].item<float>(), t[i]);
    EXPECT_EQ(d.labels[i].item<int64_t>(), labels[i]);
    const auto small = d.z_small[i].flatten(), large = d.z_large[i].flatten();
    EXPECT_NEAR(small[0].item<float>(), z_small[i][0], 1e-6);
    EXPECT_NEAR(small[5].item<float>(), z_small[i][1], 1e-6);
    EXPECT_NEAR(large[0].item<float>(), z_large[i][0], 1e-6);
    EXPECT_NEAR(large[49].item<float>(), z_large[i][1], 1e-6);
  }
}

}  // namespace
}  // namespace scorch
