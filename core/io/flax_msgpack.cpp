// Reading Flax's msgpack state dicts through nlohmann-json's msgpack SAX parser (see flax_msgpack.h).
#include "core/io/flax_msgpack.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"

namespace scorch::io {

namespace {

using json = nlohmann::json;

// flax.serialization's msgpack extension codes.
constexpr uint64_t kExtNdarray = 1, kExtComplex = 2, kExtNpScalar = 3;
constexpr size_t kMaxDepth = 64;
// Every leaf keeps its whole path, so a long key over many small leaves would multiply the file's size in
// memory: keys, leaves and the paths' bytes together are bounded far above any checkpoint (score_sde's
// classifier: 106 arrays, paths under 60 bytes).
constexpr size_t kMaxKey = 256, kMaxLeaves = 1'000'000, kMaxPathBytes = size_t{64} << 20;

struct Dtype {
  const char* name;
  torch::ScalarType type;
  size_t bytes;
};
constexpr Dtype kDtypes[] = {
    {"float32", torch::kFloat32, 4},   {"float64", torch::kFloat64, 8}, {"float16", torch::kFloat16, 2},
    {"bfloat16", torch::kBFloat16, 2}, {"int64", torch::kInt64, 8},     {"int32", torch::kInt32, 4},
    {"int16", torch::kInt16, 2},       {"int8", torch::kInt8, 1},       {"uint8", torch::kUInt8, 1},
    {"bool", torch::kBool, 1},         {"uint16", torch::kUInt16, 2},   {"uint32", torch::kUInt32, 4},
};

// The payload of one array: msgpack [shape (list of ints), dtype name, bytes], and nothing else.
class NdarraySax : public nlohmann::json_sax<json> {
 public:
  NdarraySax(std::string file, std::string key) : file_(std::move(file)), key_(std::move(key)) {}

  torch::Tensor tensor() const {
    SCORCH_CHECK(state_ == State::Done, "'{}': array '{}' is not [shape, dtype, bytes]", file_, key_);
    const Dtype* dtype = nullptr;
    for (const auto& d : kDtypes)
      if (dtype_ == d.name) dtype = &d;
    SCORCH_CHECK_HINT(dtype != nullptr, "convert it to float32 in Python before saving",
                      "'{}': array '{}' has dtype '{}', which scorch does not read", file_, key_, dtype_);
    // The element count must fit, and so must the strides of an empty array's other dimensions (LibTorch
    // multiplies them out whatever the count).
    size_t count = 1, span = 1;
    for (int64_t d : shape_) {
      const auto extent = static_cast<size_t>(std::max<int64_t>(d, 1));
      SCORCH_CHECK(d >= 0 && span <= (size_t{1} << 62) / extent, "'{}': array '{}' has an impossible shape [{}]", file_,
                   key_, fmt::join(shape_, ", "));
      span *= extent;
      count *= static_cast<size_t>(d);
    }
    SCORCH_CHECK(count <= std::numeric_limits<size_t>::max() / dtype->bytes && count * dtype->bytes == bytes_.size(),
                 "'{}': array '{}' of shape [{}] {} needs {} bytes, the file holds {}", file_, key_,
                 fmt::join(shape_, ", "), dtype_, count * dtype->bytes, bytes_.size());
    auto t = torch::empty(shape_, torch::TensorOptions().dtype(dtype->type));
    if (dtype->type == torch::kBool)  // any other byte would be an invalid bool
      SCORCH_CHECK(std::all_of(bytes_.begin(), bytes_.end(), [](uint8_t b) { return b <= 1; }),
                   "'{}': bool array '{}' holds bytes other than 0 and 1", file_, key_);
    if (!bytes_.empty()) std::memcpy(t.data_ptr(), bytes_.data(), bytes_.size());
    // LibTorch's unsigned 16/32-bit tensors have few kernels; JAX's PRNG keys are uint32.
    if (dtype->type == torch::kUInt16 || dtype->type == torch::kUInt32) return t.to(torch::kInt64);
    return t;
  }

  bool null() override { return fail(); }
  bool boolean(bool) override { return fail(); }
  bool number_integer(number_integer_t v) override { return dim(v); }
  bool number_unsigned(number_unsigned_t v) override {
    return v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? dim(static_cast<int64_t>(v)) : fail();
  }
  bool number_float(number_float_t, const string_t&) override { return fail(); }
  bool string(string_t& s) override {
    if (state_ != State::Dtype) return fail();
    dtype_ = s;
    state_ = State::Bytes;
    return true;
  }
  bool binary(binary_t& b) override {
    if (state_ != State::Bytes) return fail();
    bytes_ = std::move(b);
    state_ = State::End;
    return true;
  }
  bool start_object(std::size_t) override { return fail(); }
  bool key(string_t&) override { return fail(); }
  bool end_object() override { return fail(); }
  bool start_array(std::size_t) override {
    if (state_ == State::Start) return state_ = State::Shape, true;
    if (state_ == State::Shape && !in_shape_) return in_shape_ = true, true;
    return fail();
  }
  bool end_array() override {
    if (in_shape_) return in_shape_ = false, state_ = State::Dtype, true;
    if (state_ == State::End) return state_ = State::Done, true;
    return fail();
  }
  bool parse_error(std::size_t at, const std::string&, const json::exception& e) override {
    SCORCH_FAIL("'{}': array '{}' is not valid msgpack at its byte {}: {}", file_, key_, at, e.what());
  }

 private:
  enum class State { Start, Shape, Dtype, Bytes, End, Done };
  bool dim(int64_t v) {
    if (!in_shape_ || shape_.size() >= 32) return fail();
    shape_.push_back(v);
    return true;
  }
  bool fail() { SCORCH_FAIL("'{}': array '{}' is not [shape, dtype, bytes] as flax writes it", file_, key_); }

  std::string file_, key_, dtype_;
  State state_ = State::Start;
  bool in_shape_ = false;
  std::vector<int64_t> shape_;
  std::vector<uint8_t> bytes_;
};

// The outer tree: maps down to the leaves, whose paths it joins with '.'.
class TreeSax : public nlohmann::json_sax<json> {
 public:
  explicit TreeSax(std::string file) : file_(std::move(file)) {}
  FlaxTree tree;

  bool null() override { return value(nullptr); }
  bool boolean(bool v) override { return value(v); }
  bool number_integer(number_integer_t v) override { return value(v); }
  bool number_unsigned(number_unsigned_t v) override { return value(v); }
  bool number_float(number_float_t v, const string_t&) override { return value(v); }
  bool string(string_t& s) override { return value(s); }
  bool binary(binary_t& b) override {
    const auto at = leaf_path();
    const auto code = b.has_subtype() ? b.subtype() : std::numeric_limits<uint64_t>::max();
    SCORCH_CHECK(code != kExtComplex, "'{}': '{}' is a complex number, which scorch does not read", file_, at);
    SCORCH_CHECK(code == kExtNdarray || code == kExtNpScalar,
                 "'{}': '{}' holds raw bytes (msgpack {}), not an array as flax.serialization writes one", file_, at,
                 b.has_subtype() ? fmt::format("ext type {}", b.subtype()) : std::string("bin"));
    NdarraySax sax(file_, at);
    SCORCH_CHECK(json::sax_parse(b.begin(), b.end(), &sax, json::input_format_t::msgpack),
                 "'{}': array '{}' is not valid msgpack", file_, at);
    add(at, sax.tensor());
    return true;
  }
  bool start_object(std::size_t) override {
    SCORCH_CHECK(path_.size() < kMaxDepth, "'{}': maps nested deeper than {} at '{}'", file_, kMaxDepth,
                 joined(path_.size()));
    if (!path_.empty() || started_) {
      SCORCH_CHECK(key_ready_, "'{}': a map where a key was expected under '{}'", file_, joined(path_.size()));
      key_ready_ = false;
    }
    started_ = true;
    path_.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    SCORCH_CHECK(k.size() <= kMaxKey, "'{}': a key of {} bytes under '{}'; Flax's keys are module and parameter names",
                 file_, k.size(), joined(path_.size() - 1));
    SCORCH_CHECK(!k.empty() && k.find('.') == std::string::npos,
                 "'{}': key '{}' under '{}' is empty or holds a '.', which scorch uses to join the tree's keys", file_,
                 k, joined(path_.size() - 1));
    if (k == "__msgpack_chunked_array__")
      SCORCH_FAIL("'{}': '{}' is an array flax split into chunks (over 1 GiB), which scorch does not read", file_,
                  joined(path_.size() - 1));
    path_.back() = k;
    key_ready_ = true;
    return true;
  }
  bool end_object() override {
    path_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    SCORCH_FAIL("'{}': '{}' is a msgpack list; flax's state dicts hold maps and arrays", file_,
                started_ ? leaf_path() : std::string("the top level"));
  }
  bool end_array() override { return false; }
  bool parse_error(std::size_t at, const std::string&, const json::exception& e) override {
    SCORCH_FAIL("'{}' is not a valid msgpack file at byte {}: {}", file_, at, e.what());
  }

 private:
  template <typename T>
  bool value(T&& v) {
    SCORCH_CHECK(started_, "'{}' holds a single msgpack value, not a Flax state dict (a map)", file_);
    const auto at = leaf_path();
    SCORCH_CHECK(!tree.arrays.count(at) && !tree.values.count(at), "'{}': key '{}' appears twice", file_, at);
    tree.values[at] = json(std::forward<T>(v));
    return true;
  }
  void add(const std::string& at, torch::Tensor t) {
    SCORCH_CHECK(!tree.arrays.count(at) && !tree.values.count(at), "'{}': key '{}' appears twice", file_, at);
    tree.arrays[at] = std::move(t);
  }
  std::string leaf_path() {
    SCORCH_CHECK(started_ && key_ready_, "'{}': a value where a key was expected under '{}'", file_,
                 joined(path_.size()));
    key_ready_ = false;
    auto at = joined(path_.size());
    path_bytes_ += at.size();
    SCORCH_CHECK(++leaves_ <= kMaxLeaves && path_bytes_ <= kMaxPathBytes,
                 "'{}' holds more than {} leaves or {} MiB of key paths: not a checkpoint", file_, kMaxLeaves,
                 kMaxPathBytes >> 20);
    return at;
  }
  std::string joined(size_t n) const {
    std::string out;
    for (size_t i = 0; i < n && i < path_.size(); ++i) out += (i ? "." : "") + path_[i];
    return out.empty() ? "the top level" : out;
  }

  std::string file_;
  std::vector<std::string> path_;
  bool started_ = false, key_ready_ = false;
  size_t leaves_ = 0, path_bytes_ = 0;
};

}  // namespace

bool looks_like_flax_msgpack(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[9] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const auto got = static_cast<size_t>(in.gcount());
  // A non-empty map whose first key is a string: fixmap, map16 or map32 (which put 2 or 4 length bytes first).
  const size_t key_at = head[0] >= 0x81 && head[0] <= 0x8f ? 1 : head[0] == 0xde ? 3 : head[0] == 0xdf ? 5 : 0;
  if (key_at == 0 || got <= key_at) return false;
  const auto k = head[key_at];
  if (!((k >= 0xa0 && k <= 0xbf) || (k >= 0xd9 && k <= 0xdb))) return false;
  // A safetensors file starts with its header's length (8 bytes, little-endian), whose low byte may look like
  // a map, then '{'.
  if (got == sizeof head && head[8] == '{') {
    uint64_t header = 0;
    for (int i = 7; i >= 0; --i) header = header << 8 | head[i];
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec && header <= size - 8) return false;
  }
  return true;
}

FlaxTree read_flax_msgpack(const std::string& path) {
  const auto bytes = read_file(path);
  TreeSax sax(path);
  SCORCH_CHECK(json::sax_parse(bytes.begin(), bytes.end(), &sax, json::input_format_t::msgpack),
               "'{}' is not a valid msgpack file", path);
  return std::move(sax.tree);
}

}  // namespace scorch::io
