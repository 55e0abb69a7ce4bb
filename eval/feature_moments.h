// Running sums of features (count, Σx, Σxxᵀ in float64) that ranks all-reduce before forming mean/covariance once.
#pragma once
#include <torch/torch.h>

#include "core/dist/communicator.h"
#include "eval/frechet.h"

namespace scorch::eval {

class FeatureMoments {
 public:
  explicit FeatureMoments(int64_t dim);
  // features: (B, D), any floating dtype/device; summed in float64 on the features' device.
  void add(const torch::Tensor& features);
  // Sums over every rank (the communicator's device must match the sums' device for nccl).
  void all_reduce(dist::Communicator& comm);
  int64_t count() const { return count_; }
  // mu = Σx / N, sigma = (Σxxᵀ − N mu muᵀ) / (N − 1), as np.cov(ddof=1); needs N >= 2.
  GaussianStats stats() const;

 private:
  int64_t dim_;
  int64_t count_ = 0;
  torch::Tensor sum_, sum_outer_;  // (D,), (D, D) float64
};

// Rows computed on this rank (their global indices in `index`) gathered into one (total, D) tensor in
// global order on every rank, so that order-dependent scores (IS splits, KID subsets) do not depend on
// the number of ranks. Travels over `comm` on the CPU.
torch::Tensor gather_in_order(dist::Communicator& comm, const torch::Tensor& rows, const std::vector<int64_t>& index,
                              int64_t total);

}  // namespace scorch::eval
