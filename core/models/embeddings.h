// Time / noise-level embeddings: Gaussian Fourier features and the sinusoidal (DDPM) positional embedding.
#pragma once
#include <torch/torch.h>

namespace scorch::models {

// Random Fourier features of a scalar: W ~ N(0, scale²) of size embedding_size, frozen (requires_grad false,
// still a parameter so it is saved under the reference name "W").
class GaussianFourierProjectionImpl : public torch::nn::Module {
 public:
  GaussianFourierProjectionImpl(int64_t embedding_size, double scale);
  torch::Tensor forward(const torch::Tensor& x);  // (B,) -> (B, 2 * embedding_size): [sin, cos]
  torch::Tensor W;
};
TORCH_MODULE(GaussianFourierProjection);

// Transformer-style sinusoidal embedding of (possibly fractional) timesteps: (B,) -> (B, dim), sin half first,
// frequencies exp(-i ln(max_positions) / (dim/2 - 1)); an odd dim gets one zero column.
torch::Tensor timestep_embedding(const torch::Tensor& timesteps, int64_t dim, double max_positions = 10000.0);

}  // namespace scorch::models
