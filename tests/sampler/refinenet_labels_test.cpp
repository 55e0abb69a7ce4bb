// The index-conditioned NCSN/NCSNv2 get level labels in the ODE and the likelihood too: a continuous label
// (sigma for VE) would be read as a level index and pick the wrong sigma.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/models/score_model.h"
#include "sampler/diffusion_sampler.h"

namespace scorch::sampler {
namespace refinenet_labels_test {

TEST(RefineNetLabels, OdeScoreUsesTheLevelIndexLikeThePcScore) {
  const Config config = Config::resolve(
      "", {"model.name=ncsnv2", "model.normalization=InstanceNorm++", "model.nonlinearity=elu", "model.nf=4",
           "model.num_scales=10", "model.sigma_max=20", "training.continuous=false", "data.image_size=16"});
  auto model = models::make_model(config);
  DiffusionSampler sampler(*model, config, torch::Device(torch::kCPU));
  torch::NoGradGuard no_grad;
  auto g = at::make_generator<at::CPUGeneratorImpl>(1);
  const auto x = torch::randn({2, 3, 16, 16}, g);
  for (double t : {0.9, 0.5, 0.05}) {
    const auto tt = torch::full({2}, t);
    EXPECT_TRUE(torch::equal(sampler.ode_score()(x, tt), sampler.pc_score()(x, tt))) << "t = " << t;
  }
}

}  // namespace refinenet_labels_test
}  // namespace scorch::sampler
