// to_channels_last (see memory_format.h).
#include "core/models/memory_format.h"

namespace scorch::models {

void to_channels_last(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters())
    if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
}

}  // namespace scorch::models
