// Annealed Langevin dynamics as NCSN and NCSNv2 sample (Song & Ermon 2019, 2020): n_steps_each Langevin
// steps at each level of the ladder with step ε·σ_i²/σ_L², then NCSNv2's denoising step x + σ_L²·s(x, σ_L).
#pragma once
#include <torch/torch.h>

#include <functional>

#include "core/sdes/score_fn.h"
#include "sampler/options.h"

namespace scorch::sampler {

class AldSampler {
 public:
  // `model` is called with level indices (B,) into `sigmas` (L,), the network's ladder in descending order
  // (index 0 is σ_max, as the networks' labels count). Uses o.step_lr (ε), o.n_steps_each and
  // o.noise_removal (the final denoising step).
  AldSampler(sdes::ModelFn model, torch::Tensor sigmas, const SamplingOptions& o);

  // Draws the noise of one Langevin step, shaped like its argument (a test feeds the originals' draws).
  using Noise = std::function<torch::Tensor(const torch::Tensor& like)>;
  // From the initial state x (B, C, H, W) to the last one; the network is called before each draw, as the
  // originals do, so the same noise sequence gives the same chain.
  torch::Tensor run(torch::Tensor x, const Noise& noise);
  int64_t nfe() const { return nfe_; }  // L·n_steps_each, + 1 with the denoising step

 private:
  sdes::ModelFn model_;
  torch::Tensor sigmas_;  // (L,) float64 on the CPU
  SamplingOptions o_;
  int64_t nfe_ = 0;
};

}  // namespace scorch::sampler
