// A network's convolution weights in channels_last (NHWC) layout, which the trainer and the samplers choose on
// CUDA (training.channels_last, sampling.channels_last).
#pragma once
#include <torch/torch.h>

namespace scorch::models {

// Stores every 4-D parameter of `model` channels_last, in place (the parameters stay the same tensors, so an
// optimizer or EMA holding them keeps working). A convolution whose weight is channels_last runs NHWC kernels and
// gives NHWC output whatever its input's layout, so the activations follow from the first layer on.
void to_channels_last(torch::nn::Module& model);

}  // namespace scorch::models
