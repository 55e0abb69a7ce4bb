// DPM-Solver++ updates in data-prediction form; phi_k are the exponential integrator's weights in h = lambda_t -
// lambda_s.
#include "sampler/dpm_solver.h"

#include <cmath>
#include <deque>

#include "core/error.h"
#include "sampler/time_steps.h"

namespace scorch::sampler {

DpmSolver::DpmSolver(const NoiseSchedule& schedule, DataPrediction& model, DpmSolverOptions options)
    : schedule_(schedule), model_(model), o_(std::move(options)) {
  SCORCH_CHECK(o_.order >= 1 && o_.order <= 3, "sampling.solver_order must be 1, 2 or 3 for dpm_solver, got {}",
               o_.order);
  SCORCH_CHECK(o_.method == "multistep" || o_.method == "singlestep",
               "sampling.dpm_method: unknown value '{}' (expected one of: multistep, singlestep)", o_.method);
}

torch::Tensor DpmSolver::run(const torch::Tensor& x_T, double t_T, double t_0, int64_t steps) {
  auto x = o_.method == "multistep" ? multistep(x_T, time_steps(schedule_, o_.spacing, t_T, t_0, steps))
                                    : singlestep(x_T, t_T, t_0, steps);
  return o_.denoise_to_zero ? model_(x, t_0) : x;
}

torch::Tensor DpmSolver::multistep(torch::Tensor x, const std::vector<double>& t) {
  const int64_t steps = static_cast<int64_t>(t.size()) - 1;
  std::deque<torch::Tensor> d;  // x_0 predictions at t[i-1], t[i-2], t[i-3] (newest first)
  std::deque<double> lam;       // their lambdas
  d.push_front(model_(x, t[0]));
  lam.push_front(schedule_.lambda(t[0]));
  for (int64_t i = 1; i <= steps; ++i) {
    int64_t order = std::min<int64_t>(o_.order, i);  // warm-up: as many past values as there are
    if (o_.lower_order_final && steps < 10) order = std::min<int64_t>(order, steps + 1 - i);
    const double s = t[i - 1], lt = schedule_.lambda(t[i]), h = lt - lam[0];
    const double a_t = schedule_.alpha(t[i]), ratio = schedule_.sigma(t[i]) / schedule_.sigma(s);
    const double phi1 = std::expm1(-h);
    x = ratio * x - a_t * phi1 * d[0];
    if (order >= 2) {
      const double r0 = (lam[0] - lam[1]) / h;
      const auto d1_0 = (d[0] - d[1]) / r0;
      if (order == 2) {
        x = x - 0.5 * a_t * phi1 * d1_0;
      } else {
        const double r1 = (lam[1] - lam[2]) / h;
        const auto d1_1 = (d[1] - d[2]) / r1;
        const auto d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1);
        const auto d2 = (d1_0 - d1_1) / (r0 + r1);
        const double phi2 = phi1 / h + 1, phi3 = phi2 / h - 0.5;
        x = x + a_t * phi2 * d1 - a_t * phi3 * d2;
      }
    }
    if (i < steps) {
      d.push_front(model_(x, t[i]));
      lam.push_front(lt);
      if (d.size() > 3) d.pop_back(), lam.pop_back();
    }
  }
  return x;
}

torch::Tensor DpmSolver::singlestep(torch::Tensor x, double t_T, double t_0, int64_t steps) {
  // The orders of the outer steps, summing to `steps` (the reference's split: 3s first, the remainder last).
  std::vector<int64_t> orders;
  if (o_.order == 3) {
    const int64_t k = steps / 3 + 1;
    if (steps % 3 == 0) {
      orders.assign(k - 2, 3), orders.push_back(2), orders.push_back(1);
    } else {
      orders.assign(k - 1, 3), orders.push_back(steps % 3);
    }
  } else if (o_.order == 2) {
    orders.assign(steps / 2, 2);
    if (steps % 2) orders.push_back(1);
  } else {
    orders.assign(steps, 1);
  }
  std::vector<double> outer;
  std::vector<std::pair<double, double>> r;  // inner lambda fractions per outer step
  if (o_.spacing == "logsnr") {
    // Outer steps uniform in lambda, inner points at 1/2 (order 2) or 1/3, 2/3 (order 3) of each.
    outer = time_steps(schedule_, "logsnr", t_T, t_0, static_cast<int64_t>(orders.size()));
    for (auto k : orders) r.emplace_back(k == 3 ? 1.0 / 3 : 0.5, 2.0 / 3);
  } else {
    // The fine grid of `steps` intervals; each outer step spans `order` of them, inner points on the grid.
    const auto fine = time_steps(schedule_, o_.spacing, t_T, t_0, steps);
    size_t j = 0;
    outer.push_back(fine[0]);
    for (auto k : orders) {
      const double ls = schedule_.lambda(fine[j]), h = schedule_.lambda(fine[j + k]) - ls;
      const double r1 = k >= 2 ? (schedule_.lambda(fine[j + 1]) - ls) / h : 0.5;
      const double r2 = k >= 3 ? (schedule_.lambda(fine[j + 2]) - ls) / h : 2.0 / 3;
      r.emplace_back(r1, r2);
      j += k;
      outer.push_back(fine[j]);
    }
  }
  for (size_t i = 0; i < orders.size(); ++i)
    x = singlestep_update(x, outer[i], outer[i + 1], orders[i], r[i].first, r[i].second);
  return x;
}

torch::Tensor DpmSolver::singlestep_update(const torch::Tensor& x, double s, double t, int64_t order, double r1,
                                           double r2) {
  const double ls = schedule_.lambda(s), h = schedule_.lambda(t) - ls;
  const double a_t = schedule_.alpha(t), sig_s = schedule_.sigma(s), sig_t = schedule_.sigma(t);
  const double phi1 = std::expm1(-h);
  const auto d_s = model_(x, s);
  auto out = (sig_t / sig_s) * x - a_t * phi1 * d_s;
  if (order == 1) return out;
  const double s1 = schedule_.t_of_lambda(ls + r1 * h);
  const auto u1 = (schedule_.sigma(s1) / sig_s) * x - schedule_.alpha(s1) * std::expm1(-r1 * h) * d_s;
  const auto d_s1 = model_(u1, s1);
  if (order == 2) return out - (0.5 / r1) * a_t * phi1 * (d_s1 - d_s);
  const double s2 = schedule_.t_of_lambda(ls + r2 * h);
  const double phi22 = std::expm1(-r2 * h) / (r2 * h) + 1, phi2 = phi1 / h + 1;
  const double a_s2 = schedule_.alpha(s2);
  const auto u2 =
      (schedule_.sigma(s2) / sig_s) * x - a_s2 * std::expm1(-r2 * h) * d_s + (r2 / r1) * a_s2 * phi22 * (d_s1 - d_s);
  const auto d_s2 = model_(u2, s2);
  return out + (1.0 / r2) * a_t * phi2 * (d_s2 - d_s);
}

}  // namespace scorch::sampler
