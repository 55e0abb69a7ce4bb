// Correctors of the predictor-corrector sampler: Langevin MCMC steps at a fixed noise level, chosen by name.
#pragma once
#include <memory>
#include <string>

#include "sampler/predictors.h"

namespace scorch::sampler {

class Corrector {
 public:
  virtual ~Corrector() = default;
  // n_steps Langevin steps at time t (B,).
  virtual Update update(const torch::Tensor& x, const torch::Tensor& t, torch::Generator& gen) = 0;
};

// langevin | ald | none. Langevin's step size comes from `snr` and the norms of score and noise averaged
// over the batch (so a batch, not a rank, is the unit that fixes the result); ALD's from snr and the
// marginal std. Both scale by alpha_i = 1 - beta_i of the DDPM table for VP and sub-VP (the reference
// crashes for sub-VP, which has no table; scorch uses the one its shared beta(t) defines), 1 for VE.
std::unique_ptr<Corrector> make_corrector(const std::string& name, std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score,
                                          double snr, int64_t n_steps);

// The table alpha_i (N,) float32 of make_corrector's note, on the SDE's device for VP and on the CPU for
// sub-VP; undefined for VE, whose alpha is 1.
torch::Tensor corrector_alphas(const sdes::Sde& sde);

}  // namespace scorch::sampler
