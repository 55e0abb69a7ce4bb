// Python values as a torch.save pickle carries them (None, bool, int, float, str, bytes, tuple, list, dict,
// tensor), plus opaque globals and objects the reader does not know, kept so errors can name them.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace scorch::io::py {

struct Value;
using Ref = std::shared_ptr<Value>;  // shared: a pickle's memo may reference one container twice

enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Tensor, Storage, Global, Object };

struct Value {
  Value() = default;
  Value(const Value&) = default;
  Value(Value&&) = default;
  Value& operator=(const Value&) = default;
  Value& operator=(Value&&) = default;
  ~Value();  // frees nested values without recursion: a pickle may nest lists a million deep

  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                             // Str, Bytes; Global, Object: "module.qualname"
  std::vector<Ref> items;                    // Tuple, List; Object: the constructor's arguments
  std::vector<std::pair<Ref, Ref>> entries;  // Dict, in insertion order
  bool ordered = false;                      // Dict: a collections.OrderedDict
  torch::Tensor tensor;                      // Tensor; Storage: the flat storage (1-D)
  Ref state;                                 // what BUILD set (an OrderedDict's _metadata, an object's state)

  // Dict lookup by str / int key; nullptr when absent.
  Ref get(const std::string& key) const;
  Ref get(int64_t key) const;
  void set(Ref key, Ref value);  // replaces an equal key, else appends

  bool is_dict() const { return kind == Kind::Dict; }
  bool is_sequence() const { return kind == Kind::List || kind == Kind::Tuple; }
  // A short description for messages: "int 7", "str 'cpu'", "list of 3", "tensor float32 [3, 4]".
  std::string describe() const;
  // Python-like text of a leaf value: 7, 0.999, 'cpu', (0.9, 0.999), [0, 1, 2, ... 571 items], or describe();
  // nesting deeper than a few levels shows as [...].
  std::string repr() const;
  // The dict key as text ("name" or "7"), for paths in messages and listings.
  std::string key_text() const;

 private:
  std::string repr_at(int depth) const;
};

Ref none();
Ref boolean(bool v);
Ref integer(int64_t v);
Ref real(double v);
Ref str(std::string v);
Ref bytes(std::string v);
Ref tuple(std::vector<Ref> items);
Ref list(std::vector<Ref> items);
Ref dict(bool ordered = false);
Ref tensor(torch::Tensor t);

const char* kind_name(Kind kind);
// Python's name of a dtype: "float32", "bfloat16", "int64", "bool".
std::string dtype_name(torch::ScalarType dtype);

// Every leaf under `root` with its path ("model.module.sigmas", "ema.shadow_params.3"), in order: tensors,
// numbers, strings, None, opaque objects, and lists/tuples of plain numbers or strings as one leaf.
// Throws, naming `what`, when nesting is deeper than 64 or the walk passes 2^18 values (a hostile pickle).
std::vector<std::pair<std::string, Ref>> leaves(const Ref& root, const std::string& what);

}  // namespace scorch::io::py
