// Whole-step CUDA graphs of the PC sampler: replayed steps equal eager ones over batches, generators, SDEs,
// predictors and correctors, and a step that cannot be captured runs eager with the right NFE.
#include "sampler/pc_step_graph.h"

#include "cuda/cuda_test_util.h"
#include "sampler/diffusion_sampler.h"
#include "sampler/model_fn.h"
#include "sampler/pc_sampler.h"

namespace scorch {
namespace {

using test::kCuda;

struct Case {
  std::string name, config;
  std::vector<std::string> sets;
  int64_t nfe_per_level;  // corrector steps + predictor call
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class PcStepGraph : public ::testing::TestWithParam<Case> {};

// fp32, TF32 off. A replay runs the captured step's kernels and draws its noise at the offsets the eager step
// draws at, so only cuDNN choosing other algorithms between capture and eager could move the images; 1e-6 of
// the largest value bounds that, as for the network graph (cuda_graph_test.cpp). The samples are compared
// unclipped: the perturbed model's images lie mostly outside [0, 1], where clipping would hide a wrong draw.
TEST_P(PcStepGraph, SamplesEqualEagerStepsOverBatchesAndSizes) {
  SCORCH_REQUIRE_CUDA();
  test::NoTf32 fp32;
  const int64_t levels = 40;  // the DDPM chain needs beta_max / N < 1
  // Batches 0 and 1 of 5 images (the second replays the first's capture with its own generator: replays that
  // drew from the capture's seed would leave it unequal to eager), then a batch of 3 (a second capture).
  const std::vector<std::pair<int64_t, int64_t>> batches{{5, 0}, {5, 1}, {3, 2}};
  torch::Tensor images[2][3];
  int64_t nfe[2][3];
  const auto steps_before = sampler::pc_step_graph_stats();
  const auto network_before = sampler::cuda_graph_stats();
  for (int graph = 0; graph < 2; ++graph) {
    auto sets = GetParam().sets;
    sets.push_back("model.num_scales=" + std::to_string(levels));
    sets.push_back(std::string("sampling.cuda_graph=") + (graph ? "true" : "false"));
    const auto config = test::shipped_config(GetParam().config, sets);
    auto model = test::perturbed_model(config);
    sampler::DiffusionSampler diffusion(*model, config, kCuda);
    for (size_t b = 0; b < batches.size(); ++b) {
      images[graph][b] = diffusion.sample(batches[b].first, 7, batches[b].second, false).cpu();  // (B, 3, 16, 16)
      nfe[graph][b] = diffusion.last_nfe();
    }
  }
  for (size_t b = 0; b < batches.size(); ++b) {
    const double diff = (images[0][b] - images[1][b]).abs().max().item<double>();
    std::printf("%s batch %zu: whole-step graph vs eager max |diff| %.3g (bitwise equal: %s)\n",
                GetParam().name.c_str(), b, diff, torch::equal(images[0][b], images[1][b]) ? "yes" : "no");
    EXPECT_LE(diff, 1e-6 * std::max(1.0, images[0][b].abs().max().item<double>())) << "batch " << b;
    EXPECT_EQ(nfe[0][b], levels * GetParam().nfe_per_level) << "eager, batch " << b;
    EXPECT_EQ(nfe[1][b], nfe[0][b]) << "graphed, batch " << b;
  }
  // Equal images alone would also come from captures that failed and stepped eagerly.
  const auto steps_after = sampler::pc_step_graph_stats();
  EXPECT_EQ(steps_after.captured - steps_before.captured, 2) << "one capture per batch size";
  EXPECT_EQ(steps_after.fell_back, steps_before.fell_back);
  EXPECT_EQ(sampler::cuda_graph_stats().captured, network_before.captured) << "the network is inside the step's graph";
}

// sampling.channels_last on CUDA: the whole-step graphs capture the channels_last network (cuDNN's NHWC kernels,
// scorch's kernels in that layout at the defaults) and draw the NCHW network's samples to round-off. fp32, TF32 off:
// NHWC and NCHW convolutions add in other orders, which the CPU test sees at 2e-7 of the largest value after 100 PC
// levels; 1e-5 bounds it here, where a channel read in the wrong layout would be of the order of the values.
TEST(PcStepGraphLayout, ChannelsLastDrawsTheNchwSamples) {
  SCORCH_REQUIRE_CUDA();
  test::NoTf32 fp32;
  torch::Tensor images[2];
  const auto steps_before = sampler::pc_step_graph_stats();
  for (int cl = 0; cl < 2; ++cl) {
    const auto config =
        test::shipped_config("small/ve_tiny.yaml",
                             {"model.num_scales=40", std::string("sampling.channels_last=") + (cl ? "true" : "false")});
    auto model = test::perturbed_model(config);
    sampler::place_for_sampling(*model, config, kCuda);
    for (const auto& p : model->parameters()) {
      if (p.dim() == 4 && p.size(2) > 1) {
        EXPECT_EQ(p.is_contiguous(torch::MemoryFormat::ChannelsLast), cl == 1);
      }
    }
    sampler::DiffusionSampler diffusion(*model, config, kCuda);
    images[cl] = diffusion.sample(5, 7, 0, false).cpu();  // (5, 3, 16, 16)
  }
  const double diff = (images[0] - images[1]).abs().max().item<double>(), top = images[0].abs().max().item<double>();
  std::printf("channels_last vs NCHW, graphed PC: max |diff| %.3g of values up to %.3g\n", diff, top);
  EXPECT_LE(diff, 1e-5 * std::max(1.0, top));
  EXPECT_EQ(sampler::pc_step_graph_stats().captured - steps_before.captured, 2) << "both layouts captured their steps";
}

INSTANTIATE_TEST_SUITE_P(Samplers, PcStepGraph,
                         ::testing::Values(
                             // FIR resampling, the SMLD chain, Langevin's step from the batch's norms.
                             Case{"ve_reverse_diffusion_langevin", "small/ve_tiny.yaml", {}, 2},
                             Case{"ve_ancestral_ald",
                                  "small/ve_tiny.yaml",
                                  {"sampling.predictor=ancestral_sampling", "sampling.corrector=ald"},
                                  2},
                             // Two Langevin steps per level; the DDPM alpha table.
                             Case{"vp_euler_maruyama_langevin2",
                                  "small/vp_tiny.yaml",
                                  {"sampling.corrector=langevin", "sampling.n_steps_each=2"},
                                  3},
                             // The sub-VP corrector's own alpha table (built on the host, moved before capture).
                             Case{"subvp_reverse_diffusion_langevin",
                                  "small/vp_tiny.yaml",
                                  {"training.sde=subvpsde", "sampling.predictor=reverse_diffusion",
                                   "sampling.corrector=langevin"},
                                  2},
                             // No noise at all in the step.
                             Case{"vp_probability_flow",
                                  "small/vp_tiny.yaml",
                                  {"sampling.predictor=reverse_diffusion", "sampling.probability_flow=true"},
                                  1}),
                         [](const auto& info) { return info.param.name; });

// A score with a host read inside cannot be captured: the step runs eager after one failed capture, with the
// eager step's images and NFE (the warm-up and capture calls are not counted), and no second attempt.
TEST(PcStepGraphFallback, AStepThatCannotBeCapturedRunsEager) {
  SCORCH_REQUIRE_CUDA();
  const auto config = test::shipped_config("small/ve_tiny.yaml", {"model.num_scales=6"});
  const auto o = sampler::SamplingOptions::from(config);
  auto sde = sdes::make_sde(config);
  sde->to(kCuda);
  sdes::ScoreFn syncing = [](const torch::Tensor& x, const torch::Tensor& t) {
    const double scale = t.max().item<double>();  // a device-to-host copy: illegal while capturing
    return -x / (1.0 + scale);
  };
  torch::NoGradGuard no_grad;
  const auto before = sampler::pc_step_graph_stats();
  torch::Tensor out[2];
  int64_t nfe[2];
  for (int graph = 0; graph < 2; ++graph) {
    sampler::PcSampler pc(sde, syncing, o);
    if (graph) pc.set_step_graphs(std::make_shared<sampler::PcStepGraphs>());
    auto gen = sampler::make_generator(kCuda, 3, 0);
    auto x = sde->prior_sampling({4, 3, 8, 8}, gen, torch::TensorOptions().device(kCuda));
    out[graph] = pc.run(x, gen).cpu();
    nfe[graph] = pc.nfe();
  }
  EXPECT_TRUE(torch::equal(out[0], out[1]));
  EXPECT_EQ(nfe[1], nfe[0]);
  EXPECT_EQ(nfe[0], 6 * 2);
  const auto after = sampler::pc_step_graph_stats();
  EXPECT_EQ(after.fell_back - before.fell_back, 1);
  EXPECT_EQ(after.captured, before.captured);
}

// The caller's generator goes on from where eager steps leave it: two batches drawn in a row from one
// generator (a wrong offset after the first replays would change the second's prior draw and noise), and
// one more draw after them; with noise in the step and without (probability flow: the graph draws nothing).
TEST(PcStepGraphGenerator, LeavesTheCallersGeneratorWhereEagerStepsLeaveIt) {
  SCORCH_REQUIRE_CUDA();
  // Reverse diffusion + Langevin; then the probability-flow ODE with no corrector.
  const std::vector<std::vector<std::string>> cases{
      {"model.num_scales=6"}, {"model.num_scales=6", "sampling.probability_flow=true", "sampling.corrector=none"}};
  for (const auto& sets : cases) {
    SCOPED_TRACE(sets.size() == 1 ? "with noise" : "without noise");
    const auto config = test::shipped_config("small/ve_tiny.yaml", sets);
    const auto o = sampler::SamplingOptions::from(config);
    auto sde = sdes::make_sde(config);
    sde->to(kCuda);
    sdes::ScoreFn score = [](const torch::Tensor& x, const torch::Tensor& t) {
      return -x / (1.0 + t).view({-1, 1, 1, 1});
    };
    torch::NoGradGuard no_grad;
    const auto before = sampler::pc_step_graph_stats();
    torch::Tensor out[2][2], next[2];
    uint64_t offset[2];
    for (int graph = 0; graph < 2; ++graph) {
      sampler::PcSampler pc(sde, score, o);
      if (graph) pc.set_step_graphs(std::make_shared<sampler::PcStepGraphs>());
      auto gen = sampler::make_generator(kCuda, 3, 0);
      for (int b = 0; b < 2; ++b) {
        auto x = sde->prior_sampling({4, 3, 8, 8}, gen, torch::TensorOptions().device(kCuda));  // (B, C, H, W)
        out[graph][b] = pc.run(x, gen).cpu();
      }
      offset[graph] = gen.get_offset();
      next[graph] = torch::randn({16}, gen, torch::TensorOptions().device(kCuda)).cpu();
    }
    EXPECT_EQ(offset[1], offset[0]);
    EXPECT_TRUE(torch::equal(next[0], next[1]));
    for (int b = 0; b < 2; ++b) EXPECT_TRUE(torch::equal(out[0][b], out[1][b])) << "batch " << b;
    EXPECT_EQ(sampler::pc_step_graph_stats().captured - before.captured, 1);
  }
}

}  // namespace
}  // namespace scorch
