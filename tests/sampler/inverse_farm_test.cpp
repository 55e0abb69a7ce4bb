// Inpainting and colorization over a dataset with the farm: known pixels come back exactly, the gray is
// kept, --num is cut to the dataset, the input grid is written, and a dataset of another shape is refused.
#include "sampler/inverse_farm.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/config.h"
#include "core/dist/mpi_comm.h"
#include "core/error.h"
#include "core/models/score_model.h"
#include "data/dataset.h"
#include "data/pack.h"
#include "data/synth.h"
#include "support/run.h"

namespace scorch::sampler {
namespace {

namespace fs = std::filesystem;
using torch::indexing::Slice;

class InverseFarm : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("inversefarm");
    // 10 noise levels and nf 8: a batch takes well under a second on one core.
    config_ =
        Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml", {"model.num_scales=10", "model.nf=8"});
    torch::manual_seed(0);
    model_ = models::make_model(config_);
    data::synth_shapes(3, 16, 3, 1, "test", {dir_ + "/shapes", 0, false}, comm_);
  }
  FarmOptions farm(const std::string& out) const {
    FarmOptions o;
    o.out = dir_ + "/" + out;
    o.num = 10;  // more than the dataset holds
    o.batch = 2;
    o.seed = 3;
    o.grid = 4;
    return o;
  }
  std::string dir_;
  Config config_;
  std::shared_ptr<models::ScoreModelImpl> model_;
  dist::LocalCommunicator comm_;
};

TEST_F(InverseFarm, InpaintingKeepsTheKnownPixelsOfEveryImage) {
  DiffusionSampler sampler(*model_, config_, torch::Device(torch::kCPU));
  const auto r =
      run_inverse_farm(sampler, InverseProblem{dir_ + "/shapes", false, "left"}, config_, farm("inp"), comm_);
  EXPECT_EQ(r.images, 3);
  EXPECT_EQ(r.batches, 2);
  EXPECT_TRUE(fs::exists(dir_ + "/inp/input-grid.png"));
  const std::vector<int64_t> all{0, 1, 2};
  auto in = data::Dataset(dir_ + "/shapes").read_items(all), out = data::Dataset(dir_ + "/inp").read_items(all);
  // (3, 16, 16, 3): the left half is known.
  EXPECT_TRUE(torch::equal(in.index({Slice(), Slice(), Slice(0, 8)}), out.index({Slice(), Slice(), Slice(0, 8)})));
  EXPECT_FALSE(torch::equal(in, out));
}

// The reference's inpainter ends at 1e-5 for every SDE, where unconditional VP sampling ends at 1e-3: the farm
// takes sampling.inverse_eps, not sampling.eps.
TEST_F(InverseFarm, EndsAtInverseEpsNotAtTheSamplersEps) {
  auto inpainted = [&](const std::string& out, const std::vector<std::string>& sets) {
    auto sets_all = sets;
    sets_all.insert(sets_all.begin(), {"model.num_scales=10", "model.nf=8"});
    const auto config = Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml", sets_all);
    DiffusionSampler sampler(*model_, config, torch::Device(torch::kCPU));
    run_inverse_farm(sampler, InverseProblem{dir_ + "/shapes", false, "left"}, config, farm(out), comm_);
    return data::Dataset(dir_ + "/" + out).read_items(std::vector<int64_t>{0, 1, 2});
  };
  const auto base = inpainted("eps-base", {});
  EXPECT_TRUE(torch::equal(base, inpainted("eps-sampling", {"sampling.eps=0.2"})));
  EXPECT_FALSE(torch::equal(base, inpainted("eps-inverse", {"sampling.inverse_eps=0.2"})));
}

TEST_F(InverseFarm, ColorizationKeepsTheGray) {
  DiffusionSampler sampler(*model_, config_, torch::Device(torch::kCPU));
  const auto r = run_inverse_farm(sampler, InverseProblem{dir_ + "/shapes", true}, config_, farm("col"), comm_);
  EXPECT_EQ(r.images, 3);
  const std::vector<int64_t> all{0, 1, 2};
  auto gray = data::Dataset(dir_ + "/shapes").read_items(all).to(torch::kFloat).mean(3);
  auto rgb = data::Dataset(dir_ + "/col").read_items(all).to(torch::kFloat);  // (3, 16, 16, 3)
  // Up to 8-bit rounding: half a level per channel.
  EXPECT_LE((gray - rgb.mean(3)).abs().max().item<double>(), 0.5 + 1e-3);
}

TEST_F(InverseFarm, RefusesADatasetOfAnotherShape) {
  data::synth_shapes(2, 8, 3, 1, "test", {dir_ + "/small", 0, false}, comm_);
  DiffusionSampler sampler(*model_, config_, torch::Device(torch::kCPU));
  try {
    run_inverse_farm(sampler, InverseProblem{dir_ + "/small"}, config_, farm("bad"), comm_);
    FAIL() << "an 8x8 dataset for a 16x16 model was accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("the model makes 16x16x3 images"), std::string::npos) << e.message();
  }
  EXPECT_FALSE(fs::exists(dir_ + "/bad/manifest.json"));
}

}  // namespace
}  // namespace scorch::sampler
