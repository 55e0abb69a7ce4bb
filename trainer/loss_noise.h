// Where a training loss draws its randomness: one generator for the batch, or one stream per example.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace scorch::trainer {

// The three kinds of draws the objectives make, each returned on `options`' device and dtype.
// Draws happen in the order the loss asks for them.
class LossNoise {
 public:
  virtual ~LossNoise() = default;
  virtual torch::Tensor uniform(int64_t n, const torch::TensorOptions& options) = 0;                // (n,) in [0, 1)
  virtual torch::Tensor normal(torch::IntArrayRef shape, const torch::TensorOptions& options) = 0;  // shape[0] = n
  virtual torch::Tensor labels(int64_t n, int64_t num_labels, const torch::Device& device) = 0;     // (n,) int64
};

// Every draw from one generator (drawn on its device, then moved): what a single-process run and the tests use.
class GeneratorNoise : public LossNoise {
 public:
  explicit GeneratorNoise(torch::Generator& gen) : gen_(gen) {}
  torch::Tensor uniform(int64_t n, const torch::TensorOptions& options) override;
  torch::Tensor normal(torch::IntArrayRef shape, const torch::TensorOptions& options) override;
  torch::Tensor labels(int64_t n, int64_t num_labels, const torch::Device& device) override;

 private:
  torch::Generator& gen_;
};

// Example i of the batch draws only from its own CPU stream (seed, step, first_index + i), so the noise an
// example gets depends on its place in the global batch alone: 2 ranks x B, 1 rank x 2B and any micro-batch
// split see exactly the same numbers. Each draw fills one host buffer (pinned for a CUDA target), example
// by example, and reaches the device in one asynchronous copy.
class PerExampleNoise : public LossNoise {
 public:
  PerExampleNoise(uint64_t seed, int64_t step, int64_t first_index, int64_t n);
  torch::Tensor uniform(int64_t n, const torch::TensorOptions& options) override;
  torch::Tensor normal(torch::IntArrayRef shape, const torch::TensorOptions& options) override;
  torch::Tensor labels(int64_t n, int64_t num_labels, const torch::Device& device) override;

 private:
  void check(int64_t n) const;
  std::vector<torch::Generator> gens_;
};

}  // namespace scorch::trainer
