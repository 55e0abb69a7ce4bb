// Exponential moving average of a model's trainable parameters, with score_sde's warm-up of the decay, and the
// scope in which a model holds the averages.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace scorch::trainer {

// Shadow copies are float32 and keyed by parameter name; only parameters with requires_grad are tracked
// (the frozen Fourier `W` is not, as in the reference). Each update uses
// decay = min(rate, (1 + n) / (10 + n)) with n the update count after incrementing it.
class Ema {
 public:
  Ema(const torch::nn::Module& model, double rate);

  double rate() const { return rate_; }
  // After a masked update the count lives on the device: reading it then synchronises.
  int64_t num_updates() const;
  // The decay the n-th update uses (n >= 1).
  static double decay_at(double rate, int64_t n);

  // shadow <- shadow - (1 - decay)(shadow - param), after optimizer.step(), rounded as the reference's float32
  // arithmetic rounds it (no fused multiply-add). `found_inf` (a float32 0-dim
  // tensor on the shadows' device) masks the update on the device: when it holds 1 neither the shadows nor the
  // count change, and the host never reads it. The masked and the plain update give bitwise equal shadows.
  void update(const torch::nn::Module& model, const torch::Tensor& found_inf = {});
  // Writes the averages into the model's tracked parameters (cast to their dtype).
  void copy_to(torch::nn::Module& model) const;

  // Checkpoint state. load_state checks that the names and shapes equal the tracked ones exactly
  // and names the first difference.
  const std::map<std::string, torch::Tensor>& shadow() const { return shadow_; }
  void load_state(int64_t num_updates, const std::map<std::string, torch::Tensor>& shadow);
  // The shadows themselves (not copies), in registration order, for a collective that overwrites them in place.
  std::vector<torch::Tensor> shadow_tensors();
  void to(const torch::Device& device);

 private:
  double rate_;
  int64_t num_updates_ = 0;
  torch::Tensor device_updates_;  // float64 0-dim: the count, once a masked update has run (else undefined)
  std::map<std::string, torch::Tensor> shadow_;
  std::vector<std::string> names_;  // tracked names, in the model's registration order
};

// While alive, the model holds the EMA weights and is in eval mode (to evaluate or sample with them). The
// destructor puts the training weights and the previous mode back, also when an exception leaves the scope:
// a caller that catches it must not go on training from the averages.
class EmaSwap {
 public:
  EmaSwap(const Ema& ema, torch::nn::Module& model);
  ~EmaSwap();
  EmaSwap(const EmaSwap&) = delete;
  EmaSwap& operator=(const EmaSwap&) = delete;

 private:
  torch::nn::Module& model_;
  bool was_training_;
  std::map<std::string, torch::Tensor> training_weights_;  // every parameter, tracked by the EMA or not
};

}  // namespace scorch::trainer
