// Loss noise sources: a shared generator, or independent per-example CPU streams.
#include "trainer/loss_noise.h"

#include "core/error.h"
#include "core/rng.h"
#include "core/sdes/sde.h"

namespace scorch::trainer {

namespace {

// Where PerExampleNoise draws: pinned for a CUDA target, so that the one copy per draw can be asynchronous.
torch::Tensor host_buffer(torch::IntArrayRef shape, torch::ScalarType dtype, const torch::Device& target) {
  return torch::empty(shape, torch::TensorOptions(dtype).pinned_memory(target.is_cuda()));
}

}  // namespace

torch::Tensor GeneratorNoise::uniform(int64_t n, const torch::TensorOptions& options) {
  return sdes::rand_with({n}, gen_, options);
}

torch::Tensor GeneratorNoise::normal(torch::IntArrayRef shape, const torch::TensorOptions& options) {
  return sdes::randn_with(shape, gen_, options);
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

// Each example's row is filled by the same in-place op that torch::rand / randn / randint(..., gen) apply
// to a fresh tensor of the row's shape, so an example's numbers are those of its stream alone.
torch::Tensor PerExampleNoise::uniform(int64_t n, const torch::TensorOptions& options) {
  check(n);
  auto out = host_buffer({n}, torch::kFloat32, options.device());  // (B,)
  for (int64_t i = 0; i < n; ++i) out.select(0, i).uniform_(0, 1, gens_[i]);
  return out.to(options.device(), options.dtype().toScalarType(), /*non_blocking=*/true);
}

torch::Tensor PerExampleNoise::normal(torch::IntArrayRef shape, const torch::TensorOptions& options) {
  check(shape[0]);
  auto out = host_buffer(shape, torch::kFloat32, options.device());  // (B, ...)
  for (int64_t i = 0; i < shape[0]; ++i) out.select(0, i).normal_(0, 1, gens_[i]);
  return out.to(options.device(), options.dtype().toScalarType(), /*non_blocking=*/true);
}

torch::Tensor PerExampleNoise::labels(int64_t n, int64_t num_labels, const torch::Device& device) {
  check(n);
  auto out = host_buffer({n}, torch::kLong, device);  // (B,)
  for (int64_t i = 0; i < n; ++i) out.select(0, i).random_(0, num_labels, gens_[i]);
  return out.to(device, torch::kLong, /*non_blocking=*/true);
}

}  // namespace scorch::trainer
