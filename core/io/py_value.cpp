// Python values of a torch pickle: constructors, dict lookup, descriptions and leaf listing.
#include "core/io/py_value.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "core/error.h"

namespace scorch::io::py {

namespace {

Ref make(Kind kind) {
  auto v = std::make_shared<Value>();
  v->kind = kind;
  return v;
}

bool same_key(const Value& a, const Value& b) {
  if (a.kind != b.kind) return false;
  if (a.kind == Kind::Str || a.kind == Kind::Bytes) return a.s == b.s;
  if (a.kind == Kind::Int) return a.i == b.i;
  if (a.kind == Kind::Bool) return a.b == b.b;
  if (a.kind == Kind::None) return true;
  return &a == &b;
}

bool is_plain(const Value& v) {
  return v.kind == Kind::None || v.kind == Kind::Bool || v.kind == Kind::Int || v.kind == Kind::Float ||
         v.kind == Kind::Str;
}

// Shared references make a pickle a graph: a few hundred bytes can describe 2^60 paths. Walks stop at a
// depth and a count no checkpoint comes near (score_sde's checkpoints, with optimizer and EMA, hold ~800 values
// at the small parity config and a few thousand at the largest). Every visit builds its path, so the count
// bounds what a hostile pickle costs: 2^18 visits of 64-deep paths take ~0.06 s and ~14 MB, and 0.35 s under the
// fuzzers' sanitizers (2^20 took 1.4 s there, and 400,000 CI inputs of the pickle target 198 s instead of 27 s).
constexpr size_t kMaxVisits = size_t{1} << 18;

struct Walk {
  const std::string& what;
  std::vector<std::pair<std::string, Ref>>& out;
  size_t visits = 0;
};

void collect(const std::string& path, const Ref& v, Walk& walk, int depth) {
  SCORCH_CHECK(depth < 64, "{}: values nested deeper than 64 levels at '{}'", walk.what, path);
  SCORCH_CHECK(++walk.visits <= kMaxVisits, "{}: more than {} values (shared references repeated?)", walk.what,
               kMaxVisits);
  auto& out = walk.out;
  if (v->is_sequence() && !v->items.empty() &&
      std::all_of(v->items.begin(), v->items.end(), [](const Ref& x) { return is_plain(*x); })) {
    out.emplace_back(path, v);
    return;
  }
  auto join = [&](const std::string& key) { return path.empty() ? key : path + "." + key; };
  switch (v->kind) {
    case Kind::Dict:
      for (const auto& [k, item] : v->entries) collect(join(k->key_text()), item, walk, depth + 1);
      break;
    case Kind::List:
    case Kind::Tuple:
      for (size_t i = 0; i < v->items.size(); ++i) collect(join(std::to_string(i)), v->items[i], walk, depth + 1);
      break;
    default: out.emplace_back(path, v);
  }
}

}  // namespace

Ref Value::get(const std::string& key) const {
  for (const auto& [k, v] : entries)
    if (k->kind == Kind::Str && k->s == key) return v;
  return nullptr;
}

Ref Value::get(int64_t key) const {
  for (const auto& [k, v] : entries)
    if (k->kind == Kind::Int && k->i == key) return v;
  return nullptr;
}

void Value::set(Ref key, Ref value) {
  for (auto& [k, v] : entries)
    if (same_key(*k, *key)) {
      v = std::move(value);
      return;
    }
  entries.emplace_back(std::move(key), std::move(value));
}

std::string Value::describe() const {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return b ? "bool True" : "bool False";
    case Kind::Int: return fmt::format("int {}", i);
    case Kind::Float: return fmt::format("float {}", f);
    case Kind::Str: return fmt::format("str '{}'", s.size() > 40 ? s.substr(0, 40) + "..." : s);
    case Kind::Bytes: return fmt::format("bytes ({} bytes)", s.size());
    case Kind::Tuple: return fmt::format("tuple of {}", items.size());
    case Kind::List: return fmt::format("list of {}", items.size());
    case Kind::Dict: return fmt::format("{} of {}", ordered ? "OrderedDict" : "dict", entries.size());
    case Kind::Tensor:
      return fmt::format("tensor {} [{}]", dtype_name(tensor.scalar_type()), fmt::join(tensor.sizes(), ", "));
    case Kind::Storage:
      return fmt::format("storage {} ({} elements)", dtype_name(tensor.scalar_type()), tensor.numel());
    case Kind::Global: return fmt::format("global {}", s);
    case Kind::Object: return fmt::format("object {}", s);
  }
  return "?";
}

Value::~Value() {
  // Each value whose last reference is here hands its children to this loop before it goes, so no destructor
  // runs inside another.
  std::vector<Ref> pending;
  const auto take_children = [&pending](Value& v) {
    for (auto& r : v.items) pending.push_back(std::move(r));
    for (auto& [k, x] : v.entries) pending.push_back(std::move(k)), pending.push_back(std::move(x));
    if (v.state) pending.push_back(std::move(v.state));
    v.items.clear();
    v.entries.clear();
  };
  take_children(*this);
  while (!pending.empty()) {
    Ref r = std::move(pending.back());
    pending.pop_back();
    if (r && r.use_count() == 1) take_children(*r);
  }
}

std::string Value::repr() const { return repr_at(0); }

std::string Value::repr_at(int depth) const {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return b ? "True" : "False";
    case Kind::Int: return std::to_string(i);
    case Kind::Float: {
      auto text = fmt::format("{}", f);
      return text.find_first_of(".eEn") == std::string::npos ? text + ".0" : text;  // 0 -> 0.0, as Python
    }
    case Kind::Str: return "'" + s + "'";
    case Kind::Tuple:
    case Kind::List: {
      constexpr size_t kShown = 8;
      constexpr int kDeepest = 4;
      if (depth == kDeepest) return kind == Kind::Tuple ? "(...)" : "[...]";
      std::vector<std::string> parts;
      for (size_t k = 0; k < std::min(kShown, items.size()); ++k) parts.push_back(items[k]->repr_at(depth + 1));
      if (items.size() > kShown) parts.push_back("...");
      const bool one = kind == Kind::Tuple && items.size() == 1;
      const auto text = fmt::format(kind == Kind::Tuple ? "({}{})" : "[{}{}]", fmt::join(parts, ", "), one ? "," : "");
      return items.size() > kShown ? fmt::format("{} ({} items)", text, items.size()) : text;
    }
    default: return describe();
  }
}

std::string Value::key_text() const {
  if (kind == Kind::Str) return s;
  if (kind == Kind::Int) return std::to_string(i);
  return "<" + describe() + ">";
}

Ref none() { return make(Kind::None); }
Ref boolean(bool v) {
  auto r = make(Kind::Bool);
  r->b = v;
  return r;
}
Ref integer(int64_t v) {
  auto r = make(Kind::Int);
  r->i = v;
  return r;
}
Ref real(double v) {
  auto r = make(Kind::Float);
  r->f = v;
  return r;
}
Ref str(std::string v) {
  auto r = make(Kind::Str);
  r->s = std::move(v);
  return r;
}
Ref bytes(std::string v) {
  auto r = make(Kind::Bytes);
  r->s = std::move(v);
  return r;
}
Ref tuple(std::vector<Ref> items) {
  auto r = make(Kind::Tuple);
  r->items = std::move(items);
  return r;
}
Ref list(std::vector<Ref> items) {
  auto r = make(Kind::List);
  r->items = std::move(items);
  return r;
}
Ref dict(bool ordered) {
  auto r = make(Kind::Dict);
  r->ordered = ordered;
  return r;
}
Ref tensor(torch::Tensor t) {
  auto r = make(Kind::Tensor);
  r->tensor = std::move(t);
  return r;
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Tensor: return "tensor";
    case Kind::Storage: return "storage";
    case Kind::Global: return "global";
    case Kind::Object: return "object";
  }
  return "?";
}

std::string dtype_name(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat64: return "float64";
    case torch::kFloat32: return "float32";
    case torch::kFloat16: return "float16";
    case torch::kBFloat16: return "bfloat16";
    case torch::kInt64: return "int64";
    case torch::kInt32: return "int32";
    case torch::kInt16: return "int16";
    case torch::kInt8: return "int8";
    case torch::kUInt8: return "uint8";
    case torch::kBool: return "bool";
    default: return c10::toString(dtype);
  }
}

std::vector<std::pair<std::string, Ref>> leaves(const Ref& root, const std::string& what) {
  std::vector<std::pair<std::string, Ref>> out;
  Walk walk{what, out};
  collect("", root, walk, 0);
  return out;
}

}  // namespace scorch::io::py
