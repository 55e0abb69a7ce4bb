// FID feature statistics under mpirun -np 2 equal those of one process over the same images.
#include <gtest/gtest.h>
#include <stb_image_write.h>

#include <filesystem>

#include "core/dist/communicator.h"
#include "eval/extract.h"
#include "support/run.h"

namespace scorch::eval {
namespace {

// One process on its own, even inside a 2-rank job: every collective is the identity.
class SoloComm : public dist::Communicator {
 public:
  SoloComm() : Communicator(0, 1) {}
  std::string backend() const override { return "solo"; }
  void all_reduce_sum(torch::Tensor&) override {}
  void broadcast(torch::Tensor&, int) override {}
  torch::Tensor all_gather(const torch::Tensor& t) override { return t.unsqueeze(0); }
  int64_t all_reduce_sum(int64_t x) override { return x; }
  int64_t all_reduce_max(int64_t x) override { return x; }
};

TEST(FidStats, TwoRanksGiveTheStatisticsOfOne) {
  auto comm = dist::make_communicator("auto", torch::Device(torch::kCPU));
  ASSERT_EQ(comm->world(), 2) << "run under mpirun -np 2";
  // Each rank writes the same 7 images (odd count, batch 2: 4 batches, rank 0 gets one more).
  const auto dir = test::temp_dir("fidstats");
  torch::manual_seed(3);
  for (int i = 0; i < 7; ++i) {
    auto img = torch::randint(0, 256, {20 + i, 24, 3}).to(torch::kByte).contiguous();
    stbi_write_png((dir + "/" + std::to_string(i) + ".png").c_str(), 24, 20 + i, 3, img.data_ptr(), 24 * 3);
  }
  torch::manual_seed(0);  // same random network on both ranks
  InceptionV3 model;
  model->fuse();
  ExtractOptions o;
  o.batch_size = 2;
  o.input_size = 80;  // a small network input keeps the test fast; the batching logic is the same
  o.logits = o.keep_features = true;
  auto source = open_image_source(dir);
  auto two = extract(*source, model, o, *comm, *comm);
  SoloComm solo;
  auto one = extract(*source, model, o, solo, solo);
  EXPECT_EQ(two.stats.count, 7);
  EXPECT_EQ(one.stats.count, 7);
  // Every image runs in the same batch either way, so features and logits are bitwise equal; the
  // float64 sums differ only in summation order: relative 1e-12.
  EXPECT_TRUE(torch::equal(two.features, one.features));
  EXPECT_TRUE(torch::equal(two.logits, one.logits));
  EXPECT_TRUE(torch::allclose(two.stats.mu, one.stats.mu, 1e-12, 0));
  const double scale = one.stats.sigma.abs().max().item<double>();
  EXPECT_LE((two.stats.sigma - one.stats.sigma).abs().max().item<double>(), 1e-12 * scale);
}

}  // namespace
}  // namespace scorch::eval
