// Image preprocessing for the FID Inception: the two pipelines behind the field's published numbers.
#pragma once
#include <torch/torch.h>

#include <string>

namespace scorch::eval {

// pytorch-fid: uint8 -> [0, 1], PyTorch bilinear resize with half-pixel centres (align_corners=False,
//   no antialias), then 2x - 1.
// tf: uint8 as float [0, 255], TF1's legacy ResizeBilinear (source = dest * in/out, no half-pixel
//   offset, edge clamp), then (x - 128) / 128 — what TTUR, tfgan, score_sde, guided-diffusion and the
//   NVIDIA detector (StyleGAN/EDM) compute.
enum class Preprocessing { PytorchFid, Tf };

Preprocessing parse_preprocessing(const std::string& name);
std::string to_string(Preprocessing mode);

// images: (B, H, W, C) uint8, C = 1 (grayscale, repeated), 3, or 4 (alpha dropped), on any device ->
// (B, 3, size, size) float32 on the same device.
torch::Tensor preprocess(const torch::Tensor& images, Preprocessing mode, int64_t size = 299);

// TF1 legacy bilinear resize of (B, C, H, W) float32 to (out_h, out_w), bit-exact to TF's CPU kernel
// order of operations: top = tl + (tr - tl) * dx; bottom likewise; top + (bottom - top) * dy.
torch::Tensor resize_bilinear_tf1(const torch::Tensor& x, int64_t out_h, int64_t out_w);

}  // namespace scorch::eval
