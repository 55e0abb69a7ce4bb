// NoiseSchedule: alpha/sigma in float64 from the SDE's marginal_prob or a DDPM table; inverses by bisection.
#include "sampler/noise_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/sdes/vp_sde.h"

namespace scorch::sampler {

namespace {

sdes::MeanStd marginal(const sdes::Sde& sde, double t) {
  const auto o = torch::TensorOptions().dtype(torch::kFloat64);
  return sde.marginal_prob(torch::ones({1, 1, 1, 1}, o), torch::full({1}, t, o));
}

// The t in [lo, hi] where the monotone f crosses `target`: 200 halvings reach adjacent doubles.
template <class F>
double invert(F f, double target, double lo, double hi) {
  const bool increasing = f(hi) > f(lo);
  for (int i = 0; i < 200 && lo < hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    ((f(mid) < target) == increasing ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

NoiseSchedule::NoiseSchedule(std::shared_ptr<sdes::Sde> sde, bool continuous) : sde_(std::move(sde)) {
  SCORCH_CHECK(sde_ != nullptr, "NoiseSchedule needs an SDE");
  if (continuous || sde_->kind() != sdes::SdeKind::VP) return;
  // The float32 betas the network was trained with, summed in float64 (alphas_cumprod's float32 product would
  // lose the last digits of alpha near t = 1, where alphas_cumprod is 4e-5).
  const auto betas = static_cast<const sdes::VPSDE&>(*sde_).discrete_betas().to(torch::kCPU, torch::kFloat64);
  const auto log_alpha = (0.5 * torch::log1p(-betas).cumsum(0)).contiguous();
  log_alpha_.assign(log_alpha.data_ptr<double>(), log_alpha.data_ptr<double>() + log_alpha.numel());
}

double NoiseSchedule::log_alpha(double t) const {
  const auto n = static_cast<int64_t>(log_alpha_.size());
  if (n == 1) return log_alpha_[0];
  const double u = std::clamp(t * static_cast<double>(n - 1), 0.0, static_cast<double>(n - 1));  // the label
  const int64_t i = std::min(static_cast<int64_t>(u), n - 2);
  const double f = u - static_cast<double>(i);
  return (1 - f) * log_alpha_[i] + f * log_alpha_[i + 1];
}

double NoiseSchedule::alpha(double t) const {
  if (discrete_vp()) return std::exp(log_alpha(t));
  return marginal(*sde_, t).mean.item<double>();
}
double NoiseSchedule::sigma(double t) const {
  if (discrete_vp()) return std::sqrt(-std::expm1(2 * log_alpha(t)));
  return marginal(*sde_, t).std.item<double>();
}
double NoiseSchedule::lambda(double t) const {
  if (discrete_vp()) return log_alpha(t) - std::log(sigma(t));
  const auto m = marginal(*sde_, t);
  return std::log(m.mean.item<double>()) - std::log(m.std.item<double>());
}
double NoiseSchedule::edm_sigma(double t) const {
  if (discrete_vp()) return sigma(t) / alpha(t);
  const auto m = marginal(*sde_, t);
  return m.std.item<double>() / m.mean.item<double>();
}

torch::Tensor NoiseSchedule::score_std(const torch::Tensor& t) const {
  SCORCH_CHECK(discrete_vp(), "internal: score_std of a schedule that is not a discrete VP one");
  const auto& vp = static_cast<const sdes::VPSDE&>(*sde_);
  return sdes::discrete_vp_std(vp, sdes::model_labels(vp, t, false)).to(t.dtype());
}

double NoiseSchedule::t_of_lambda(double l) const {
  return invert([this](double t) { return lambda(t); }, l, 0.0, T());
}

double NoiseSchedule::t_of_edm_sigma(double s) const {
  return invert([this](double t) { return edm_sigma(t); }, s, 0.0, T());
}

torch::Tensor DataPrediction::operator()(const torch::Tensor& x, double t) {
  ++nfe_;
  if (hook_) hook_(t);
  const double a = schedule_.alpha(t), s = schedule_.sigma(t);
  const auto tt = torch::full({x.size(0)}, t, x.options());  // (B,)
  auto score = score_(x, tt);                                // (B, C, H, W)
  if (schedule_.discrete_vp()) return (x + s * schedule_.score_std(tt).view({-1, 1, 1, 1}) * score) / a;
  return (x + s * s * score) / a;
}

}  // namespace scorch::sampler
