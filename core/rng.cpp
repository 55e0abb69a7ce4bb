// Seed mixing (splitmix64), CPU generators per stream, and base64 generator state for meta.json.
#include "core/rng.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cstring>

#include "core/error.h"

namespace scorch {

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(const uint8_t* data, size_t n) {
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = static_cast<uint32_t>(data[i]) << 16;
    if (i + 1 < n) v |= static_cast<uint32_t>(data[i + 1]) << 8;
    if (i + 2 < n) v |= data[i + 2];
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < n ? kB64[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kB64[v & 63] : '=';
  }
  return out;
}

std::vector<uint8_t> unbase64(const std::string& s) {
  SCORCH_CHECK(s.size() % 4 == 0, "generator state is not base64 (length {})", s.size());
  auto value = [&](char c) -> uint32_t {
    const char* p = std::strchr(kB64, c);
    SCORCH_CHECK(c != '\0' && p, "generator state is not base64 (character '{}')", c);
    return static_cast<uint32_t>(p - kB64);
  };
  std::vector<uint8_t> out;
  for (size_t i = 0; i < s.size(); i += 4) {
    uint32_t v = value(s[i]) << 18 | value(s[i + 1]) << 12;
    if (s[i + 2] != '=') v |= value(s[i + 2]) << 6;
    if (s[i + 3] != '=') v |= value(s[i + 3]);
    out.push_back(static_cast<uint8_t>(v >> 16));
    if (s[i + 2] != '=') out.push_back(static_cast<uint8_t>(v >> 8));
    if (s[i + 3] != '=') out.push_back(static_cast<uint8_t>(v));
  }
  return out;
}

}  // namespace

uint64_t mix_seed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

torch::Generator cpu_generator(uint64_t seed, uint64_t stream) {
  return at::make_generator<at::CPUGeneratorImpl>(mix_seed(seed, stream));
}

std::string generator_state(torch::Generator& gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  auto state = gen.get_state().contiguous();
  return base64(state.data_ptr<uint8_t>(), static_cast<size_t>(state.numel()));
}

void set_generator_state(torch::Generator& gen, const std::string& state) {
  auto bytes = unbase64(state);
  auto t = torch::from_blob(bytes.data(), {static_cast<int64_t>(bytes.size())}, torch::kUInt8).clone();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(t);
}

}  // namespace scorch
