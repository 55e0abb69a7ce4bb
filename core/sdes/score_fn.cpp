// Label mappings and output conversions of score_sde's get_score_fn, one branch per SDE kind.
#include "core/sdes/score_fn.h"

#include "core/error.h"
#include "core/sdes/ve_sde.h"
#include "core/sdes/vp_sde.h"

namespace scorch::sdes {

namespace {
void refuse_discrete_subvp(const Sde& sde, bool continuous) {
  SCORCH_CHECK_HINT(continuous || sde.kind() != SdeKind::SubVP,
                    "set training.continuous: true (every sub-VP config in configs/subvp is continuous)",
                    "training.sde=subvpsde with training.continuous=false: the sub-VP SDE has no discrete "
                    "(SMLD/DDPM) form to train or sample with");
}
}  // namespace

torch::Tensor model_labels(const Sde& sde, const torch::Tensor& t, bool continuous) {
  refuse_discrete_subvp(sde, continuous);
  const double n1 = static_cast<double>(sde.N() - 1);
  if (sde.kind() == SdeKind::VE) {
    if (continuous) return static_cast<const VESDE&>(sde).sigma(t);
    return ((sde.T() - t) * n1).round().to(torch::kLong);
  }
  // The continuous VP networks were trained with time embeddings of 999 t whatever N is.
  return continuous ? t * 999.0 : t * n1;
}

torch::Tensor discrete_vp_std(const VPSDE& vp, const torch::Tensor& labels) {
  return vp.sqrt_1m_alphas_cumprod().to(labels.device()).index({labels.to(torch::kLong)});
}

ScoreFn make_score_fn(const std::shared_ptr<Sde>& sde, ModelFn model, bool continuous) {
  SCORCH_CHECK(sde != nullptr && model, "make_score_fn needs an SDE and a model");
  refuse_discrete_subvp(*sde, continuous);
  if (sde->kind() == SdeKind::VE) {
    return [sde, model = std::move(model), continuous](const torch::Tensor& x, const torch::Tensor& t) {
      return model(x, model_labels(*sde, t, continuous));
    };
  }
  return [sde, model = std::move(model), continuous](const torch::Tensor& x, const torch::Tensor& t) {
    auto labels = model_labels(*sde, t, continuous);
    auto out = model(x, labels);  // (B, C, H, W): predicted noise
    torch::Tensor std;            // (B,)
    if (continuous) {
      std = sde->marginal_prob(torch::zeros_like(x), t).std;
    } else {
      std = discrete_vp_std(static_cast<const VPSDE&>(*sde), labels).to(out.dtype());
    }
    return -out / std.view({-1, 1, 1, 1});
  };
}

}  // namespace scorch::sdes
