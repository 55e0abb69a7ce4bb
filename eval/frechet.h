// Gaussian feature statistics (mean, covariance) and the Fréchet distance between two of them, in float64.
#pragma once
#include <torch/torch.h>

#include <string>

namespace scorch::eval {

// mu (D,) and sigma (D, D), float64 on the CPU; count = images behind them (0 when unknown, e.g. an npz).
struct GaussianStats {
  torch::Tensor mu;
  torch::Tensor sigma;
  int64_t count = 0;
};

struct FrechetResult {
  double fid = 0;
  double mean_term = 0;   // ||mu1 - mu2||^2
  double trace_sqrt = 0;  // Tr sqrt(Sigma1 Sigma2)
  std::string route;      // "cholesky" or "eigh" (the robust route for singular covariances)
  int64_t clamped = 0;    // negative eigenvalues set to zero (round-off of a singular product)
  bool rank_deficient = false;
};

// Tr sqrt(S1 S2) through symmetric matrices only: with S2 = L L^T, the eigenvalues of L^T S1 L are those
// of S1 S2 (similar matrices) and real >= 0; if S2 is not positive definite, S1^1/2 S2 S1^1/2 via eigh.
// Never float32 (the square root amplifies round-off in the many tiny eigenvalues) and never eigvalsh of
// the non-symmetric S1 S2. Logs a warning when a covariance is singular (fewer images than dimensions).
FrechetResult frechet_distance(const GaussianStats& a, const GaussianStats& b);

// Checks mu (D,) / sigma (D, D), finite, and returns them as float64; `what` names the source in errors.
GaussianStats checked_stats(torch::Tensor mu, torch::Tensor sigma, int64_t count, const std::string& what);

}  // namespace scorch::eval
