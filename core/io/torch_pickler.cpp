// Protocol-2 pickle output in the form torch.save writes (tensors via _rebuild_tensor_v2 over persistent
// storages), limited to globals that torch.load's weights_only unpickler allows.
#include <cstring>

#include "core/error.h"
#include "core/io/torch_pickle.h"

namespace scorch::io::py {

namespace {

struct StorageType {
  torch::ScalarType dtype;
  const char* name;
};
constexpr StorageType kStorageTypes[] = {{torch::kFloat64, "DoubleStorage"}, {torch::kFloat32, "FloatStorage"},
                                         {torch::kFloat16, "HalfStorage"},   {torch::kBFloat16, "BFloat16Storage"},
                                         {torch::kInt64, "LongStorage"},     {torch::kInt32, "IntStorage"},
                                         {torch::kInt16, "ShortStorage"},    {torch::kInt8, "CharStorage"},
                                         {torch::kUInt8, "ByteStorage"},     {torch::kBool, "BoolStorage"}};

class Writer {
 public:
  explicit Writer(const std::function<std::string(const torch::Tensor&)>& add_storage) : add_storage_(add_storage) {}

  std::string finish(const Ref& root) {
    out_ += "\x80\x02";  // PROTO 2, as torch.save
    put(root, 0);
    out_ += '.';
    return std::move(out_);
  }

 private:
  void byte(unsigned char c) { out_.push_back(static_cast<char>(c)); }
  void le(uint64_t v, int n) {
    for (int k = 0; k < n; ++k) byte(static_cast<unsigned char>(v >> (8 * k)));
  }
  void global(const char* module, const char* name) { out_ += fmt::format("c{}\n{}\n", module, name); }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      byte('K');
      le(static_cast<uint64_t>(v), 1);
    } else if (v >= 0 && v < 65536) {
      byte('M');
      le(static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      byte('J');
      le(static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(v))), 4);
    } else {
      byte(0x8a);  // LONG1, 8 bytes two's complement
      byte(8);
      le(static_cast<uint64_t>(v), 8);
    }
  }
  void text(const std::string& s) {
    byte('X');
    le(s.size(), 4);
    out_ += s;
  }
  void tuple_of_ints(c10::IntArrayRef v) {
    byte('(');
    for (auto x : v) integer(x);
    byte('t');
  }
  void tensor(const torch::Tensor& t) {
    const auto c = t.detach().to(torch::kCPU).contiguous();
    const std::string key = add_storage_(c);
    global("torch._utils", "_rebuild_tensor_v2");
    byte('(');
    byte('(');  // persistent id: ('storage', storage type, key, location, numel)
    text("storage");
    global("torch", storage_type_name(c.scalar_type()).c_str());
    text(key);
    text("cpu");
    integer(c.numel());
    byte('t');
    byte('Q');
    integer(0);  // storage offset
    tuple_of_ints(c.sizes());
    tuple_of_ints(c.strides());
    byte(0x89);                            // requires_grad False
    global("collections", "OrderedDict");  // backward hooks: empty
    byte(')');
    byte('R');
    byte('t');
    byte('R');
  }
  void put(const Ref& v, int depth) {
    SCORCH_CHECK(depth < 64, "pickle: values nested deeper than 64 levels (a cycle?)");
    switch (v->kind) {
      case Kind::None: byte('N'); break;
      case Kind::Bool: byte(v->b ? 0x88 : 0x89); break;
      case Kind::Int: integer(v->i); break;
      case Kind::Float: {
        uint64_t bits;
        std::memcpy(&bits, &v->f, 8);
        byte('G');
        for (int k = 7; k >= 0; --k) byte(static_cast<unsigned char>(bits >> (8 * k)));  // big-endian
        break;
      }
      case Kind::Str: text(v->s); break;
      case Kind::Tuple:
        byte('(');
        for (const auto& x : v->items) put(x, depth + 1);
        byte('t');
        break;
      case Kind::List:
        byte(']');
        if (v->items.empty()) break;
        byte('(');
        for (const auto& x : v->items) put(x, depth + 1);
        byte('e');
        break;
      case Kind::Dict:
        if (v->ordered) {
          global("collections", "OrderedDict");
          byte(')');
          byte('R');
        } else {
          byte('}');
        }
        if (v->entries.empty()) break;
        byte('(');
        for (const auto& [k, x] : v->entries) {
          put(k, depth + 1);
          put(x, depth + 1);
        }
        byte('u');
        break;
      case Kind::Tensor: tensor(v->tensor); break;
      default: SCORCH_FAIL("pickle: cannot write a {}", v->describe());
    }
  }

  const std::function<std::string(const torch::Tensor&)>& add_storage_;
  std::string out_;
};

}  // namespace

std::string storage_type_name(torch::ScalarType dtype) {
  for (const auto& t : kStorageTypes)
    if (t.dtype == dtype) return t.name;
  SCORCH_FAIL("torch files: no storage type for dtype {}", c10::toString(dtype));
}

torch::ScalarType storage_dtype(const std::string& type_name, const std::string& what) {
  const std::string name = type_name.rfind("torch.", 0) == 0 ? type_name.substr(6) : type_name;
  for (const auto& t : kStorageTypes)
    if (name == t.name) return t.dtype;
  SCORCH_FAIL("{}: unsupported storage type '{}'", what, type_name);
}

std::string pickle(const Ref& root, const std::function<std::string(const torch::Tensor&)>& add_storage) {
  return Writer(add_storage).finish(root);
}

}  // namespace scorch::io::py
