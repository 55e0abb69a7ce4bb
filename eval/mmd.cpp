// Gaussian-kernel MMD (mmd.h): the three kernel means from pairwise squared distances, diagonals left out.
#include "eval/mmd.h"

#include "core/error.h"

namespace scorch::eval {
namespace {

torch::Tensor points(const torch::Tensor& t, const char* which) {
  SCORCH_CHECK(t.dim() >= 1 && t.size(0) >= 2, "MMD: {} needs at least 2 points, got shape {}", which,
               c10::str(t.sizes()));
  return t.to(torch::kCPU, torch::kFloat64).reshape({t.size(0), -1});  // (n, D)
}

// Mean of k over distinct pairs (within one set: the diagonal left out).
double kernel_mean(const torch::Tensor& a, const torch::Tensor& b, double h, bool same) {
  const auto k = torch::exp(-torch::cdist(a, b).square() / (2 * h * h));  // (m, n)
  if (!same) return k.mean().item<double>();
  const double n = static_cast<double>(a.size(0));
  return ((k.sum() - k.diagonal().sum()) / (n * (n - 1))).item<double>();
}

}  // namespace

double median_distance(const torch::Tensor& x, const torch::Tensor& y) {
  const auto all = torch::cat({points(x, "x"), points(y, "y")});
  const auto d = torch::cdist(all, all);
  const auto upper = d.masked_select(torch::ones_like(d, torch::kBool).triu(1));
  return upper.median().item<double>();
}

double mmd2_gaussian(const torch::Tensor& x, const torch::Tensor& y, double bandwidth) {
  const auto a = points(x, "x"), b = points(y, "y");
  SCORCH_CHECK(a.size(1) == b.size(1), "MMD: x has {} dimensions, y {}", a.size(1), b.size(1));
  const double h = bandwidth > 0 ? bandwidth : median_distance(a, b);
  SCORCH_CHECK(h > 0, "MMD: every point is the same, so there is no bandwidth; pass one");
  return kernel_mean(a, a, h, true) + kernel_mean(b, b, h, true) - 2 * kernel_mean(a, b, h, false);
}

}  // namespace scorch::eval
