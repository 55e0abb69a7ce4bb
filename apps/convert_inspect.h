// `scorch convert inspect`: what a weights file or checkpoint dir holds and which format it was recognised as.
#pragma once
#include <string>

namespace scorch::apps {

// Prints the recognised format, every tensor (name, dtype, shape) and the other values; returns 0.
// Throws scorch::Error for paths that are none of: torch.save file, safetensors file, checkpoint or run dir.
int run_convert_inspect(const std::string& path);

}  // namespace scorch::apps
