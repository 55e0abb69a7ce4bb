// Loading and saving a network's state under the reference (score_sde_pytorch) state_dict names.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>

namespace scorch::models {

// Parameters then buffers, by their full dotted names (e.g. "all_modules.3.Conv_0.weight", "sigmas").
std::map<std::string, torch::Tensor> state_dict(const torch::nn::Module& model);

// Copies `tensors` into the model's parameters and buffers. Keys may carry a "param/" prefix (the parity
// fixtures; then only "param/" keys are considered) or a "module." prefix (DataParallel checkpoints).
// Every name must match one to one with the same shape and dtype; otherwise scorch::Error names the first
// missing, extra or mismatched tensor (and how many there are) with `source` as the file.
void load_reference_weights(torch::nn::Module& model, const std::map<std::string, torch::Tensor>& tensors,
                            const std::string& source);

}  // namespace scorch::models
