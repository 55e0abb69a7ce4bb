// FID feature extraction on CUDA against the CPU path (NHWC oneDNN there, cuDNN here).
#include "core/dist/mpi_comm.h"
#include "cuda/cuda_test_util.h"
#include "eval/extract.h"

namespace scorch::eval {
namespace {

// The features' float32 round-off differs between cuDNN and oneDNN over 94 convolutions; 1e-4 of the
// largest feature is the bound pytorch-fid's own CPU/GPU runs stay within.
TEST(FidCuda, FeaturesMatchTheCpuOn100Images) {
  SCORCH_REQUIRE_CUDA();
  test::NoTf32 fp32;
  torch::manual_seed(0);
  auto images = tensor_image_source(torch::randint(0, 256, {100, 32, 32, 3}, torch::kUInt8), "100 random images");
  dist::LocalCommunicator comm;
  Extracted got[2];
  for (int cuda = 0; cuda < 2; ++cuda) {
    torch::manual_seed(1);  // the same random weights on both devices
    InceptionV3 model;
    {
      torch::NoGradGuard g;
      for (auto& b : model->named_buffers())
        if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
    }
    ExtractOptions o;
    o.batch_size = 32;
    o.keep_features = true;
    o.logits = true;
    o.device = cuda ? test::kCuda : torch::Device(torch::kCPU);
    got[cuda] = extract(*images, model, o, comm, comm);
  }
  const double feat = test::max_rel(got[1].features, got[0].features);
  const double mu = test::max_rel(got[1].stats.mu, got[0].stats.mu);
  const double logits = test::max_rel(got[1].logits, got[0].logits);
  std::printf("FID features CUDA vs CPU on 100 images: features %.3g, mu %.3g, logits %.3g (max rel error)\n", feat, mu,
              logits);
  EXPECT_LE(feat, 1e-4);
  EXPECT_LE(mu, 1e-4);
  EXPECT_LE(logits, 1e-4);
}

}  // namespace
}  // namespace scorch::eval
