// The sampling.* settings every sampler reads, resolved and checked once from a Config.
#pragma once
#include <torch/torch.h>

#include <string>

#include "core/config.h"

namespace scorch::sampler {

struct SamplingOptions {
  std::string method = "pc";  // pc | ode | ald (NCSN/NCSNv2's annealed Langevin dynamics, ald_sampler.h)
  std::string predictor = "reverse_diffusion";
  std::string corrector = "langevin";
  int64_t n_steps_each = 1;
  bool noise_removal = true;
  bool probability_flow = false;
  double snr = 0.16;
  double step_lr = 2e-5;  // ald: ε, the step at the smallest level
  double eps = 1e-3;
  double rtol = 1e-5, atol = 1e-5;
  std::string ode_solver = "rk45";  // rk45 | euler | heun
  int64_t ode_steps = 100;
  std::string precision = "fp32";  // fp32 | bf16
  bool cuda_graph = true;
  bool continuous = true;  // training.continuous: how the network was conditioned
  bool centered = false;   // data.centered: model space [-1, 1] (true) or [0, 1]

  // Reads sampling.*, training.continuous and data.centered; unknown names fail naming the key.
  static SamplingOptions from(const Config& config);
};

// Model space -> [0, 1] (the reference's inverse_scaler) and back.
torch::Tensor to_unit_range(const torch::Tensor& x, bool centered);
torch::Tensor from_unit_range(const torch::Tensor& x, bool centered);

}  // namespace scorch::sampler
