// diffusers' UNet2DModel as a copy of score_sde's NCSN++ (the VE *_ncsnpp_continuous family): which configs it
// can express, its config.json, and the reference state_dict renamed onto its module tree.
#pragma once
#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "core/config.h"

namespace scorch::io {

// The diffusers release whose UNet2DModel, skip blocks and ScoreSdeVe pipeline the mapping was checked against.
inline constexpr const char* kDiffusersVersion = "0.42.1";

// Throws scorch::Error naming the first config key (and its value) that UNet2DModel with the skip blocks
// (SkipDownBlock2D, AttnSkipDownBlock2D, SkipUpBlock2D, AttnSkipUpBlock2D) and the Fourier time embedding
// cannot reproduce, and why.
void check_diffusers_expressible(const Config& config);

// UNet2DModel's config.json for the network `config` builds (checked as above).
nlohmann::json diffusers_unet_config(const Config& config);

// The full state_dict of that network (reference names, e.g. all_modules.4.Conv_0.weight) under UNet2DModel's
// parameter names, contiguous float32. Every tensor but the `sigmas` buffer must find its place; a missing
// or left-over one throws naming it, with `source` as the file.
std::map<std::string, torch::Tensor> to_diffusers_unet(const std::map<std::string, torch::Tensor>& state,
                                                       const Config& config, const std::string& source);

}  // namespace scorch::io
