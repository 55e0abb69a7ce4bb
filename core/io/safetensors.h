// safetensors files: an 8-byte little-endian header length, a JSON header, then raw little-endian tensor data.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>

namespace scorch::io {

struct SafetensorsFile {
  std::map<std::string, torch::Tensor> tensors;  // name -> CPU tensor (ordered by name)
  std::map<std::string, std::string> metadata;   // the optional "__metadata__" string map
};

// Reads every tensor of `path` onto the CPU. Throws scorch::Error naming the file and what is wrong
// (truncated, bad header, unknown dtype, offsets outside the data or not matching the shape).
SafetensorsFile read_safetensors(const std::string& path);

// Writes `tensors` (any device, contiguous or not) to `path` atomically. Supported dtypes: F64, F32, F16,
// BF16, I64, I32, I16, I8, U8, BOOL.
void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace scorch::io
