// Inception Score (contiguous splits) and KID (unbiased polynomial-kernel MMD over subsets), float64.
#include "eval/scores.h"

#include <cmath>

#include "core/error.h"

namespace scorch::eval {

namespace {

MeanStd mean_std(const std::vector<double>& v) {
  MeanStd r;
  for (double x : v) r.mean += x;
  r.mean /= static_cast<double>(v.size());
  for (double x : v) r.std += (x - r.mean) * (x - r.mean);
  r.std = std::sqrt(r.std / static_cast<double>(v.size()));
  return r;
}

}  // namespace

MeanStd inception_score(const torch::Tensor& logits, int64_t splits) {
  SCORCH_CHECK(logits.dim() == 2, "inception_score: logits must be (N, classes), got {}", c10::str(logits.sizes()));
  const int64_t n = logits.size(0);
  SCORCH_CHECK(splits >= 1 && n >= splits, "inception_score: {} images cannot make {} splits (--is-splits)", n, splits);
  auto log_p = torch::log_softmax(logits.to(torch::kCPU, torch::kDouble), 1);  // (N, K)
  std::vector<double> scores;
  for (int64_t i = 0; i < splits; ++i) {
    auto part = log_p.slice(0, i * n / splits, (i + 1) * n / splits);
    // log p(y) = log mean_x p(y|x), via logsumexp for the tiny probabilities
    auto log_py = torch::logsumexp(part, 0) - std::log(static_cast<double>(part.size(0)));
    auto kl = (part.exp() * (part - log_py.unsqueeze(0))).sum(1).mean();
    scores.push_back(std::exp(kl.item<double>()));
  }
  return mean_std(scores);
}

MeanStd kernel_inception_distance(const torch::Tensor& features_a, const torch::Tensor& features_b,
                                  const KidOptions& options) {
  SCORCH_CHECK(features_a.dim() == 2 && features_b.dim() == 2 && features_a.size(1) == features_b.size(1),
               "KID: features must be (N, D) with equal D, got {} and {}", c10::str(features_a.sizes()),
               c10::str(features_b.sizes()));
  auto fa = features_a.to(torch::kCPU, torch::kDouble);
  auto fb = features_b.to(torch::kCPU, torch::kDouble);
  const int64_t m = std::min({options.subset_size, fa.size(0), fb.size(0)});
  SCORCH_CHECK(m >= 2 && options.subsets >= 1, "KID needs at least 2 images per set, got {} and {}", fa.size(0),
               fb.size(0));
  const double d = static_cast<double>(fa.size(1));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  auto kernel = [d](const torch::Tensor& x, const torch::Tensor& y) {
    return (x.matmul(y.transpose(0, 1)) / d + 1).pow(3);
  };
  std::vector<double> mmd;
  for (int64_t s = 0; s < options.subsets; ++s) {
    auto x = fa.index({torch::randperm(fa.size(0), gen, torch::kLong).slice(0, 0, m)});
    auto y = fb.index({torch::randperm(fb.size(0), gen, torch::kLong).slice(0, 0, m)});
    auto kxx = kernel(x, x), kyy = kernel(y, y), kxy = kernel(x, y);
    // unbiased: the diagonals k(x_i, x_i) are left out of the within-set means
    const double within = ((kxx.sum() - kxx.trace()) + (kyy.sum() - kyy.trace())).item<double>() / (m * (m - 1.0));
    mmd.push_back(within - 2.0 * kxy.sum().item<double>() / (static_cast<double>(m) * m));
  }
  return mean_std(mmd);
}

}  // namespace scorch::eval
