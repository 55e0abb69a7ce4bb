// Log-likelihood in bits/dim through the probability-flow ODE (instantaneous change of variables), with
// the Skilling-Hutchinson trace estimator or the exact divergence.
#pragma once
#include <memory>
#include <string>

#include "core/sdes/score_fn.h"

namespace scorch::sampler {

struct LikelihoodOptions {
  std::string divergence = "rademacher";  // rademacher | gaussian (Hutchinson) | exact (D backward passes)
  std::string solver = "rk45";            // rk45 | euler | heun
  double rtol = 1e-5, atol = 1e-5;
  int64_t steps = 100;  // fixed-step solvers only
  double eps = 1e-5;    // integrate from eps to T (the reference's likelihood eps)
  // A given Hutchinson probe (B, C, H, W) instead of a draw from `gen` (repeatable numbers, comparisons).
  torch::Tensor probe;
};

struct LikelihoodResult {
  torch::Tensor bpd;  // (B,) float64
  torch::Tensor z;    // (B, C, H, W): the latent at T
  int64_t nfe = 0;
};

// bits/dim of x (B, C, H, W) in model space (already dequantised and scaled): integrates
// d[x, log p]/dt = [drift, div drift] forward from eps to T (one ODE for the batch, state float64), then
// bpd = -(log p_T(z) + delta log p) / (D ln 2) + offset, offset = 7 for data in [-1, 1] (centered) and
// 8 for [0, 1]: the reference's change of variables from 8-bit integers. The Hutchinson probe is drawn
// once from `gen`. `score` with continuous labels (as the reference's likelihood builds it).
LikelihoodResult bits_per_dim(const std::shared_ptr<sdes::Sde>& sde, const sdes::ScoreFn& score, const torch::Tensor& x,
                              bool centered, const LikelihoodOptions& o, torch::Generator& gen);

// Uniform dequantisation of 8-bit images (N, H, W, C) uint8 -> (N, C, H, W) float32 in [0, 1]:
// (u + 255 x) / 256 with u ~ U[0, 1) from `gen`, as the reference's bpd evaluation.
torch::Tensor dequantize(const torch::Tensor& pixels, torch::Generator& gen);
// The same with given noise u (N, C, H, W) in [0, 1): (u + 255 x) / 256.
torch::Tensor dequantize(const torch::Tensor& pixels, const torch::Tensor& u);

}  // namespace scorch::sampler
