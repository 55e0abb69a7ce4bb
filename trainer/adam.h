// Adam (optionally AMSGrad, L2 weight decay) over named parameters, with score_sde's warm-up and clipping.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace scorch {
class Config;
}  // namespace scorch

namespace scorch::trainer {

struct AdamOptions {
  double lr = 2e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool amsgrad = false;
  bool fused = true;       // optim.fused: one at::_fused_adam_ call (CUDA and CPU kernels) instead of foreach ops
  int64_t warmup = 0;      // linear warm-up steps (0: none)
  double grad_clip = 1.0;  // global-norm clip (negative: off)
  static AdamOptions from(const Config& config);
};

// score_sde's learning rate for the update taken after `step` completed updates: lr·min(step/warmup, 1),
// so the first update (step 0) runs at lr 0 as in the reference.
double warmup_lr(const AdamOptions& options, int64_t step);

// Global L2 norm of the gradients, (), float32 on their device; undefined gradients count as zero.
torch::Tensor grad_norm(const std::vector<torch::Tensor>& params);
// Scales the gradients by min(1, max_norm / (norm + 1e-6)), as torch.nn.utils.clip_grad_norm_.
void clip_grads(const std::vector<torch::Tensor>& params, const torch::Tensor& norm, double max_norm);

// The same update as torch.optim.Adam (float32 state, bias correction by the update count), applied with
// multi-tensor (_foreach) kernels. State is kept by parameter name so checkpoints are readable and survive
// a change of device or world size.
class Adam {
 public:
  Adam(std::vector<std::pair<std::string, torch::Tensor>> params, AdamOptions options);

  const AdamOptions& options() const { return options_; }
  const std::vector<torch::Tensor>& params() const { return params_; }
  // Updates done. With the fused kernel the count lives on the device: reading it synchronises.
  int64_t step_count() const;

  // One update with learning rate `lr` from the parameters' current .grad(). `found_inf`, a float32 0-dim
  // tensor on the parameters' device (fused only), skips the update and its step count on the device when it
  // holds 1, so the caller need not read it.
  void step(double lr, const torch::Tensor& found_inf = {});
  // The same with the learning rate in a float32 0-dim tensor on the parameters' device (fused only): a
  // captured CUDA graph reads it at every replay, so the warm-up schedule reaches the graph's updates.
  void step(const torch::Tensor& lr, const torch::Tensor& found_inf = {});
  void zero_grad();

  // "exp_avg.<name>", "exp_avg_sq.<name>" (and "max_exp_avg_sq.<name>" with amsgrad).
  std::map<std::string, torch::Tensor> state() const;
  // Checks that every expected tensor is present with the parameter's shape, and no other; names the first
  // difference.
  void load_state(const std::map<std::string, torch::Tensor>& state, int64_t step, const std::string& source);

 private:
  std::vector<torch::Tensor> grads_checked() const;
  template <typename Lr>
  void fused_step(const Lr& lr, const torch::Tensor& found_inf);

  AdamOptions options_;
  std::vector<std::string> names_;
  std::vector<torch::Tensor> params_, exp_avg_, exp_avg_sq_, max_exp_avg_sq_;
  std::vector<torch::Tensor> steps_;  // fused: a float32 0-dim step count per parameter, as torch.optim.Adam's
  int64_t step_ = 0;                  // unfused
};

}  // namespace scorch::trainer
