// Predictors of the predictor-corrector sampler: one step of a reverse-time discretisation, chosen by name.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/sdes/reverse_sde.h"

namespace scorch::sampler {

// The next state and its noise-free mean (what "denoising" returns after the last step).
struct Update {
  torch::Tensor x;       // (B, C, H, W)
  torch::Tensor x_mean;  // (B, C, H, W)
};

class Predictor {
 public:
  virtual ~Predictor() = default;
  // One step from time t (B,) to the next noise level; noise comes from `gen`.
  virtual Update update(const torch::Tensor& x, const torch::Tensor& t, torch::Generator& gen) = 0;
};

// euler_maruyama | reverse_diffusion | ancestral_sampling | none. Euler-Maruyama and reverse diffusion also
// follow the probability-flow ODE (then no noise is added); ancestral sampling has no ODE form and only
// exists for VE and VP, so those combinations are refused with a message.
std::unique_ptr<Predictor> make_predictor(const std::string& name, std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score,
                                          bool probability_flow);

// Index i = floor(t (N - 1) / T) of the discrete chain at time t, (B,) long.
torch::Tensor discrete_index(const sdes::Sde& sde, const torch::Tensor& t);

}  // namespace scorch::sampler
