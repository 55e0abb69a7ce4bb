// Sde base: Euler-Maruyama discretisation, the config factory and device-independent noise helpers.
#include "core/sdes/sde.h"

#include <cmath>

#include "core/config.h"
#include "core/error.h"
#include "core/sdes/subvp_sde.h"
#include "core/sdes/ve_sde.h"
#include "core/sdes/vp_sde.h"

namespace scorch::sdes {

const char* sde_name(SdeKind kind) {
  switch (kind) {
    case SdeKind::VE: return "vesde";
    case SdeKind::VP: return "vpsde";
    case SdeKind::SubVP: return "subvpsde";
  }
  return "?";
}

Sde::Sde(int64_t num_scales) : N_(num_scales) {
  SCORCH_CHECK(num_scales >= 2, "model.num_scales must be at least 2, got {}", num_scales);
}

DriftDiffusion Sde::discretize(const torch::Tensor& x, const torch::Tensor& t) const {
  const double dt = 1.0 / static_cast<double>(N_);
  auto dd = sde(x, t);
  return {dd.drift * dt, dd.diffusion * std::sqrt(dt)};
}

std::shared_ptr<Sde> make_sde(const Config& config) {
  const auto name = config.get_string("training.sde");
  const auto n = config.get_int("model.num_scales");
  if (name == "vesde")
    return std::make_shared<VESDE>(config.get_float("model.sigma_min"), config.get_float("model.sigma_max"), n);
  if (name == "vpsde")
    return std::make_shared<VPSDE>(config.get_float("model.beta_min"), config.get_float("model.beta_max"), n);
  if (name == "subvpsde")
    return std::make_shared<SubVPSDE>(config.get_float("model.beta_min"), config.get_float("model.beta_max"), n);
  SCORCH_FAIL("training.sde: unknown SDE '{}' (expected vesde, vpsde or subvpsde)", name);
}

namespace {
torch::TensorOptions on_generator(torch::Generator& gen, const torch::TensorOptions& options) {
  return options.device(gen.device());
}
}  // namespace

torch::Tensor randn_with(torch::IntArrayRef shape, torch::Generator& gen, const torch::TensorOptions& options) {
  return torch::randn(shape, gen, on_generator(gen, options)).to(options.device());
}

torch::Tensor rand_with(torch::IntArrayRef shape, torch::Generator& gen, const torch::TensorOptions& options) {
  return torch::rand(shape, gen, on_generator(gen, options)).to(options.device());
}

}  // namespace scorch::sdes
