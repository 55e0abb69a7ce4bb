// Inception Score from the 1008 logits and Kernel Inception Distance from pool features.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace scorch::eval {

struct MeanStd {
  double mean = 0;
  double std = 0;
};

// logits: (N, 1008) computed WITHOUT the fc bias (the original IS network's softmax input). `splits`
// contiguous chunks [i N / s, (i + 1) N / s); per chunk exp(mean KL(p(y|x) || p(y))); mean and
// population std (ddof 0) over chunks, in float64.
MeanStd inception_score(const torch::Tensor& logits, int64_t splits);

struct KidOptions {
  int64_t subsets = 100;       // torch-fidelity / clean-fid default
  int64_t subset_size = 1000;  // clamped to the smaller set, as clean-fid does
  uint64_t seed = 0;
};
// Unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x·y / D + 1)^3, averaged over random
// subsets drawn without replacement from each set; mean and std (ddof 0) over subsets.
MeanStd kernel_inception_distance(const torch::Tensor& features_a, const torch::Tensor& features_b,
                                  const KidOptions& options);

}  // namespace scorch::eval
