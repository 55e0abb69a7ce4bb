// Prefetching loader: exact values after the transforms, same stream for any thread count, errors surface.
#include "data/loader.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "data/synth.h"
#include "data_test_util.h"
#include "support/run.h"

namespace scorch::data {
namespace {

TEST(Loader, BatchesMatchTheSamplerAndTheTransform) {
  const auto dir = test::temp_dir("loader");
  test_util::pack_random(dir, 40, 6, 5, 3, 16);
  auto ds = std::make_shared<const Dataset>(dir);
  LoaderOptions o;
  o.global_batch = 8, o.seed = 3, o.reader_threads = 2, o.prefetch_batches = 3;
  Loader loader(ds, o);
  DistributedSampler sampler(40, 8, 3, 0, 1);
  for (int b = 0; b < 12; ++b) {  // more than two epochs
    const auto batch = loader.next();
    const auto idx = sampler.next();
    ASSERT_EQ(batch.images.sizes(), (std::vector<int64_t>{8, 3, 6, 5}));
    auto raw = ds->read_items(idx);  // (B, H, W, C) uint8
    // Exact: x/255 in float32 (the test computes the same single-precision product).
    EXPECT_TRUE(torch::equal(batch.images, raw.permute({0, 3, 1, 2}).to(torch::kFloat32) * (1.0f / 255.0f)));
    EXPECT_TRUE(torch::equal(batch.labels, ds->read_labels(idx)));
    EXPECT_EQ(batch.state, sampler.state());
  }
  EXPECT_GE(loader.wait_seconds(), 0.0);
}

TEST(Loader, FlipAndNoiseDependOnlyOnTheStream) {
  const auto dir = test::temp_dir("flip");
  test_util::pack_random(dir, 64, 4, 4, 1, 0);
  auto ds = std::make_shared<const Dataset>(dir);
  auto run = [&](int threads, int world, int rank) {
    LoaderOptions o;
    o.global_batch = 16, o.reader_threads = threads, o.rank = rank, o.world = world;
    o.transform = {true, true, true, 5};
    Loader loader(ds, o);
    std::vector<torch::Tensor> out;
    for (int b = 0; b < 6; ++b) out.push_back(loader.next().images);
    return torch::cat(out);
  };
  const auto one = run(1, 1, 0);
  EXPECT_TRUE(torch::equal(one, run(2, 1, 0)));
  // Rank 1 of 2 sees the second half of each global batch, with the same flips and noise.
  const auto half = run(2, 2, 1);
  for (int b = 0; b < 6; ++b)
    EXPECT_TRUE(torch::equal(half.slice(0, b * 8, b * 8 + 8), one.slice(0, b * 16 + 8, b * 16 + 16)));
  EXPECT_GE(one.min().item<float>(), -1.0f);
  EXPECT_LT(one.max().item<float>(), 1.0f);
  // Some images flipped and some not: each row reversed or equal to the unflipped transform.
  LoaderOptions plain;
  plain.global_batch = 16, plain.transform = {false, true, true, 5};
  Loader unflipped(ds, plain);
  const auto ref = unflipped.next().images;
  int flipped = 0;
  for (int i = 0; i < 16; ++i) {
    const bool same = torch::allclose(one[i], ref[i], 0, 1.0 / 128),
               mirrored = torch::allclose(one[i], ref[i].flip({2}), 0, 1.0 / 128);
    EXPECT_TRUE(same || mirrored) << i;
    flipped += mirrored && !same;
  }
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 16);
}

TEST(Loader, ResumeFromBatchStateContinues) {
  const auto dir = test::temp_dir("resume");
  test_util::pack_random(dir, 30, 2, 2, 1, 0);
  auto ds = std::make_shared<const Dataset>(dir);
  LoaderOptions o;
  o.global_batch = 4;
  Loader a(ds, o);
  for (int i = 0; i < 5; ++i) a.next();
  const auto saved = a.next().state;
  const auto expect = a.next().indices;
  Loader b(ds, o, saved);
  EXPECT_TRUE(torch::equal(b.next().indices, expect));
}

TEST(Loader, PointsComeBackAsStoredFloats) {
  const auto dir = test::temp_dir("points");
  synth_mixture(make_mixture(3, 2, 0), 50, 0, "test", {dir, 20, false}, *test_util::local_comm());
  auto ds = std::make_shared<const Dataset>(dir);
  LoaderOptions o;
  o.global_batch = 10;
  Loader loader(ds, o);
  const auto batch = loader.next();
  ASSERT_EQ(batch.images.sizes(), (std::vector<int64_t>{10, 3}));
  std::vector<int64_t> idx(batch.indices.data_ptr<int64_t>(), batch.indices.data_ptr<int64_t>() + 10);
  EXPECT_TRUE(torch::equal(batch.images, ds->read_items(idx)));
}

TEST(Loader, ReaderErrorReachesTheConsumer) {
  const auto dir = test::temp_dir("loader_err");
  test_util::pack_random(dir, 20, 4, 4, 1, 10);
  std::filesystem::remove(dir + "/shard-00001.h5");
  auto ds = std::make_shared<const Dataset>(dir);
  LoaderOptions o;
  o.global_batch = 20;
  Loader loader(ds, o);
  try {
    loader.next();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shard-00001.h5"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace scorch::data
