// Loss noise sources: a shared generator, or independent per-example CPU streams.
#include "trainer/loss_noise.h"

#include "core/error.h"
#include "core/rng.h"
#include "core/sde/sde.h"

namespace scorch {

torch::Tensor GeneratorNoise::uniform(int64_t n, const torch::TensorOptions& options) {
  return rand_with({n}, gen_, options);
}

torch::Tensor GeneratorNoise::normal(torch::IntArrayRef shape, const torch::TensorOptions& options) {
  return randn_with(shape, gen_, options);
}

torch::Tensor GeneratorNoise::labels(int64_t n, int64_t num_labels, const torch::Device& device) {
  return torch::randint(num_labels, {n}, gen_, torch::TensorOptions(torch::kLong).device(gen_.device())).to(device);
}

PerExampleNoise::PerExampleNoise(uint64_t seed, int64_t step, int64_t first_index, int64_t n) {
  const uint64_t step_seed = mix_seed(seed, static_cast<uint64_t>(step));
  gens_.reserve(n);
  for (int64_t i = 0; i < n; ++i) gens_.push_back(cpu_generator(step_seed, static_cast<uint64_t>(first_index + i)));
}

void PerExampleNoise::check(int64_t n) const {
  SCORCH_CHECK(n == static_cast<int64_t>(gens_.size()), "loss noise for {} examples asked for {}", gens_.size(), n);
}

torch::Tensor PerExampleNoise::uniform(int64_t n, const torch::TensorOptions& options) {
  check(n);
  auto out = torch::empty({n}, torch::kFloat32);  // (B,)
  for (int64_t i = 0; i < n; ++i) out[i] = torch::rand({1}, gens_[i])[0];
  return out.to(options.device(), options.dtype().toScalarType());
}

torch::Tensor PerExampleNoise::normal(torch::IntArrayRef shape, const torch::TensorOptions& options) {
  check(shape[0]);
  auto out = torch::empty(shape, torch::kFloat32);  // (B, ...)
  std::vector<int64_t> one(shape.begin() + 1, shape.end());
  for (int64_t i = 0; i < shape[0]; ++i) out[i].copy_(torch::randn(one, gens_[i]));
  return out.to(options.device(), options.dtype().toScalarType());
}

torch::Tensor PerExampleNoise::labels(int64_t n, int64_t num_labels, const torch::Device& device) {
  check(n);
  auto out = torch::empty({n}, torch::kLong);  // (B,)
  for (int64_t i = 0; i < n; ++i) out[i] = torch::randint(num_labels, {1}, gens_[i])[0];
  return out.to(device);
}

}  // namespace scorch
