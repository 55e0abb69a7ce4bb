// NumPy .npy / .npz files: the zip of .npy arrays that np.savez / np.savez_compressed write.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>

namespace scorch::io::npz {

// Array name (without ".npy") -> CPU tensor with the file's dtype and shape.
using ArrayMap = std::map<std::string, torch::Tensor>;

// Reads every array of an .npz (entries stored or deflated, zip64 as numpy writes it). Supported
// dtypes: little-endian f8 f4 f2 i8 i4 i2 i1 u1 b1; Fortran-ordered arrays come back in C order.
ArrayMap read_npz(const std::string& path);
// Writes the arrays uncompressed (as np.savez does), atomically.
void write_npz(const std::string& path, const ArrayMap& arrays);

// One .npy payload (magic, header, data) <-> tensor; `what` names the source in error messages.
torch::Tensor parse_npy(const std::string& bytes, const std::string& what);
std::string format_npy(const torch::Tensor& tensor);

}  // namespace scorch::io::npz
