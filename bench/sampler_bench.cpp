// Sampler benchmark: samples/s and NFE of PC (N levels, reverse diffusion + Langevin) and probability-flow
// ODE (RK45) on the small CPU model, fp32 vs bf16 autocast, and (on CUDA) eager vs CUDA graphs.
// Usage: sampler_bench [config=configs/small/ve_tiny.yaml] [batch=16] [num_scales=1000] [device=cpu] [ckpt].
// With a checkpoint (e.g. a short `scorch train` run of the same config) its EMA weights are timed; without
// one a freshly initialised network (near-zero output, so the ODE is nearly trivial and NFE says little).
// Validates first: RK45 NFE equals scipy's on the Gaussian-flow fixture, and every sample is finite.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "core/host_memory.h"
#include "core/io/checkpoint_files.h"
#include "sampler/diffusion_sampler.h"
#include "sampler/ode_solver.h"

namespace {

using namespace scorch;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The VP probability flow of N(0.3, 0.4^2) data: scipy 1.17.1 RK45 at 1e-5 takes 74 evaluations
// (tests/sampler/ode_solver_test.cpp).
void validate_rk45() {
  const double b0 = 0.1, b1 = 20.0, mu = 0.3, s = 0.4;
  sampler::OdeFn f = [&](double t, const torch::Tensor& x) {
    const double m = -0.25 * t * t * (b1 - b0) - 0.5 * t * b0, a = std::exp(m), sd2 = 1 - std::exp(2 * m);
    const double beta = b0 + t * (b1 - b0);
    return -0.5 * beta * x + 0.5 * beta * (x - a * mu) / (a * a * s * s + sd2);
  };
  auto r = sampler::solve_rk45(f, torch::linspace(-2.0, 2.0, 8, torch::kFloat64), 1.0, 1e-3, 1e-5, 1e-5);
  SCORCH_CHECK(r.nfe == 74, "RK45 NFE {} differs from scipy's 74", r.nfe);
  std::printf("validate: RK45 NFE on the Gaussian-flow fixture = %lld (scipy 74)\n", static_cast<long long>(r.nfe));
}

struct Row {
  double seconds;
  int64_t nfe;
};

Row time_batch(models::ScoreModelImpl& model, const Config& config, int64_t batch, const torch::Device& device) {
  sampler::DiffusionSampler diffusion(model, config, device);
  if (device.is_cuda()) diffusion.sample(batch, 0, 0);  // warm-up and CUDA-graph capture
  const auto t = Clock::now();
  auto x = diffusion.sample(batch, 0, 1);
  if (device.is_cuda()) torch::cuda::synchronize();
  const double s = seconds_since(t);
  SCORCH_CHECK(torch::isfinite(x).all().item<bool>(), "non-finite samples");
  return {s, diffusion.last_nfe()};
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_host_memory();  // as the scorch binary does (apps/main.cpp)
  const std::string path = argc > 1 ? argv[1] : "configs/small/ve_tiny.yaml";
  const int64_t batch = argc > 2 ? std::stoll(argv[2]) : 16;
  const std::string n = argc > 3 ? argv[3] : "1000";
  const torch::Device device(argc > 4 ? argv[4] : "cpu");
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // rows appear as they are measured
  validate_rk45();
  torch::manual_seed(0);
  auto base = Config::resolve(path, {"model.num_scales=" + n, "device=" + device.str()});
  std::shared_ptr<models::ScoreModelImpl> model;
  if (argc > 5) {
    model = io::load_inference_model(argv[5], "ema", device).model;
    std::printf("weights: EMA of %s\n", argv[5]);
  } else {
    model = models::make_model(base);
    model->to(device);
    std::printf("weights: fresh initialisation (no checkpoint given)\n");
  }
  std::printf("%s, batch %lld, N %s, %s, %d torch threads\n", path.c_str(), static_cast<long long>(batch), n.c_str(),
              device.str().c_str(), torch::get_num_threads());
  std::printf("%-44s %10s %8s %12s %8s\n", "sampler", "s/batch", "NFE", "samples/s", "ratio");
  double baseline = 0;
  auto report = [&](const std::string& name, const std::vector<std::string>& sets) {
    Config c = base;
    for (const auto& kv : sets) c.set_assignment(kv, "bench");
    const auto r = time_batch(*model, c, batch, device);
    if (baseline == 0) baseline = r.seconds;
    std::printf("%-44s %10.2f %8lld %12.2f %8.2f\n", name.c_str(), r.seconds, static_cast<long long>(r.nfe),
                batch / r.seconds, baseline / r.seconds);
  };
  report("PC reverse_diffusion + langevin, fp32", {"sampling.cuda_graph=false"});
  report("PC reverse_diffusion + langevin, bf16", {"sampling.cuda_graph=false", "sampling.precision=bf16"});
  if (device.is_cuda()) {
    report("PC reverse_diffusion + langevin, fp32 graph", {"sampling.cuda_graph=true"});
    report("PC reverse_diffusion + langevin, bf16 graph", {"sampling.cuda_graph=true", "sampling.precision=bf16"});
  }
  report("ODE RK45 rtol=atol=1e-3, fp32",
         {"sampling.cuda_graph=false", "sampling.method=ode", "sampling.rtol=1e-3", "sampling.atol=1e-3"});
  report("ODE RK45 rtol=atol=1e-5, fp32", {"sampling.cuda_graph=false", "sampling.method=ode"});
  return 0;
}
