// The MLP score model for vector data (see mlp.h).
#include "core/models/mlp.h"

#include <fmt/ranges.h>

#include "core/error.h"
#include "core/models/embeddings.h"

namespace scorch::models {

MLPImpl::MLPImpl(const ModelConfig& c) : config_(c), act_(make_activation(c.nonlinearity)) {
  SCORCH_CHECK(c.image_size == 1, "model.name mlp takes points: data.image_size must be 1, got {}", c.image_size);
  SCORCH_CHECK(c.nf >= 1 && c.num_res_blocks >= 0,
               "model.name mlp: model.nf must be >= 1 and model.num_res_blocks "
               ">= 0, got {} and {}",
               c.nf, c.num_res_blocks);
  SCORCH_CHECK(c.embedding_type == "fourier" || c.embedding_type == "positional",
               "model.embedding_type must be fourier or positional, got '{}'", c.embedding_type);
  SCORCH_CHECK_HINT(!c.scale_by_sigma || c.embedding_type == "fourier",
                    "set model.embedding_type: fourier (the time input is then σ) or model.scale_by_sigma: false",
                    "model.scale_by_sigma with model.name mlp needs σ as the time input");
  const int64_t nf = c.nf, dim = c.num_channels;
  all_modules = register_module("all_modules", torch::nn::ModuleList());
  int64_t embed = nf;
  if (c.embedding_type == "fourier") {
    all_modules->push_back(GaussianFourierProjection(nf, c.fourier_scale));
    embed = 2 * nf;
  }
  all_modules->push_back(make_linear(embed, nf));
  all_modules->push_back(make_linear(nf, nf));
  all_modules->push_back(make_linear(dim, nf));
  for (int64_t i = 0; i < c.num_res_blocks; ++i) {
    all_modules->push_back(make_linear(nf, nf));
    all_modules->push_back(make_linear(nf, nf));
  }
  auto out = torch::nn::Linear(nf, dim);
  default_init_(out->weight, c.init_scale);
  torch::nn::init::zeros_(out->bias);
  all_modules->push_back(out);
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x, const torch::Tensor& time_cond) {
  SCORCH_CHECK(x.dim() == 4 && x.size(1) == config_.num_channels && x.size(2) == 1 && x.size(3) == 1,
               "mlp: expected points (B, {}, 1, 1), got {}", config_.num_channels, fmt::join(x.sizes(), "x"));
  auto linear = [&](int64_t i) { return all_modules->ptr(i)->as<torch::nn::LinearImpl>(); };
  int64_t m = 0;
  torch::Tensor temb;  // (B, embed)
  if (config_.embedding_type == "fourier")
    temb = all_modules->ptr(m++)->as<GaussianFourierProjectionImpl>()->forward(torch::log(time_cond));
  else
    temb = timestep_embedding(time_cond, config_.nf);
  temb = linear(m + 1)->forward(act_(linear(m)->forward(temb)));  // (B, nf)
  m += 2;
  auto input = x.flatten(1);  // (B, D)
  // With σ as the time input, the input is divided by sqrt(1 + σ²), so that its scale stays O(1) from σ_min
  // to σ_max (EDM's c_in with a unit data scale); a plain MLP fits the score of points 50 wide poorly.
  if (config_.embedding_type == "fourier") input = input / torch::sqrt(1.0 + time_cond.square()).view({-1, 1});
  auto h = linear(m++)->forward(input);  // (B, nf)
  for (int64_t i = 0; i < config_.num_res_blocks; ++i) {
    auto t = linear(m++)->forward(act_(temb));  // (B, nf)
    h = h + linear(m++)->forward(act_(h + t));
  }
  auto out = linear(m)->forward(act_(h));  // (B, D)
  if (config_.scale_by_sigma) out = out / time_cond.view({-1, 1});
  return out.view(x.sizes());
}

}  // namespace scorch::models
