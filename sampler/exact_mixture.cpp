// Exact perturbed-mixture scores (exact_mixture.h): responsibilities by a float64 softmax, then the
// responsibility-weighted score of each component.
#include "sampler/exact_mixture.h"

#include "core/error.h"

namespace scorch::sampler {

namespace {

// Each component's log-density at x, log w_k + log N(x; alpha mu_k, v_k I) up to a constant: logits (B, K),
// with diff = x - alpha mu_k (B, K, D) and v_k (B, K) for the score. Differentiable in x.
struct Components {
  torch::Tensor logits, diff, v;
};

// The mixture's parameters as float64 tensors, made once per score function rather than at every call.
struct Params {
  torch::Tensor mu, s2, log_w;  // (1, K, D), (1, K), (1, K)
};

Params params_of(const data::Mixture& mixture) {
  const int64_t k = static_cast<int64_t>(mixture.weights.size());
  const int64_t d = static_cast<int64_t>(mixture.means.at(0).size());
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  std::vector<double> flat_means;
  for (const auto& mu : mixture.means) flat_means.insert(flat_means.end(), mu.begin(), mu.end());
  return {torch::tensor(flat_means, f64).view({1, k, d}), torch::tensor(mixture.stds, f64).square().view({1, k}),
          torch::tensor(mixture.weights, f64).log().view({1, k})};
}

Components components(const Params& p, const torch::Tensor& x, const torch::Tensor& alpha, const torch::Tensor& sigma) {
  const int64_t d = p.mu.size(2);
  SCORCH_CHECK(x.numel() == x.size(0) * d, "exact mixture score: x has shape {}, expected (B, {}) or (B, {}, 1, 1)",
               c10::str(x.sizes()), d, d);
  const auto a = alpha.to(torch::kCPU, torch::kFloat64).reshape({-1, 1});                               // (B, 1)
  const auto v = a.square() * p.s2 + sigma.to(torch::kCPU, torch::kFloat64).reshape({-1, 1}).square();  // (B, K)
  const auto diff = x.to(torch::kCPU, torch::kFloat64).reshape({-1, 1, d}) - a.unsqueeze(2) * p.mu;     // (B, K, D)
  return {p.log_w - diff.square().sum(2) / (2 * v) - 0.5 * d * v.log(), diff, v};
}

torch::Tensor score_of(const Params& p, const torch::Tensor& x, const torch::Tensor& alpha,
                       const torch::Tensor& sigma) {
  const auto c = components(p, x, alpha, sigma);
  const auto r = torch::softmax(c.logits, 1);                    // (B, K) responsibilities
  const auto score = -((r / c.v).unsqueeze(2) * c.diff).sum(1);  // (B, D)
  return score.to(x.options()).view(x.sizes());
}

}  // namespace

torch::Tensor perturbed_mixture_score(const data::Mixture& mixture, const torch::Tensor& x, const torch::Tensor& alpha,
                                      const torch::Tensor& sigma) {
  return score_of(params_of(mixture), x, alpha, sigma);
}

sdes::ScoreFn exact_mixture_score(const data::Mixture& mixture, std::shared_ptr<sdes::Sde> sde) {
  return [p = params_of(mixture), sde](const torch::Tensor& x, const torch::Tensor& t) {
    const auto ms = sde->marginal_prob(torch::ones({t.size(0), 1, 1, 1}, x.options()), t.to(x.dtype()));
    return score_of(p, x, ms.mean.flatten(), ms.std);
  };
}

sdes::ModelFn exact_mixture_levels(const data::Mixture& mixture, torch::Tensor sigmas) {
  sigmas = sigmas.to(torch::kCPU, torch::kFloat64);
  return [p = params_of(mixture), sigmas](const torch::Tensor& x, const torch::Tensor& labels) {
    const auto sigma = sigmas.index_select(0, labels.to(torch::kCPU, torch::kLong));
    return score_of(p, x, torch::ones_like(sigma), sigma);
  };
}

LogitFn exact_mixture_logits(const data::Mixture& mixture, std::shared_ptr<sdes::Sde> sde) {
  return [p = params_of(mixture), sde](const torch::Tensor& x, const torch::Tensor& t) {
    const auto ms = sde->marginal_prob(torch::ones({t.size(0), 1, 1, 1}, torch::kFloat64), t.to(torch::kFloat64));
    return components(p, x, ms.mean.flatten(), ms.std).logits;
  };
}

}  // namespace scorch::sampler
