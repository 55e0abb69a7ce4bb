// Fréchet distance between Gaussians through symmetric eigen-decompositions in float64.
#include "eval/frechet.h"

#include <spdlog/spdlog.h>

#include "core/error.h"

namespace scorch::eval {

namespace {

torch::Tensor symmetrized(const torch::Tensor& m) { return (m + m.transpose(0, 1)) * 0.5; }

std::string count_text(int64_t n) { return n > 0 ? std::to_string(n) : "an unknown number of"; }

}  // namespace

GaussianStats checked_stats(torch::Tensor mu, torch::Tensor sigma, int64_t count, const std::string& what) {
  SCORCH_CHECK(mu.dim() == 1, "{}: mu must be 1-d, got shape {}", what, c10::str(mu.sizes()));
  const int64_t d = mu.size(0);
  SCORCH_CHECK(sigma.dim() == 2 && sigma.size(0) == d && sigma.size(1) == d,
               "{}: sigma must be ({}, {}) to match mu, got shape {}", what, d, d, c10::str(sigma.sizes()));
  SCORCH_CHECK(mu.is_floating_point() && sigma.is_floating_point(), "{}: mu/sigma must be floating point, got {}/{}",
               what, c10::toString(mu.scalar_type()), c10::toString(sigma.scalar_type()));
  mu = mu.to(torch::kCPU, torch::kDouble).contiguous();
  sigma = sigma.to(torch::kCPU, torch::kDouble).contiguous();
  SCORCH_CHECK(torch::isfinite(mu).all().item<bool>() && torch::isfinite(sigma).all().item<bool>(),
               "{}: mu or sigma holds NaN/Inf", what);
  return {mu, sigma, count};
}

FrechetResult frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  SCORCH_CHECK(a.mu.size(0) == b.mu.size(0), "feature dimensions differ: {} vs {} (both must come from the same layer)",
               a.mu.size(0), b.mu.size(0));
  const int64_t d = a.mu.size(0);
  auto s1 = symmetrized(a.sigma.to(torch::kDouble));
  auto s2 = symmetrized(b.sigma.to(torch::kDouble));
  FrechetResult r;
  r.mean_term = (a.mu.to(torch::kDouble) - b.mu.to(torch::kDouble)).pow(2).sum().item<double>();
  r.rank_deficient = (a.count > 0 && a.count <= d) || (b.count > 0 && b.count <= d);

  torch::Tensor eig;
  auto [chol, info] = torch::linalg_cholesky_ex(s2);
  if (!r.rank_deficient && info.item<int64_t>() == 0) {
    r.route = "cholesky";
    eig = torch::linalg_eigvalsh(symmetrized(chol.transpose(0, 1).matmul(s1).matmul(chol)));
  } else {
    // Singular S2: A = S1^1/2 from eigh (tiny negative eigenvalues are round-off, clamped to 0).
    r.route = "eigh";
    r.rank_deficient = true;
    auto [w, v] = torch::linalg_eigh(s1);
    auto root = v.mul(w.clamp_min(0).sqrt().unsqueeze(0)).matmul(v.transpose(0, 1));
    eig = torch::linalg_eigvalsh(symmetrized(root.matmul(s2).matmul(root)));
  }
  r.clamped = (eig < 0).sum().item<int64_t>();
  r.trace_sqrt = eig.clamp_min(0).sqrt().sum().item<double>();
  r.fid = r.mean_term + s1.trace().item<double>() + s2.trace().item<double>() - 2 * r.trace_sqrt;
  if (r.rank_deficient)
    spdlog::warn(
        "FID: a covariance is singular ({} and {} images for {} dimensions); used the robust eigh route, {} negative "
        "eigenvalues clamped. FID from {} images or fewer is biased and not comparable to published numbers",
        count_text(a.count), count_text(b.count), d, r.clamped, d);
  return r;
}

}  // namespace scorch::eval
