// The pickle dialect of torch.save: a reader for the opcodes Python emits for dicts (OrderedDict included),
// lists, tuples, numbers, strings, numpy scalars and tensors, and a protocol-2 writer whose output
// torch.load accepts, also with weights_only=True. LibTorch's own unpickler turns collections.OrderedDict
// into None, so it cannot read the state_dicts every checkpoint holds; this one can.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>

#include "core/io/py_value.h"

namespace scorch::io::py {

// Resolves a persistent id (torch: ('storage', torch.FloatStorage, key, location, numel[, view])) to a
// Storage value: a flat 1-D tensor of the storage's dtype.
using PersistentLoad = std::function<Ref(const Ref& pid)>;

// Runs the pickle program that starts at data[*pos] and sets *pos just past its STOP. Tensors are views
// (as_strided) of their storages. `what` names the source in every error (truncation, unknown opcode,
// malformed stack, out-of-bounds tensor view).
Ref unpickle(const std::string& data, size_t* pos, const PersistentLoad& persistent_load, const std::string& what);

// The storage type name torch pickles for a dtype ("FloatStorage") and back; throws for others.
std::string storage_type_name(torch::ScalarType dtype);
torch::ScalarType storage_dtype(const std::string& type_name, const std::string& what);

// Serialises `root` (None, bool, int, float, str, tuple, list, dict/OrderedDict, tensor). Each tensor is
// written as torch._utils._rebuild_tensor_v2 over its own storage; `add_storage` receives the tensor
// (contiguous, on the CPU) and returns the storage key that the container stores its bytes under.
std::string pickle(const Ref& root, const std::function<std::string(const torch::Tensor&)>& add_storage);

}  // namespace scorch::io::py
