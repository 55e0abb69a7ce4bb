// Score networks on CUDA: every parity fixture against the CPU and the reference, and the 1024² config's
// forward + backward with and without gradient checkpointing.
#include <filesystem>

#include "core/io/safetensors.h"
#include "core/models/model_weights.h"
#include "core/models/score_model.h"
#include "core/sdes/sde.h"
#include "cuda/cuda_test_util.h"

namespace scorch {
namespace {

using test::kCuda;
using test::max_rel;

struct Fixture {
  std::string dir, name;
};
// How GoogleTest and CTest print the parameter (instead of the struct's bytes).
void PrintTo(const Fixture& f, std::ostream* os) { *os << f.dir << "/" << f.name; }

class ParityOnCuda : public ::testing::TestWithParam<Fixture> {};

// fp32 with TF32 off: cuDNN and oneDNN sum in other orders, a few ulps per layer; 1e-5 of the output scale
// (the CPU parity tests' bound) leaves room for that and nothing else. Twice: at the defaults, which on CUDA run
// scorch's GroupNorm, FIR and join kernels and the folded bias (the CPU's loops of the same arithmetic stay within
// 1.5e-6 of these fixtures: `scorch model forward --set model.fused_fir=true ...`), and with them off.
TEST_P(ParityOnCuda, ForwardMatchesCpuAndReference) {
  SCORCH_REQUIRE_CUDA();
  test::NoTf32 fp32;
  const auto& fx = GetParam();
  const auto base = test::source_dir() + "/tests/fixtures/" + fx.dir + "/" + fx.name;
  for (const bool kernels : {true, false}) {
    SCOPED_TRACE(kernels ? "defaults" : "kernels off");
    std::vector<std::string> sets;
    if (!kernels)
      sets = {"model.fused_group_norm=false", "model.fused_fir=false", "model.fold_time_bias=false",
              "model.fused_skip_join=false"};
    Config config = Config::resolve(base + ".yaml", sets);
    auto f = io::read_safetensors(base + ".safetensors");
    torch::NoGradGuard no_grad;
    auto model = models::make_model(config);
    models::load_reference_weights(*model, f.tensors, fx.name);
    model->eval();
    const auto& x = f.tensors.at("input/x");
    const auto& t = f.tensors.at("input/time_cond");
    auto cpu = model->forward(x, t);
    model->to(kCuda);
    auto gpu = model->forward(x.to(kCuda), t.to(kCuda));
    const double vs_cpu = max_rel(gpu, cpu), vs_ref = max_rel(gpu, f.tensors.at("output/model"));
    std::printf("%s on CUDA, %s: %.3g vs CPU, %.3g vs score_sde_pytorch (max rel error)\n", fx.name.c_str(),
                kernels ? "defaults" : "kernels off", vs_cpu, vs_ref);
    EXPECT_LE(vs_cpu, 1e-5);
    EXPECT_LE(vs_ref, 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ParityOnCuda,
                         ::testing::Values(Fixture{"parity", "ve_ncsnpp_small"}, Fixture{"parity", "vp_ddpmpp_small"},
                                           Fixture{"models", "ddpm_small"}, Fixture{"models", "ncsnpp_skip_small"},
                                           Fixture{"models", "ncsnpp_ddpmblocks_small"},
                                           Fixture{"models", "ddpm_uncond_small"}),
                         [](const auto& info) { return info.param.name; });

// The 1024² NCSN++ (ffhq_ncsnpp_continuous) at batch 1: one forward + backward of the training loss with
// and without model.grad_checkpointing. The two must give the same loss and gradient norm (same dropout
// stream, same kernels up to cuDNN's algorithm choice) and checkpointing must use less memory.
TEST(Ffhq1024, ForwardBackwardWithAndWithoutCheckpointing) {
  SCORCH_REQUIRE_CUDA();
  test::NoTf32 fp32;
  double loss[2], norm[2], peak[2];
  for (int ckpt = 0; ckpt < 2; ++ckpt) {
    torch::manual_seed(0);
    auto config = test::shipped_config("ve/ffhq_ncsnpp_continuous.yaml");
    auto model = models::make_model(config);
    model->set_grad_checkpointing(ckpt == 1);
    model->to(kCuda);
    model->train();
    torch::cuda::synchronize();
    test::reset_peak(kCuda);
    torch::manual_seed(1);
    auto x = torch::rand({1, 3, 1024, 1024}, kCuda);  // (B, C, H, W)
    auto sigma = torch::full({1}, 10.0, kCuda);
    auto out = model->forward(x + sigma.view({1, 1, 1, 1}) * torch::randn_like(x), sigma);
    auto l = (out * sigma.view({1, 1, 1, 1}) + torch::randn_like(x)).pow(2).sum();
    l.backward();
    double sq = 0;
    for (auto& p : model->parameters())
      if (p.grad().defined()) sq += p.grad().to(torch::kFloat64).pow(2).sum().item<double>();
    torch::cuda::synchronize();
    loss[ckpt] = l.item<double>();
    norm[ckpt] = std::sqrt(sq);
    peak[ckpt] = test::peak_allocated_gib(kCuda);
    std::printf("ffhq_ncsnpp_continuous 1024² batch 1, grad_checkpointing=%d: loss %.6g |g| %.6g peak %.2f GiB\n", ckpt,
                loss[ckpt], norm[ckpt], peak[ckpt]);
    EXPECT_TRUE(std::isfinite(loss[ckpt]) && std::isfinite(norm[ckpt]));
  }
  EXPECT_NEAR(loss[1], loss[0], 1e-5 * std::abs(loss[0]));
  EXPECT_NEAR(norm[1], norm[0], 1e-4 * norm[0]);
  EXPECT_LT(peak[1], peak[0]);
}

}  // namespace
}  // namespace scorch
