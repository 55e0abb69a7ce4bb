// Adam with torch.optim.Adam's arithmetic (foreach or fused), warm-up schedule and global-norm clipping.
#include "trainer/adam.h"

#include <fmt/ranges.h>

#include <cmath>

#include "core/config.h"
#include "core/error.h"

namespace scorch::trainer {

AdamOptions AdamOptions::from(const Config& config) {
  SCORCH_CHECK(config.get_string("optim.optimizer") == "Adam", "optim.optimizer: only 'Adam' is supported, got '{}'",
               config.get_string("optim.optimizer"));
  AdamOptions o;
  o.lr = config.get_float("optim.lr");
  o.beta1 = config.get_float("optim.beta1");
  o.beta2 = config.get_float("optim.beta2");
  o.eps = config.get_float("optim.eps");
  o.weight_decay = config.get_float("optim.weight_decay");
  o.amsgrad = config.get_bool("optim.amsgrad");
  o.fused = config.get_bool("optim.fused");
  o.warmup = config.get_int("optim.warmup");
  o.grad_clip = config.get_float("optim.grad_clip");
  SCORCH_CHECK(o.lr >= 0, "optim.lr must be >= 0, got {}", o.lr);
  SCORCH_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1,
               "optim.beta1/beta2 must lie in [0, 1), got {} / {}", o.beta1, o.beta2);
  SCORCH_CHECK(o.eps > 0, "optim.eps must be > 0, got {}", o.eps);
  SCORCH_CHECK(o.warmup >= 0, "optim.warmup must be >= 0, got {}", o.warmup);
  return o;
}

double warmup_lr(const AdamOptions& o, int64_t step) {
  if (o.warmup <= 0) return o.lr;
  return o.lr * std::min(static_cast<double>(step) / static_cast<double>(o.warmup), 1.0);
}

torch::Tensor grad_norm(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return torch::zeros({});
  auto norms = at::_foreach_norm(grads, 2);
  return torch::stack(norms).to(torch::kFloat32).norm(2);
}

void clip_grads(const std::vector<torch::Tensor>& params, const torch::Tensor& norm, double max_norm) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return;
  auto coef = torch::clamp_max(max_norm / (norm + 1e-6), 1.0);  // (), stays on the device: no sync
  at::_foreach_mul_(grads, coef);
}

Adam::Adam(std::vector<std::pair<std::string, torch::Tensor>> params, AdamOptions options) : options_(options) {
  for (auto& [name, p] : params) {
    names_.push_back(name);
    params_.push_back(p);
    auto zeros = torch::zeros_like(p, torch::MemoryFormat::Preserve);
    exp_avg_.push_back(zeros.clone());
    exp_avg_sq_.push_back(zeros.clone());
    if (options_.amsgrad) max_exp_avg_sq_.push_back(zeros.clone());
    if (options_.fused) steps_.push_back(torch::zeros({}, torch::TensorOptions(torch::kFloat32).device(p.device())));
  }
}

int64_t Adam::step_count() const {
  if (!options_.fused) return step_;
  return steps_.empty() ? 0 : static_cast<int64_t>(steps_.front().item<float>());
}

void Adam::zero_grad() {
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

std::vector<torch::Tensor> Adam::grads_checked() const {
  std::vector<torch::Tensor> grads;
  grads.reserve(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    SCORCH_CHECK(params_[i].grad().defined(), "Adam: parameter '{}' has no gradient (not used in forward?)", names_[i]);
    grads.push_back(params_[i].grad());
  }
  return grads;
}

template <typename Lr>
void Adam::fused_step(const Lr& lr, const torch::Tensor& found_inf) {
  torch::NoGradGuard no_grad;
  const auto grads = grads_checked();
  // torch.optim.Adam(fused=True)'s sequence: count the step, run the kernel (it returns early when found_inf
  // is 1), then take the count back.
  at::_foreach_add_(steps_, 1.0);
  at::_fused_adam_(params_, grads, exp_avg_, exp_avg_sq_, max_exp_avg_sq_, steps_, lr, options_.beta1, options_.beta2,
                   options_.weight_decay, options_.eps, options_.amsgrad, /*maximize=*/false,
                   /*grad_scale=*/std::nullopt, found_inf.defined() ? std::optional(found_inf) : std::nullopt);
  if (found_inf.defined()) at::_foreach_sub_(steps_, std::vector<torch::Tensor>(steps_.size(), found_inf));
}

void Adam::step(const torch::Tensor& lr, const torch::Tensor& found_inf) {
  SCORCH_CHECK(options_.fused, "Adam: a learning rate on the device needs optim.fused = true");
  SCORCH_CHECK(lr.dim() == 0 && lr.scalar_type() == torch::kFloat32,
               "Adam: the learning rate tensor must be a float32 scalar, got {} of {} dimensions",
               c10::toString(lr.scalar_type()), lr.dim());
  fused_step(lr, found_inf);
}

void Adam::step(double lr, const torch::Tensor& found_inf) {
  SCORCH_CHECK(!found_inf.defined() || options_.fused, "Adam: a device-side skip flag needs optim.fused = true");
  if (options_.fused) {
    fused_step(lr, found_inf);
    return;
  }
  torch::NoGradGuard no_grad;
  auto grads = grads_checked();
  ++step_;
  if (options_.weight_decay != 0) grads = at::_foreach_add(grads, params_, options_.weight_decay);
  at::_foreach_lerp_(exp_avg_, grads, 1.0 - options_.beta1);
  at::_foreach_mul_(exp_avg_sq_, options_.beta2);
  at::_foreach_addcmul_(exp_avg_sq_, grads, grads, 1.0 - options_.beta2);
  const double bias1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_));
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(options_.beta2, static_cast<double>(step_)));
  std::vector<torch::Tensor> denom;
  if (options_.amsgrad) {
    at::_foreach_maximum_(max_exp_avg_sq_, exp_avg_sq_);
    denom = at::_foreach_sqrt(max_exp_avg_sq_);
  } else {
    denom = at::_foreach_sqrt(exp_avg_sq_);
  }
  at::_foreach_div_(denom, bias2_sqrt);
  at::_foreach_add_(denom, options_.eps);
  at::_foreach_addcdiv_(params_, exp_avg_, denom, -lr / bias1);
}

std::map<std::string, torch::Tensor> Adam::state() const {
  std::map<std::string, torch::Tensor> out;
  for (size_t i = 0; i < names_.size(); ++i) {
    out["exp_avg." + names_[i]] = exp_avg_[i];
    out["exp_avg_sq." + names_[i]] = exp_avg_sq_[i];
    if (options_.amsgrad) out["max_exp_avg_sq." + names_[i]] = max_exp_avg_sq_[i];
  }
  return out;
}

void Adam::load_state(const std::map<std::string, torch::Tensor>& state, int64_t step, const std::string& source) {
  SCORCH_CHECK(step >= 0, "{}: optimizer step {} is negative", source, step);
  auto expected = this->state();
  for (const auto& [key, mine] : expected) {
    auto it = state.find(key);
    SCORCH_CHECK_HINT(it != state.end(), "optim.amsgrad must match the run that wrote the checkpoint",
                      "{}: optimizer state '{}' is missing", source, key);
    SCORCH_CHECK(it->second.sizes() == mine.sizes(), "{}: optimizer state '{}' has shape {}, expected {}", source, key,
                 fmt::join(it->second.sizes(), "x"), fmt::join(mine.sizes(), "x"));
  }
  for (const auto& [key, t] : state)
    SCORCH_CHECK(expected.count(key), "{}: unexpected optimizer state '{}' (a different model?)", source, key);
  torch::NoGradGuard no_grad;
  for (auto& [key, mine] : expected) mine.copy_(state.at(key));
  step_ = step;
  for (auto& t : steps_) t.fill_(static_cast<double>(step));
}

}  // namespace scorch::trainer
