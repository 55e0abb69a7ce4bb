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
    SCORCH_FAIL("sampling.spacing: unknown value '{}' (expected one of: time_uniform, time_quadratic, logsnr, edm)",
                spacing);
  }
  // The inverses are exact to the last bit or two; pin the ends so a grid starts and stops where asked.
  t.front() = t_T;
  t.back() = t_0;
  return t;
}

}  // namespace scorch::sampler
