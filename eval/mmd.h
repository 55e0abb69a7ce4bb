// The kernel two-sample statistic (Gretton et al. 2012) with a Gaussian kernel: how far a set of samples is
// from a set of exact draws, for problems small enough to have them (the 2-D mixtures of `scorch lab`).
#pragma once
#include <torch/torch.h>

namespace scorch::eval {

// The median distance between the pooled points: the usual bandwidth when none is given.
double median_distance(const torch::Tensor& x, const torch::Tensor& y);

// Unbiased MMD^2 between x (m, D) and y (n, D), k(a, b) = exp(-|a - b|^2 / (2 h^2)):
// mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean k(x_i, y_j), in float64. Its expectation is 0
// when x and y come from one distribution, so small negative values happen. h <= 0 takes median_distance.
double mmd2_gaussian(const torch::Tensor& x, const torch::Tensor& y, double bandwidth = 0);

}  // namespace scorch::eval
