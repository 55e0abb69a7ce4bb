// Flax's msgpack checkpoints: what flax.serialization.to_bytes writes and flax.training.checkpoints'
// checkpoint_<step> files hold, a tree of string-keyed maps whose leaves are numpy arrays (msgpack ext type 1,
// itself the msgpack of [shape, dtype name, C-order bytes]), numpy scalars (ext 3) or plain msgpack values.
#pragma once
#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace scorch::io {

struct FlaxTree {
  std::map<std::string, torch::Tensor>
      arrays;  // keys joined by '.', e.g. "WideResnetGroup_0.WideResnetBlock_1.conv1.kernel"
  std::map<std::string, nlohmann::json> values;  // the other leaves (step counters, strings, ...)
};

// True when the file starts as a Flax state dict does: a msgpack map whose first key is a string. Torch's
// files start with a zip header or a pickle opcode (0x80 then the protocol), so the two never collide; a
// safetensors file whose header length happens to start like a map is told apart by its '{' at byte 8.
bool looks_like_flax_msgpack(const std::string& path);

// The whole tree, arrays as CPU tensors of their own dtype (float16/32/64, bfloat16, bool, uint8, int8-64;
// uint16 and uint32, such as JAX's PRNG keys, widened to int64).
// Throws scorch::Error naming the file and the key for malformed msgpack, nesting deeper than 64 maps, a list
// where Flax writes maps, complex numbers or other dtypes, arrays flax chunked (over 1 GiB), byte counts that
// do not match the shape, bool bytes other than 0/1, keys that hold a '.' or exceed 256 bytes, and more than
// a million leaves or 64 MiB of key paths.
FlaxTree read_flax_msgpack(const std::string& path);

}  // namespace scorch::io
