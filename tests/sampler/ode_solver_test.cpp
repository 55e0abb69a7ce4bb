// RK45 against closed-form ODE solutions, and its number of function evaluations against scipy's
// solve_ivp(method='RK45') on the same problems and tolerances; Euler and Heun convergence orders.
#include "sampler/ode_solver.h"

#include <gtest/gtest.h>

#include <cmath>

namespace scorch::sampler {
namespace {

const auto kF64 = torch::TensorOptions(torch::kFloat64);

// y' = -2 t y: y(t) = y(0) exp(-t^2).
OdeFn gaussian_decay = [](double t, const torch::Tensor& y) { return -2.0 * t * y; };

// The VP probability-flow ODE of Gaussian data N(0.3, 0.4^2) (beta 0.1..20), whose exact flow is affine:
// x(t) = a(t) mu + (x(1) - a(1) mu) v(t) / v(1), v(t)^2 = a(t)^2 s^2 + 1 - a(t)^2.
struct VpFlow {
  double b0 = 0.1, b1 = 20.0, mu = 0.3, s = 0.4;
  std::pair<double, double> coef(double t) const {
    const double m = -0.25 * t * t * (b1 - b0) - 0.5 * t * b0;
    return {std::exp(m), std::sqrt(1 - std::exp(2 * m))};
  }
  double v(double t) const {
    auto [a, sd] = coef(t);
    return std::sqrt(a * a * s * s + sd * sd);
  }
  OdeFn f() const {
    return [this](double t, const torch::Tensor& x) {
      const double beta = b0 + t * (b1 - b0);
      auto [a, sd] = coef(t);
      auto score = -(x - a * mu) / (a * a * s * s + sd * sd);
      return -0.5 * beta * x - 0.5 * beta * score;
    };
  }
  torch::Tensor exact(const torch::Tensor& x1, double t) const {
    return coef(t).first * mu + (x1 - coef(1.0).first * mu) * (v(t) / v(1.0));
  }
};

// scipy 1.17.1, solve_ivp(..., method='RK45'): nfev for the same problems (the script that printed these
// is in docs/sampling.md, "ODE solver"). Our controller is scipy's, in float64, so the counts agree exactly;
// the target is within 5%.
constexpr int64_t kScipyDecayNfe = 98;
struct Fixture {
  double tol;
  int64_t scipy_nfe;
};
constexpr Fixture kScipyVpNfe[] = {{1e-3, 32}, {1e-4, 44}, {1e-5, 74}, {1e-6, 104}};

TEST(OdeSolver, Rk45MatchesTheClosedFormAndScipysNfe) {
  auto y0 = torch::tensor({1.0, 2.0, 3.0}, kF64);
  auto r = solve_rk45(gaussian_decay, y0, 0.0, 2.0, 1e-5, 1e-5);
  auto exact = y0 * std::exp(-4.0);
  // Global error stays within a small multiple of the tolerance (scipy's own result is 5e-6 off here).
  EXPECT_LT((r.y - exact).abs().max().item<double>(), 2e-5);
  EXPECT_EQ(r.nfe, kScipyDecayNfe);
  EXPECT_EQ(r.nfe, 2 + 6 * (r.steps + r.rejected));
}

TEST(OdeSolver, Rk45OnTheProbabilityFlowOfGaussianData) {
  VpFlow flow;
  auto x1 = torch::linspace(-2.0, 2.0, 8, kF64);
  for (const auto& fx : kScipyVpNfe) {
    auto r = solve_rk45(flow.f(), x1, 1.0, 1e-3, fx.tol, fx.tol);
    const double err = (r.y - flow.exact(x1, 1e-3)).abs().max().item<double>();
    EXPECT_LT(err, 20 * fx.tol) << "tol " << fx.tol;
    EXPECT_LE(std::abs(r.nfe - fx.scipy_nfe), 0.05 * fx.scipy_nfe) << "tol " << fx.tol << ": nfe " << r.nfe;
    EXPECT_EQ(r.nfe, fx.scipy_nfe) << "tol " << fx.tol;
  }
}

TEST(OdeSolver, Rk45IntegratesBackwardAndToTheEndpointExactly) {
  // Backward in time: from y(2) back to y(0).
  auto y2 = torch::tensor({std::exp(-4.0)}, kF64);
  auto r = solve_rk45(gaussian_decay, y2, 2.0, 0.0, 1e-8, 1e-10);
  EXPECT_NEAR(r.y.item<double>(), 1.0, 1e-6);
  EXPECT_EQ(solve_rk45(gaussian_decay, y2, 1.0, 1.0, 1e-5, 1e-5).nfe, 0);
  EXPECT_THROW(solve_rk45(gaussian_decay, y2, 0.0, 1.0, 0.0, 1e-5), std::exception);
}

TEST(OdeSolver, EulerIsFirstOrderAndHeunSecondOrder) {
  auto y0 = torch::tensor({1.0}, kF64);
  const double exact = std::exp(-1.0);
  auto err = [&](const std::string& m, int64_t n) {
    return std::abs(solve_fixed(gaussian_decay, y0, 0.0, 1.0, n, m).y.item<double>() - exact);
  };
  // Halving the step halves Euler's error and quarters Heun's (ratios within 10% of 2 and 4).
  EXPECT_NEAR(err("euler", 200) / err("euler", 400), 2.0, 0.2);
  EXPECT_NEAR(err("heun", 200) / err("heun", 400), 4.0, 0.4);
  EXPECT_EQ(solve_fixed(gaussian_decay, y0, 0.0, 1.0, 10, "euler").nfe, 10);
  EXPECT_EQ(solve_fixed(gaussian_decay, y0, 0.0, 1.0, 10, "heun").nfe, 20);
  EXPECT_THROW(solve_fixed(gaussian_decay, y0, 0.0, 1.0, 10, "midpoint"), std::exception);
}

}  // namespace
}  // namespace scorch::sampler
