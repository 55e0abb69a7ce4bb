// Time / noise-level embeddings of the score networks.
#include "core/models/embeddings.h"

#include <cmath>

#include "core/error.h"

namespace scorch::models {

GaussianFourierProjectionImpl::GaussianFourierProjectionImpl(int64_t embedding_size, double scale) {
  W = register_parameter("W", torch::randn({embedding_size}) * scale, /*requires_grad=*/false);
}

torch::Tensor GaussianFourierProjectionImpl::forward(const torch::Tensor& x) {
  auto proj = x.unsqueeze(1) * W.unsqueeze(0) * (2.0 * M_PI);  // (B, E)
  return torch::cat({torch::sin(proj), torch::cos(proj)}, -1);
}

torch::Tensor timestep_embedding(const torch::Tensor& timesteps, int64_t dim, double max_positions) {
  SCORCH_CHECK(timesteps.dim() == 1, "timestep_embedding wants shape (B,), got {} dims", timesteps.dim());
  const int64_t half = dim / 2;
  SCORCH_CHECK(half >= 2, "timestep_embedding needs dim >= 4, got {}", dim);
  const double step = std::log(max_positions) / static_cast<double>(half - 1);
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(timesteps.device());
  auto freqs = torch::exp(torch::arange(half, opts) * -step);                   // (half,)
  auto args = timesteps.to(torch::kFloat32).unsqueeze(1) * freqs.unsqueeze(0);  // (B, half)
  auto emb = torch::cat({torch::sin(args), torch::cos(args)}, 1);               // (B, 2 half)
  if (dim % 2 == 1) emb = torch::constant_pad_nd(emb, {0, 1});
  return emb;
}

}  // namespace scorch::models
