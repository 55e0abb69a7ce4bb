// SHA-256 (FIPS 180-4) of byte strings and files: dataset manifests record each shard's checksum.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace scorch {

// Incremental hasher; a small self-contained implementation so no crypto library is needed.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::string hex_digest();  // finishes the hash; call once

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const std::string& bytes);
// Streams the file in 1 MiB pieces; throws naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace scorch
