// NoiseSchedule: alpha/sigma read off the SDE's marginal_prob in float64; lambda and EDM sigma inverted by bisection.
#include "sampler/noise_schedule.h"

#include <cmath>

#include "core/error.h"

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

NoiseSchedule::NoiseSchedule(std::shared_ptr<sdes::Sde> sde) : sde_(std::move(sde)) {
  SCORCH_CHECK(sde_ != nullptr, "NoiseSchedule needs an SDE");
}

double NoiseSchedule::alpha(double t) const { return marginal(*sde_, t).mean.item<double>(); }
double NoiseSchedule::sigma(double t) const { return marginal(*sde_, t).std.item<double>(); }
double NoiseSchedule::lambda(double t) const {
  const auto m = marginal(*sde_, t);
  return std::log(m.mean.item<double>()) - std::log(m.std.item<double>());
}
double NoiseSchedule::edm_sigma(double t) const {
  const auto m = marginal(*sde_, t);
  return m.std.item<double>() / m.mean.item<double>();
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
  auto score = score_(x, torch::full({x.size(0)}, t, x.options()));  // (B, C, H, W)
  return (x + s * s * score) / a;
}

}  // namespace scorch::sampler
