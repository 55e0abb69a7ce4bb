// The Python callables torch checkpoints pickle: OrderedDict and dict, tensor and parameter rebuilds over
// storages, numpy scalars (score_sde's warm-up learning rate), _codecs.encode (bytes at protocol 2).
#include "core/io/torch_pickle_calls.h"

#include <fmt/ranges.h>

#include <cstring>
#include <set>

#include "core/error.h"

namespace scorch::io::py {

namespace {

[[noreturn]] void bad(const std::string& what, const std::string& why) {
  SCORCH_FAIL("{}: malformed pickle: {}", what, why);
}

Ref make_object(const std::string& name, std::vector<Ref> args) {
  auto v = std::make_shared<Value>();
  v->kind = Kind::Object;
  v->s = name;
  v->items = std::move(args);
  return v;
}

// Python 3 pickles bytes at protocol 2 as _codecs.encode(text, 'latin1'): code points below 256 in UTF-8.
std::string latin1_from_utf8(const std::string& s, const std::string& what) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      SCORCH_CHECK((c & 0xE0) == 0xC0 && i + 1 < s.size() && c <= 0xC3, "{}: bytes object is not latin-1 text", what);
      out.push_back(static_cast<char>(((c & 0x1F) << 6) | (static_cast<unsigned char>(s[++i]) & 0x3F)));
    }
  }
  return out;
}

Ref rebuild_tensor(const std::vector<Ref>& a, const std::string& what) {
  if (a.size() < 4 || a[0]->kind != Kind::Storage || a[1]->kind != Kind::Int || !a[2]->is_sequence() ||
      !a[3]->is_sequence() || a[2]->items.size() != a[3]->items.size())
    bad(what, "tensor rebuild expects (storage, offset, size, stride, ...)");
  std::vector<int64_t> size, stride;
  int64_t last = a[1]->i;  // highest element index the view touches
  bool empty = false;
  for (size_t k = 0; k < a[2]->items.size(); ++k) {
    const auto& sz = a[2]->items[k];
    const auto& st = a[3]->items[k];
    if (sz->kind != Kind::Int || st->kind != Kind::Int || sz->i < 0 || st->i < 0)
      bad(what, "tensor size/stride must be non-negative ints");
    size.push_back(sz->i);
    stride.push_back(st->i);
    empty = empty || sz->i == 0;
    if (sz->i > 0) last += (sz->i - 1) * st->i;
  }
  const auto& storage = a[0]->tensor;
  if (a[1]->i < 0 || (!empty && last >= storage.numel()))
    SCORCH_FAIL("{}: a tensor view reaches element {} of a {}-element storage (corrupt or truncated file)", what, last,
                storage.numel());
  return tensor(empty ? torch::empty(size, storage.options()) : storage.as_strided(size, stride, a[1]->i));
}

// numpy.core.multiarray.scalar(dtype, bytes): score_sde's warm-up stores the learning rate as numpy.float64.
Ref numpy_scalar(const std::vector<Ref>& a, const std::string& what) {
  if (a.size() != 2 || a[0]->kind != Kind::Object || a[0]->s.find("numpy") != 0 || a[0]->items.empty() ||
      a[0]->items[0]->kind != Kind::Str || a[1]->kind != Kind::Bytes)
    bad(what, "numpy scalar expects (numpy.dtype, bytes)");
  const std::string code = a[0]->items[0]->s;
  const auto& state = a[0]->state;
  if (state && state->kind == Kind::Tuple && state->items.size() > 1 && state->items[1]->kind == Kind::Str &&
      state->items[1]->s == ">")
    SCORCH_FAIL("{}: big-endian numpy scalar of dtype {} is not supported", what, code);
  const std::string& raw = a[1]->s;
  auto read = [&](auto tag) {
    using T = decltype(tag);
    if (raw.size() != sizeof(T)) bad(what, "numpy scalar " + code + " has " + std::to_string(raw.size()) + " bytes");
    T v;
    std::memcpy(&v, raw.data(), sizeof(T));
    return v;
  };
  if (code == "f8") return real(read(double{}));
  if (code == "f4") return real(read(float{}));
  if (code == "i8") return integer(read(int64_t{}));
  if (code == "i4") return integer(read(int32_t{}));
  if (code == "u8") return integer(static_cast<int64_t>(read(uint64_t{})));
  if (code == "u4") return integer(read(uint32_t{}));
  if (code == "b1") return boolean(read(bool{}));
  SCORCH_FAIL("{}: numpy scalar of dtype '{}' is not supported", what, code);
}

}  // namespace

Ref call_global(const std::string& name, const std::vector<Ref>& a, const std::string& what) {
  if (name == "collections.OrderedDict" || name == "builtins.dict" || name == "__builtin__.dict") {
    auto out = dict(name == "collections.OrderedDict");
    if (!a.empty()) {
      if (!a[0]->is_sequence()) bad(what, name + " expects a sequence of pairs");
      for (const auto& kv : a[0]->items) {
        if (!kv->is_sequence() || kv->items.size() != 2) bad(what, name + " expects (key, value) pairs");
        out->set(kv->items[0], kv->items[1]);
      }
    }
    return out;
  }
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor")
    return rebuild_tensor(a, what);
  if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
    if (a.empty() || a[0]->kind != Kind::Tensor) bad(what, name + " expects a tensor");
    return a[0];
  }
  if (name == "_codecs.encode") {
    if (a.empty() || a[0]->kind != Kind::Str) bad(what, "_codecs.encode expects a str");
    return bytes(latin1_from_utf8(a[0]->s, what));
  }
  if (name == "numpy.core.multiarray.scalar" || name == "numpy._core.multiarray.scalar") return numpy_scalar(a, what);
  // Inert constructors a checkpoint may hold beside its tensors, kept opaque (a consumer that needs one names
  // it in its error). Anything else would run code in Python's unpickler (os.system, builtins.eval,
  // subprocess.Popen, ...): refused, as torch.load(weights_only=True) refuses it.
  static const std::set<std::string> inert = {"numpy.dtype",  "torch.device",       "torch.Size",
                                              "builtins.set", "builtins.frozenset", "collections.Counter"};
  if (inert.count(name)) return make_object(name, a);
  SCORCH_FAIL(
      "{}: the pickle calls {}, which a checkpoint has no need of; scorch runs no code from a file and refuses "
      "it (it reads tensors, dicts, lists, numbers, strings and {})",
      what, name, fmt::join(inert, ", "));
}

}  // namespace scorch::io::py
