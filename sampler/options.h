// The sampling.* settings every sampler reads, resolved and checked once from a Config.
#pragma once
#include <torch/torch.h>

#include <string>

#include "core/config.h"

namespace scorch::sampler {

struct SamplingOptions {
  // pc | ode | ald (NCSN/NCSNv2's annealed Langevin dynamics, ald_sampler.h) | dpm_solver | edm | ddim | ddpm
  // (the few-step samplers, few_step.h)
  std::string method = "pc";
  std::string predictor = "reverse_diffusion";
  std::string corrector = "langevin";
  int64_t n_steps_each = 1;
  bool noise_removal = true;
  bool probability_flow = false;
  double snr = 0.16;
  double step_lr = 2e-5;  // ald: ε, the step at the smallest level
  double eps = 1e-3;
  // Inpainting and colorization end here instead: score_sde's get_pc_inpainter / get_pc_colorizer default to
  // 1e-5 for every SDE, where its unconditional samplers take 1e-3 for VP and sub-VP.
  double inverse_eps = 1e-5;
  double rtol = 1e-5, atol = 1e-5;
  std::string ode_solver = "rk45";  // rk45 | euler | heun
  int64_t ode_steps = 100;
  // The few-step samplers: the budget in network evaluations, the time grid and each method's settings.
  int64_t steps = 20;
  std::string spacing = "logsnr";  // resolved from "auto" per method
  int64_t solver_order = 2;
  std::string dpm_method = "multistep";
  std::string edm_solver = "heun";
  double edm_rho = 7.0, edm_churn = 0.0, edm_s_min = 0.0, edm_s_max = 0.0, edm_s_noise = 1.0;
  double ddim_eta = 0.0;
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
