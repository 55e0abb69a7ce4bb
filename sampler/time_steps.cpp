// time_steps: the grids the papers define, mapped back to the SDE's time through the schedule's inverses.
#include "sampler/time_steps.h"

#include <cmath>

#include "core/error.h"

namespace scorch::sampler {

std::vector<double> time_steps(const NoiseSchedule& schedule, const std::string& spacing, double t_T, double t_0,
                               int64_t steps, double rho) {
  SCORCH_CHECK(steps >= 1, "sampling.steps must be at least 1, got {}", steps);
  SCORCH_CHECK(t_T > t_0 && t_0 > 0, "time grid: need T > eps > 0, got T = {}, eps = {}", t_T, t_0);
  std::vector<double> t(steps + 1);
  const double n = static_cast<double>(steps);
  if (spacing == "time_uniform") {
    for (int64_t i = 0; i <= steps; ++i) t[i] = t_T + (t_0 - t_T) * (i / n);
  } else if (spacing == "time_quadratic") {
    const double a = std::sqrt(t_T), b = std::sqrt(t_0);
    for (int64_t i = 0; i <= steps; ++i) t[i] = std::pow(a + (b - a) * (i / n), 2);
  } else if (spacing == "logsnr") {
    const double a = schedule.lambda(t_T), b = schedule.lambda(t_0);
    for (int64_t i = 0; i <= steps; ++i) t[i] = schedule.t_of_lambda(a + (b - a) * (i / n));
  } else if (spacing == "edm") {
    SCORCH_CHECK(rho > 0, "sampling.edm_rho must be positive, got {}", rho);
    const double a = std::pow(schedule.edm_sigma(t_T), 1 / rho), b = std::pow(schedule.edm_sigma(t_0), 1 / rho);
    for (int64_t i = 0; i <= steps; ++i) t[i] = schedule.t_of_edm_sigma(std::pow(a + (b - a) * (i / n), rho));
  } else {
    SCORCH_CHECK(!is_ddim_labels(spacing), "internal: time_steps for {}, whose grid ddim_label_times gives", spacing);
    SCORCH_FAIL("sampling.spacing: unknown value '{}' (expected one of: time_uniform, time_quadratic, logsnr, edm)",
                spacing);
  }
  // The inverses are exact to the last bit or two; pin the ends so a grid starts and stops where asked.
  t.front() = t_T;
  t.back() = t_0;
  return t;
}

bool is_ddim_labels(const std::string& spacing) { return spacing == "ddim_uniform" || spacing == "ddim_quad"; }

void check_ddim_labels_method(const std::string& method, const std::string& spacing) {
  SCORCH_CHECK_HINT(
      method == "ddim" || method == "ddpm" || !is_ddim_labels(spacing),
      "use sampling.method ddim or ddpm, or another sampling.spacing",
      "sampling.spacing {} is ermongroup/ddim's label sequence, which only ddim and ddpm take (method {})", spacing,
      method);
}

std::vector<double> ddim_label_times(int64_t num_labels, const std::string& spacing, int64_t steps) {
  SCORCH_CHECK(num_labels >= 2, "sampling.spacing {}: the network's chain has {} labels, need at least 2", spacing,
               num_labels);
  SCORCH_CHECK_HINT(steps >= 1 && steps <= num_labels, fmt::format("set sampling.steps to 1..{}", num_labels),
                    "sampling.spacing {}: sampling.steps = {} labels of a chain of {}", spacing, steps, num_labels);
  std::vector<int64_t> labels;
  if (spacing == "ddim_uniform") {
    for (int64_t u = 0, k = num_labels / steps; u < num_labels; u += k) labels.push_back(u);
  } else if (spacing == "ddim_quad") {
    // numpy's linspace: i * (stop / (steps - 1)), the last point stop itself; int() truncates the square.
    const double stop = std::sqrt(static_cast<double>(num_labels) * 0.8);
    const double step = steps > 1 ? stop / static_cast<double>(steps - 1) : 0.0;
    for (int64_t i = 0; i < steps; ++i) {
      const double v = i == steps - 1 && steps > 1 ? stop : static_cast<double>(i) * step;
      labels.push_back(static_cast<int64_t>(v * v));
    }
  } else {
    SCORCH_FAIL("internal: ddim_label_times for sampling.spacing {}", spacing);
  }
  std::vector<double> t;
  for (auto u = labels.rbegin(); u != labels.rend(); ++u) {
    t.push_back(static_cast<double>(*u) / static_cast<double>(num_labels - 1));
  }
  return t;
}

}  // namespace scorch::sampler
