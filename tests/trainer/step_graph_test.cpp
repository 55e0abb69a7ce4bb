// The training-step graph's refusals on the CPU (capture and replay run in tests/cuda on a GPU).
#include "trainer/step_graph.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "support/checks.h"

namespace scorch {
namespace {

TEST(StepGraph, RefusesCpuImagesAndAReplayBeforeCapture) {
  trainer::StepGraph graph;
  std::vector<torch::Tensor> params = {torch::zeros({2}, torch::requires_grad())};
  bool ran = false;
  auto body = [&](const torch::Tensor&, trainer::LossNoise&, const torch::Tensor&) { ran = true; };
  test::expect_error_containing(
      [&] {
        graph.capture(body, torch::zeros({1, 1, 4, 4}), params);
      },
      trainer::step_graphs_compiled() ? "needs CUDA images, got them on cpu" : "this build has no CUDA paths");
  EXPECT_FALSE(ran);
  EXPECT_FALSE(graph.captured());
  trainer::PerExampleNoise noise(1, 0, 0, 1);
  test::expect_error_containing([&] { graph.replay(torch::zeros({1, 1, 4, 4}), noise, 1e-3, params); }, "not captured");
}

}  // namespace
}  // namespace scorch
