// Inverse problems with a PC sampler: inpainting (known pixels under a mask) and colorization (known gray
// channel in an orthonormal colour basis), the reference's controllable generation.
#pragma once
#include <string>

#include "sampler/pc_sampler.h"

namespace scorch::sampler {

// Inpaints `data` (B, C, H, W, model space) where `mask` (broadcastable to data, 1 = known, 0 = to fill) is 0.
// Starts from data * mask + prior * (1 - mask); after every corrector and predictor update the known region
// is replaced by a draw of p_t(x | data) (mean from marginal_prob, noise from `gen`). Returns the sample
// (model space) whose known pixels equal `data` exactly: the reference's last projection leaves them at the
// marginal mean at eps, which is data itself for VE and data * (1 - 5e-7) for VP at eps = 1e-5; scorch puts
// the data back.
torch::Tensor inpaint(PcSampler& pc, const sdes::Sde& sde, const torch::Tensor& data, const torch::Tensor& mask,
                      torch::Generator& gen);

// Colorizes `gray` (B, 3, H, W, model space, R = G = B) in the decoupled basis y = M^T x where the first
// channel is (R + G + B) / sqrt(3): that channel is known, the two others are sampled. Returns RGB whose
// decoupled first channel equals the input's (to float rounding).
torch::Tensor colorize(PcSampler& pc, const sdes::Sde& sde, const torch::Tensor& gray, torch::Generator& gen);

// Colorized RGB (B, 3, H, W) brought into [0, 1] with each pixel's channel mean set to `gray` (B, 1, H, W):
// the colour offset from the mean is scaled down just enough per pixel. Plain clipping (the reference's)
// would change the gray the colorization was asked to keep; taking the gray from the input rather than
// from rgb's mean also keeps float32 rounding of wild colours (an untrained model's) out of it.
torch::Tensor fit_colours(const torch::Tensor& rgb, const torch::Tensor& gray);

// The reference's orthonormal colour matrix M (3, 3), and x -> einsum('bihw,ij->bjhw', x, M) / its inverse.
torch::Tensor colour_matrix();
torch::Tensor decouple(const torch::Tensor& x);
torch::Tensor couple(const torch::Tensor& y);

// Built-in masks (1, 1, H, W), 1 = known: "left" (left half known), "right", "top", "bottom", "center"
// (all known but a centred square of half the side), "checker" (8x8-pixel checkerboard), "random" (half the
// pixels, from `seed`); or an H x W PNG file (pixels brighter than 127 in gray are known).
torch::Tensor make_mask(const std::string& spec, int64_t height, int64_t width, uint64_t seed = 0);

}  // namespace scorch::sampler
