// RK45 (Dormand-Prince) with scipy's controller, and fixed-step Euler / Heun.
#include "sampler/ode_solver.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace scorch::sampler {

namespace {

// Dormand & Prince (1980) tableau: nodes C, stage weights A, 5th-order weights B, and E = B5 - B4
// (including the FSAL 7th stage) for the embedded error estimate.
constexpr double C[6] = {0.0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1.0};
constexpr double A[6][5] = {
    {0, 0, 0, 0, 0},
    {1.0 / 5, 0, 0, 0, 0},
    {3.0 / 40, 9.0 / 40, 0, 0, 0},
    {44.0 / 45, -56.0 / 15, 32.0 / 9, 0, 0},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729, 0},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
};
constexpr double B[6] = {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84};
constexpr double E[7] = {-71.0 / 57600, 0, 71.0 / 16695, -71.0 / 1920, 17253.0 / 339200, -22.0 / 525, 1.0 / 40};
constexpr double kSafety = 0.9, kMinFactor = 0.2, kMaxFactor = 10.0;
constexpr int kErrorOrder = 4;  // the embedded 4th-order formula controls the step

double rms(const torch::Tensor& v) { return v.to(torch::kDouble).square().mean().sqrt().item<double>(); }

// sum_j w_j k_j over the first n stages, skipping zero weights.
torch::Tensor combine(const std::vector<torch::Tensor>& k, const double* w, int n) {
  torch::Tensor acc;
  for (int j = 0; j < n; ++j) {
    if (w[j] == 0.0) continue;
    acc = acc.defined() ? acc + k[j] * w[j] : k[j] * w[j];
  }
  return acc;
}

// Hairer, Norsett & Wanner II.4, as scipy's select_initial_step (one extra evaluation of f).
double initial_step(const OdeFn& f, double t0, const torch::Tensor& y0, const torch::Tensor& f0, double t1,
                    double direction, double rtol, double atol, int64_t& nfe) {
  const double interval = std::abs(t1 - t0);
  if (interval == 0.0) return 0.0;
  auto scale = atol + y0.abs() * rtol;
  const double d0 = rms(y0 / scale), d1 = rms(f0 / scale);
  double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
  h0 = std::min(h0, interval);
  auto f1 = f(t0 + h0 * direction, y0 + h0 * direction * f0);
  ++nfe;
  const double d2 = rms((f1 - f0) / scale) / h0;
  const double h1 = (d1 <= 1e-15 && d2 <= 1e-15) ? std::max(1e-6, h0 * 1e-3)
                                                 : std::pow(0.01 / std::max(d1, d2), 1.0 / (kErrorOrder + 1));
  return std::min({100 * h0, h1, interval});
}

}  // namespace

OdeResult solve_rk45(const OdeFn& f, const torch::Tensor& y0, double t0, double t1, double rtol, double atol) {
  SCORCH_CHECK(rtol > 0 && atol > 0, "RK45 needs positive tolerances, got rtol {} atol {}", rtol, atol);
  OdeResult r;
  if (t0 == t1) return {y0, 0, 0, 0};
  const double direction = t1 > t0 ? 1.0 : -1.0;
  const double exponent = -1.0 / (kErrorOrder + 1);
  double t = t0;
  torch::Tensor y = y0;
  torch::Tensor fy = f(t, y);
  r.nfe = 1;
  double h_abs = initial_step(f, t, y, fy, t1, direction, rtol, atol, r.nfe);
  std::vector<torch::Tensor> k(7);

  while (direction * (t - t1) < 0) {
    const double min_step = 10 * std::abs(std::nextafter(t, direction * std::numeric_limits<double>::infinity()) - t);
    h_abs = std::max(h_abs, min_step);
    bool rejected = false;
    while (true) {
      SCORCH_CHECK(h_abs >= min_step,
                   "RK45: step size underflow at t = {} (rtol {}, atol {}): the ODE is too stiff "
                   "for these tolerances",
                   t, rtol, atol);
      double t_new = t + h_abs * direction;
      if (direction * (t_new - t1) > 0) t_new = t1;
      const double h = t_new - t;
      h_abs = std::abs(h);
      k[0] = fy;
      for (int s = 1; s < 6; ++s) k[s] = f(t + C[s] * h, y + combine(k, A[s], s) * h);
      auto y_new = y + combine(k, B, 6) * h;
      auto f_new = f(t_new, y_new);
      k[6] = f_new;
      r.nfe += 6;
      auto scale = atol + torch::maximum(y.abs(), y_new.abs()) * rtol;
      const double err = rms(combine(k, E, 7) * h / scale);
      if (err < 1) {
        double factor = err == 0 ? kMaxFactor : std::min(kMaxFactor, kSafety * std::pow(err, exponent));
        if (rejected) factor = std::min(1.0, factor);
        h_abs *= factor;
        t = t_new;
        y = y_new;
        fy = f_new;
        ++r.steps;
        break;
      }
      h_abs *= std::max(kMinFactor, kSafety * std::pow(err, exponent));
      rejected = true;
      ++r.rejected;
    }
  }
  r.y = y;
  return r;
}

OdeResult solve_fixed(const OdeFn& f, const torch::Tensor& y0, double t0, double t1, int64_t steps,
                      const std::string& method) {
  SCORCH_CHECK(steps >= 1, "sampling.ode_steps must be at least 1, got {}", steps);
  SCORCH_CHECK(method == "euler" || method == "heun", "fixed-step ODE solver '{}' (expected euler or heun)", method);
  OdeResult r;
  const double h = (t1 - t0) / static_cast<double>(steps);
  torch::Tensor y = y0;
  for (int64_t i = 0; i < steps; ++i) {
    const double t = t0 + h * static_cast<double>(i);
    // The last step lands on t1 exactly.
    const double t_next = i + 1 == steps ? t1 : t + h;
    auto k1 = f(t, y);
    if (method == "euler") {
      y = y + k1 * (t_next - t);
      r.nfe += 1;
    } else {
      auto k2 = f(t_next, y + k1 * (t_next - t));
      y = y + (k1 + k2) * (0.5 * (t_next - t));
      r.nfe += 2;
    }
    ++r.steps;
  }
  r.y = y;
  return r;
}

OdeResult solve_ode(const std::string& method, const OdeFn& f, const torch::Tensor& y0, double t0, double t1,
                    double rtol, double atol, int64_t steps) {
  if (method == "rk45") return solve_rk45(f, y0, t0, t1, rtol, atol);
  return solve_fixed(f, y0, t0, t1, steps, method);
}

}  // namespace scorch::sampler
