// core/cuda_graph_capture: after a capture that fails, the device serves eager work as before it, the default
// generator included, and the next capture succeeds.
#include "core/cuda_graph_capture.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "cuda/cuda_test_util.h"

namespace scorch {
namespace {

using test::kCuda;

TEST(CudaGraphCapture, AFailedCaptureLeavesTheDeviceEager) {
  SCORCH_REQUIRE_CUDA();
  auto side = c10::cuda::getStreamFromPool(false, kCuda.index());
  std::string failure;
  {
    c10::cuda::CUDAStreamGuard guard(side);
    CudaGraph graph;
    failure = capture_cuda_graph(graph, [&] {
      auto r = torch::rand({1024}, kCuda);  // draws from the default generator, which capture_begin registered
      (void)r.sum().item<float>();          // a device-to-host copy: illegal while capturing
    });
  }
  EXPECT_FALSE(failure.empty());
  std::printf("the failed capture's reason: %s\n", failure.c_str());
  // LibTorch 2.11 leaves the generator in capture mode after such a failure; eager draws would throw.
  torch::Tensor drawn;
  EXPECT_NO_THROW(drawn = torch::rand({1024}, kCuda));
  EXPECT_GT(drawn.sum().item<float>(), 0.0f);
  EXPECT_NO_THROW(torch::nn::functional::dropout(torch::ones({64}, kCuda),
                                                 torch::nn::functional::DropoutFuncOptions().p(0.5).training(true)));

  // A capture after it works and replays: with static input and output, y = 2x + a draw of the generator.
  auto x = torch::arange(8, torch::TensorOptions(torch::kFloat32).device(kCuda));
  torch::Tensor y;
  CudaGraph again;
  {
    c10::cuda::CUDAStreamGuard guard(side);
    EXPECT_EQ(capture_cuda_graph(again, [&] { y = x * 2 + torch::rand({8}, kCuda) * 0; }), "");
  }
  x.fill_(3);
  again.replay();
  EXPECT_TRUE(torch::equal(y.cpu(), torch::full({8}, 6.0f)));
}

}  // namespace
}  // namespace scorch
