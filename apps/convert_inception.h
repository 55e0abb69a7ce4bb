// `scorch convert inception`: FID Inception weights (pytorch-fid .pth, NVIDIA/fid-helper TorchScript) to the
// safetensors file `scorch fid` finds by default.
#pragma once
#include <string>

namespace scorch::apps {

// Loads `src` into the FID Inception (every tensor present, every key used once), writes its tensors under
// pytorch-fid's names to `out` (default: eval::converted_weights_path()), reloads the written file and
// checks that it gives the source's features; returns 0. An existing `out` is replaced only with `force`.
int run_convert_inception(const std::string& src, const std::string& out, bool force);

}  // namespace scorch::apps
