// The forward SDEs of score-based models (VE, VP, sub-VP) behind one interface, and make_sde(config).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

namespace scorch {
class Config;
}  // namespace scorch

namespace scorch::sdes {

enum class SdeKind { VE, VP, SubVP };
const char* sde_name(SdeKind kind);

struct DriftDiffusion {
  torch::Tensor drift;      // (B, C, H, W)
  torch::Tensor diffusion;  // (B,)
};

// A per-sample (B,) quantity (σ(t), g(t), a step size) shaped (B, 1, 1, 1) to scale a batch of images.
inline torch::Tensor per_sample(const torch::Tensor& v) { return v.view({-1, 1, 1, 1}); }

struct MeanStd {
  torch::Tensor mean;  // (B, C, H, W)
  torch::Tensor std;   // (B,)
};

// dx = f(x, t) dt + g(t) dw on t in [0, T]. Times t are (B,) tensors in the data's dtype; the per-SDE
// constants are doubles, and the discrete tables are float32 as in score_sde_pytorch, so labels, stds and
// losses agree with the reference bit for bit on the same inputs.
class Sde {
 public:
  explicit Sde(int64_t num_scales);
  virtual ~Sde() = default;

  virtual SdeKind kind() const = 0;
  double T() const { return 1.0; }
  // Number of discretisation steps (model.num_scales).
  int64_t N() const { return N_; }

  virtual DriftDiffusion sde(const torch::Tensor& x, const torch::Tensor& t) const = 0;
  // Mean and standard deviation of p_t(x(t) | x(0) = x).
  virtual MeanStd marginal_prob(const torch::Tensor& x, const torch::Tensor& t) const = 0;
  // A draw from p_T. The noise comes from `gen` on the generator's device and is then moved to
  // `options`' device, so a CPU generator gives the same numbers whatever device the model runs on.
  virtual torch::Tensor prior_sampling(torch::IntArrayRef shape, torch::Generator& gen,
                                       const torch::TensorOptions& options = {}) const = 0;
  // log p_T(z) per example, (B,).
  virtual torch::Tensor prior_logp(const torch::Tensor& z) const = 0;
  // One step x_{i+1} = x_i + f + G z of the discretised SDE at time t (f: (B, C, H, W), G: (B,)).
  // Default: Euler-Maruyama with dt = 1/N; VE and VP override it with the SMLD / DDPM chains.
  virtual DriftDiffusion discretize(const torch::Tensor& x, const torch::Tensor& t) const;

  // Moves the discrete tables to `device` (call once before sampling on a GPU, e.g. under CUDA graphs).
  virtual void to(const torch::Device& /*device*/) {}

 private:
  int64_t N_;
};

// The SDE named by training.sde (vesde | vpsde | subvpsde) with model.{sigma,beta}_{min,max}, num_scales.
std::shared_ptr<Sde> make_sde(const Config& config);

// Standard normal noise drawn on the generator's device, returned on `options`' device and dtype.
torch::Tensor randn_with(torch::IntArrayRef shape, torch::Generator& gen, const torch::TensorOptions& options);
// Uniform [0, 1) noise, same device rule.
torch::Tensor rand_with(torch::IntArrayRef shape, torch::Generator& gen, const torch::TensorOptions& options);

}  // namespace scorch::sdes
