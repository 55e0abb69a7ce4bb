// torch.save files: the zip container of torch >= 1.6 (data.pkl + data/<key> storages, read and written
// through LibTorch's PyTorchStreamReader/Writer) and the legacy stream of older torch (read only).
#pragma once
#include <string>

#include "core/io/py_value.h"

namespace scorch::io {

enum class TorchFileKind {
  NotTorch,     // neither: safetensors, text, anything else
  Zip,          // torch.save, torch >= 1.6
  Legacy,       // torch.save(_use_new_zipfile_serialization=False) or torch < 1.6
  TorchScript,  // torch.jit.save: a zip with code/ and constants.pkl, not a plain pickle of tensors
};

// Looks at the first bytes (and, for zips, the record names) only.
TorchFileKind sniff_torch_file(const std::string& path);
const char* torch_file_kind_name(TorchFileKind kind);

struct TorchFile {
  py::Ref root;  // what torch.load would return; tensors on the CPU
  TorchFileKind kind = TorchFileKind::NotTorch;
};

// Reads a torch.save file. Throws scorch::Error naming the file for truncated or corrupt data, TorchScript
// archives, big-endian files and anything that is not a torch.save file.
TorchFile read_torch_file(const std::string& path);

// Writes `root` (dicts, lists, tuples, numbers, strings, tensors) as a torch.save zip file, atomically.
void write_torch_file(const std::string& path, const py::Ref& root);

}  // namespace scorch::io
