// ODE solvers for the probability-flow ODE: adaptive Dormand-Prince RK45 (scipy's step control) and
// fixed-step Euler and Heun.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>

namespace scorch::sampler {

// dy/dt = f(t, y); y is any tensor (the solvers treat it as one flat vector, as scipy's solve_ivp does).
using OdeFn = std::function<torch::Tensor(double t, const torch::Tensor& y)>;

struct OdeResult {
  torch::Tensor y;       // y(t1)
  int64_t nfe = 0;       // evaluations of f, counted as scipy counts nfev
  int64_t steps = 0;     // accepted steps
  int64_t rejected = 0;  // rejected step attempts (adaptive only)
};

// Dormand-Prince 5(4) with the step-size control of scipy.integrate.RK45 (initial step selection of Hairer,
// Norsett & Wanner, safety 0.9, factors in [0.2, 10], RMS error norm over the whole vector with
// scale atol + rtol max(|y|, |y_new|)), so that NFE counts compare with scipy's for the same problem.
// The state is kept in y0's dtype (use float64 for scipy's behaviour). Throws when the step underflows.
OdeResult solve_rk45(const OdeFn& f, const torch::Tensor& y0, double t0, double t1, double rtol, double atol);

// `steps` equal steps of Euler (1 evaluation each) or Heun (2 evaluations each).
OdeResult solve_fixed(const OdeFn& f, const torch::Tensor& y0, double t0, double t1, int64_t steps,
                      const std::string& method);

// "rk45" (rtol, atol) or "euler" / "heun" (steps).
OdeResult solve_ode(const std::string& method, const OdeFn& f, const torch::Tensor& y0, double t0, double t1,
                    double rtol, double atol, int64_t steps);

}  // namespace scorch::sampler
