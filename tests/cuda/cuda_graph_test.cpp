// CUDA-graph replay of the score network: equal to eager calls, and sampling with graphs equals sampling
// without them.
#include "sampler/cuda_graph.h"

#include "cuda/cuda_test_util.h"
#include "sampler/diffusion_sampler.h"
#include "sampler/model_fn.h"

namespace scorch {
namespace {

using test::kCuda;
using test::perturbed_model;

// A small shipped config's network with perturbed weights, called eagerly and through network graphs.
struct EagerAndGraphed {
  explicit EagerAndGraphed(const std::string& name)
      : config(test::shipped_config("small/" + name)), model(perturbed_model(config)) {
    auto opts = sampler::SamplingOptions::from(config);
    opts.cuda_graph = false;
    eager = sampler::make_model_fn(*model, opts, kCuda);
    opts.cuda_graph = true;
    graphed = sampler::make_model_fn(*model, opts, kCuda);
  }
  Config config;
  std::shared_ptr<models::ScoreModelImpl> model;
  sdes::ModelFn eager, graphed;
};

class GraphReplay : public ::testing::TestWithParam<std::string> {};

// fp32, TF32 off: the graph replays the very kernels of the captured call, so only a different cuDNN
// algorithm choice between capture and eager could move results; 1e-6 of the output scale bounds that.
TEST_P(GraphReplay, EqualsEagerForTwoBatchSizesOverThreeReplays) {
  SCORCH_REQUIRE_CUDA();
  test::NoTf32 fp32;
  const EagerAndGraphed net(GetParam());
  const auto &eager = net.eager, &graphed = net.graphed;
  const auto before = sampler::cuda_graph_stats();
  torch::NoGradGuard no_grad;
  for (int64_t batch : {3, 8}) {
    for (int replay = 0; replay < 3; ++replay) {
      torch::manual_seed(10 * batch + replay);
      auto x = torch::randn({batch, 3, 16, 16}, kCuda);  // (B, C, H, W)
      auto t = torch::rand({batch}, kCuda) * 10 + 0.1;
      auto want = eager(x, t);
      auto got = graphed(x, t);
      const double err = test::max_rel(got, want);
      std::printf("%s batch %lld replay %d: graph vs eager %.3g\n", GetParam().c_str(), static_cast<long long>(batch),
                  replay, err);
      EXPECT_LE(err, 1e-6) << "batch " << batch << " replay " << replay;
    }
  }
  // Equal results alone would also come from a capture that failed and fell back to eager calls.
  const auto after = sampler::cuda_graph_stats();
  EXPECT_EQ(after.captured - before.captured, 2) << "one capture per batch size";
  EXPECT_EQ(after.fell_back, before.fell_back);
}

// The same shape in the other layout is another graph: its output comes back in the layout eager calls give,
// not in the one of the first capture.
TEST(GraphReplayLayouts, ChannelsLastInputGetsItsOwnCapture) {
  SCORCH_REQUIRE_CUDA();
  test::NoTf32 fp32;
  const EagerAndGraphed net("ve_tiny.yaml");
  const auto &eager = net.eager, &graphed = net.graphed;
  const auto before = sampler::cuda_graph_stats();
  torch::NoGradGuard no_grad;
  torch::manual_seed(5);
  const auto x = torch::randn({4, 3, 16, 16}, kCuda);  // (B, C, H, W)
  const auto t = torch::rand({4}, kCuda) * 10 + 0.1;
  for (const auto format :
       {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast, at::MemoryFormat::Contiguous}) {
    const auto xf = x.contiguous(format);
    const auto want = eager(xf, t), got = graphed(xf, t);
    EXPECT_EQ(got.suggest_memory_format(), want.suggest_memory_format()) << c10::toString(format);
    EXPECT_LE(test::max_rel(got, want), 1e-6) << c10::toString(format);
  }
  const auto after = sampler::cuda_graph_stats();
  EXPECT_EQ(after.captured - before.captured, 2) << "one capture per layout, the third call replays the first";
  EXPECT_EQ(after.fell_back, before.fell_back);
}

// ve_tiny has FIR resampling (a cached kernel: building it per call broke capture), vp_tiny has none.
INSTANTIATE_TEST_SUITE_P(TinyModels, GraphReplay, ::testing::Values("ve_tiny.yaml", "vp_tiny.yaml"),
                         [](const auto& info) { return info.param.substr(0, info.param.find('.')); });

// A network call that cannot be captured (a host sync inside it) runs eager after one failed capture,
// with the right result, and the next call does not try again.
TEST(GraphCapture, FailedCaptureFallsBackToEager) {
  SCORCH_REQUIRE_CUDA();
  sdes::ModelFn syncing = [](const torch::Tensor& x, const torch::Tensor& t) {
    const double scale = t.max().item<double>();  // a device-to-host copy: illegal while capturing
    return x * scale;
  };
  auto graphed = sampler::graphed(syncing);
  const auto before = sampler::cuda_graph_stats();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({4, 3, 8, 8}, kCuda);
  auto t = torch::full({4}, 2.0, kCuda);
  for (int call = 0; call < 3; ++call) EXPECT_TRUE(torch::equal(graphed(x, t).cpu(), (x * 2.0).cpu()));
  const auto after = sampler::cuda_graph_stats();
  EXPECT_EQ(after.fell_back - before.fell_back, 1);
  EXPECT_EQ(after.captured, before.captured);
  // The stream left capture mode: ordinary work still runs.
  EXPECT_TRUE(torch::allclose((x + 1).cpu(), x.cpu() + 1));
}

// Samplers other than PC replay the network call alone (PC replays whole steps: pc_step_graph_test.cpp).
TEST(GraphSampling, GraphOnAndOffGiveTheSameImages) {
  SCORCH_REQUIRE_CUDA();
  test::NoTf32 fp32;
  torch::Tensor images[2];
  const auto before = sampler::cuda_graph_stats();
  for (int graph = 0; graph < 2; ++graph) {
    const auto config =
        test::shipped_config("small/vp_tiny.yaml", {"sampling.method=dpm_solver", "sampling.steps=10",
                                                    std::string("sampling.cuda_graph=") + (graph ? "true" : "false")});
    auto model = perturbed_model(config);
    sampler::DiffusionSampler diffusion(*model, config, kCuda);
    images[graph] = diffusion.sample(6, 7, 0).cpu();  // (6, 3, 16, 16)
  }
  const double diff = (images[0] - images[1]).abs().max().item<double>();
  std::printf("DPM-Solver, 10 steps: graph on vs off max |diff| %.3g (bitwise equal: %s)\n", diff,
              torch::equal(images[0], images[1]) ? "yes" : "no");
  EXPECT_LE(diff, 1e-6);
  EXPECT_GE(sampler::cuda_graph_stats().captured - before.captured, 1);
  EXPECT_EQ(sampler::cuda_graph_stats().fell_back, before.fell_back);
}

}  // namespace
}  // namespace scorch
