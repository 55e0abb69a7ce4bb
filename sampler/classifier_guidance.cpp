// The guided score (classifier_guidance.h). Samplers run under NoGradGuard; the classifier's gradient needs
// autograd, so it is switched on here for that one computation only.
#include "sampler/classifier_guidance.h"

#include "core/error.h"

namespace scorch::sampler {

sdes::ScoreFn classifier_guided(sdes::ScoreFn score, LogitFn logits, torch::Tensor labels, double scale) {
  SCORCH_CHECK(labels.dim() == 1, "classifier guidance: labels must be (B,), got {}", c10::str(labels.sizes()));
  labels = labels.to(torch::kLong);
  SCORCH_CHECK(labels.numel() == 0 || labels.min().item<int64_t>() >= 0, "classifier guidance: negative class id");
  auto checked = std::make_shared<bool>(false);  // the class count is known at the first call
  return [score = std::move(score), logits = std::move(logits), labels, scale, checked](const torch::Tensor& x,
                                                                                        const torch::Tensor& t) {
    SCORCH_CHECK(x.size(0) == labels.size(0), "classifier guidance: a batch of {} with {} class labels", x.size(0),
                 labels.size(0));
    const auto s = score(x, t);
    torch::Tensor grad;
    {
      torch::AutoGradMode on(true);
      auto xg = x.detach().requires_grad_(true);
      const auto out = logits(xg, t);  // (B, K)
      SCORCH_CHECK(out.dim() == 2 && out.size(0) == x.size(0),
                   "classifier guidance: the classifier returned {} for a batch of {}", c10::str(out.sizes()),
                   x.size(0));
      if (!*checked) {
        SCORCH_CHECK(labels.max().item<int64_t>() < out.size(1),
                     "classifier guidance: class {} requested from a classifier of {} classes",
                     labels.max().item<int64_t>(), out.size(1));
        *checked = true;
      }
      const auto y = labels.to(out.device()).view({-1, 1});
      // float32 at least: half-precision logits lose the small differences a gradient is made of.
      const auto wide = out.scalar_type() == torch::kDouble ? out : out.to(torch::kFloat32);
      const auto log_p = torch::log_softmax(wide, 1).gather(1, y).sum();
      grad = torch::autograd::grad({log_p}, {xg})[0];
    }
    return s + scale * grad.to(s.dtype());
  };
}

LogitFn classifier_logits(models::ScoreModelImpl& classifier, std::shared_ptr<sdes::Sde> sde) {
  return [&classifier, sde = std::move(sde)](const torch::Tensor& x, const torch::Tensor& t) {
    const auto std = sde->marginal_prob(torch::zeros_like(x), t).std;  // (B,)
    return classifier.forward(x, std.to(x.dtype()));
  };
}

}  // namespace scorch::sampler
