// Ema: warm-up decay, multi-tensor update over all tracked parameters, validated state loading; EmaSwap.
#include "trainer/ema.h"

#include <algorithm>

#include "core/error.h"

namespace scorch::trainer {

namespace {
std::string shape_str(const torch::Tensor& t) { return fmt::format("{}", fmt::join(t.sizes(), "x")); }
}  // namespace

Ema::Ema(const torch::nn::Module& model, double rate) : rate_(rate) {
  SCORCH_CHECK(rate >= 0.0 && rate <= 1.0, "model.ema_rate must lie in [0, 1], got {}", rate);
  torch::NoGradGuard no_grad;
  for (const auto& p : model.named_parameters()) {
    if (!p.value().requires_grad()) continue;
    names_.push_back(p.key());
    shadow_[p.key()] = p.value().detach().to(torch::kFloat32, /*non_blocking=*/false, /*copy=*/true);
  }
}

double Ema::decay_at(double rate, int64_t n) {
  return std::min(rate, (1.0 + static_cast<double>(n)) / (10.0 + static_cast<double>(n)));
}

int64_t Ema::num_updates() const {
  return device_updates_.defined() ? static_cast<int64_t>(device_updates_.item<double>()) : num_updates_;
}

namespace {
// s <- s + w (p - s) as three multi-tensor passes: p - s, times w, added to s. That is the reference's
// s - (1 - d)(s - p) bit for bit (negating the difference and the product is exact), where a lerp rounds once
// through a fused multiply-add and differs in the last bit. With w a 0-dim device tensor every pass keeps
// CUDA's multi-tensor route; a lerp with tensor weights falls back to one kernel per parameter.
template <typename Weight>
void move_towards(std::vector<torch::Tensor>& shadows, const std::vector<torch::Tensor>& values, const Weight& w) {
  auto steps = at::_foreach_sub(values, shadows);
  at::_foreach_mul_(steps, w);
  at::_foreach_add_(shadows, steps);
}
}  // namespace

void Ema::update(const torch::nn::Module& model, const torch::Tensor& found_inf) {
  torch::NoGradGuard no_grad;
  auto params = model.named_parameters();
  std::vector<torch::Tensor> shadows, values;
  shadows.reserve(names_.size());
  values.reserve(names_.size());
  for (const auto& name : names_) {
    const auto* p = params.find(name);
    SCORCH_CHECK(p != nullptr, "EMA: the model has no parameter '{}' any more", name);
    shadows.push_back(shadow_.at(name));
    values.push_back(p->detach().to(torch::kFloat32));
  }
  if (!found_inf.defined()) {
    SCORCH_CHECK(!device_updates_.defined(), "EMA: a plain update after masked ones (the count is on the device)");
    ++num_updates_;
    if (!shadows.empty()) move_towards(shadows, values, torch::Scalar(1.0 - decay_at(rate_, num_updates_)));
    return;
  }
  if (shadows.empty()) return;
  if (!device_updates_.defined())
    device_updates_ = torch::full({}, static_cast<double>(num_updates_),
                                  torch::TensorOptions(torch::kFloat64).device(shadows.front().device()));
  // decay_at's double arithmetic on the device, then the same rounding to float the plain update's scalar
  // gets; a skipped step moves by 0, which leaves every shadow as it was.
  const auto keep = 1.0 - found_inf.to(torch::kFloat64);  // ()
  device_updates_.add_(keep);
  const auto n = device_updates_;
  const auto decay = torch::clamp_max((1.0 + n) / (10.0 + n), rate_);  // ()
  move_towards(shadows, values, ((1.0 - decay) * keep).to(torch::kFloat32));
}

void Ema::copy_to(torch::nn::Module& model) const {
  torch::NoGradGuard no_grad;
  auto params = model.named_parameters();
  for (const auto& name : names_) {
    auto* p = params.find(name);
    SCORCH_CHECK(p != nullptr, "EMA: the model has no parameter '{}'", name);
    p->copy_(shadow_.at(name));
  }
}

void Ema::load_state(int64_t num_updates, const std::map<std::string, torch::Tensor>& shadow) {
  SCORCH_CHECK(num_updates >= 0, "EMA state: num_updates must be >= 0, got {}", num_updates);
  for (const auto& [name, t] : shadow)
    SCORCH_CHECK(shadow_.count(name), "EMA state has '{}', which is not a trainable parameter of the model", name);
  for (const auto& [name, mine] : shadow_) {
    auto it = shadow.find(name);
    SCORCH_CHECK(it != shadow.end(), "EMA state lacks the trainable parameter '{}'", name);
    SCORCH_CHECK(it->second.sizes() == mine.sizes(), "EMA state '{}' has shape {}, the model {}", name,
                 shape_str(it->second), shape_str(mine));
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, mine] : shadow_) mine.copy_(shadow.at(name));
  num_updates_ = num_updates;
  device_updates_ = torch::Tensor();
}

std::vector<torch::Tensor> Ema::shadow_tensors() {
  std::vector<torch::Tensor> out;
  out.reserve(names_.size());
  for (const auto& name : names_) out.push_back(shadow_.at(name));
  return out;
}

void Ema::to(const torch::Device& device) {
  for (auto& [name, t] : shadow_) t = t.to(device);
  if (device_updates_.defined()) device_updates_ = device_updates_.to(device);
}

EmaSwap::EmaSwap(const Ema& ema, torch::nn::Module& model) : model_(model), was_training_(model.is_training()) {
  for (const auto& p : model.named_parameters()) training_weights_[p.key()] = p.value().detach().clone();
  ema.copy_to(model);
  model.eval();
}

EmaSwap::~EmaSwap() {
  torch::NoGradGuard no_grad;
  for (auto& p : model_.named_parameters()) {
    auto it = training_weights_.find(p.key());
    if (it != training_weights_.end()) p.value().copy_(it->second);
  }
  model_.train(was_training_);
}

}  // namespace scorch::trainer
