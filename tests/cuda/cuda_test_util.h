// Helpers of the CUDA suite (ctest -L cuda): skip without a GPU, compare tensors across devices.
#pragma once
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "core/config.h"
#include "core/models/score_model.h"
#include "support/checks.h"
#include "support/run.h"

// Every CUDA test starts with this: on a machine without a visible GPU it skips with the reason.
#define SCORCH_REQUIRE_CUDA()                                                                          \
  do {                                                                                                 \
    if (!torch::cuda::is_available())                                                                  \
      GTEST_SKIP() << "no CUDA device is visible: the CUDA suite runs on a GPU machine (docs/gpu.md, " \
                      "bench/device/run)";                                                             \
  } while (0)

namespace scorch::test {

inline const torch::Device kCuda{torch::kCUDA, 0};

// Plain fp32 on CUDA: TF32 would move results by ~1e-3, far above the tolerances the CUDA-vs-CPU tests state.
class NoTf32 {
 public:
  NoTf32() : cublas_(at::globalContext().allowTF32CuBLAS()), cudnn_(at::globalContext().allowTF32CuDNN()) {
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
  }
  ~NoTf32() {
    at::globalContext().setAllowTF32CuBLAS(cublas_);
    at::globalContext().setAllowTF32CuDNN(cudnn_);
  }

 private:
  bool cublas_, cudnn_;
};

inline Config shipped_config(const std::string& name, const std::vector<std::string>& sets = {}) {
  return Config::resolve(source_dir() + "/configs/" + name, sets);
}

// The model of `config` on the GPU in eval mode, its weights moved off their (near-zero) initialisation so
// that outputs have scale; seeded, so every call gives the same weights.
std::shared_ptr<models::ScoreModelImpl> perturbed_model(const Config& config);

// Peak bytes the caching allocator handed out on `device` since the last reset, in GiB.
double peak_allocated_gib(const torch::Device& device);
void reset_peak(const torch::Device& device);
// What the caching allocator still reserves after returning every unused block: the blocks in use.
double reserved_gib_after_emptying(const torch::Device& device);

}  // namespace scorch::test
