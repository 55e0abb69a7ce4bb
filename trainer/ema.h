// Exponential moving average of a model's trainable parameters, with score_sde's warm-up of the decay.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace scorch {

// Shadow copies are float32 and keyed by parameter name; only parameters with requires_grad are tracked
// (the frozen Fourier `W` is not, as in the reference). Each update uses
// decay = min(rate, (1 + n) / (10 + n)) with n the update count after incrementing it.
class Ema {
 public:
  Ema(const torch::nn::Module& model, double rate);

  double rate() const { return rate_; }
  int64_t num_updates() const { return num_updates_; }
  // The decay the n-th update uses (n >= 1).
  static double decay_at(double rate, int64_t n);

  // shadow <- shadow - (1 - decay)(shadow - param), after optimizer.step().
  void update(const torch::nn::Module& model);
  // Writes the averages into the model's tracked parameters (cast to their dtype).
  void copy_to(torch::nn::Module& model) const;
  // store() keeps a copy of every parameter, restore() puts it back: evaluate with EMA weights in between.
  void store(const torch::nn::Module& model);
  void restore(torch::nn::Module& model);

  // Checkpoint state. load_state checks that the names and shapes equal the tracked ones exactly
  // and names the first difference.
  const std::map<std::string, torch::Tensor>& shadow() const { return shadow_; }
  void load_state(int64_t num_updates, const std::map<std::string, torch::Tensor>& shadow);
  void to(const torch::Device& device);

 private:
  double rate_;
  int64_t num_updates_ = 0;
  std::map<std::string, torch::Tensor> shadow_;
  std::vector<std::string> names_;  // tracked names, in the model's registration order
  std::map<std::string, torch::Tensor> stored_;
};

}  // namespace scorch
