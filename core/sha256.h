// SHA-256 of byte strings and files through OpenSSL's libcrypto: dataset manifests, sample farms and
// checkpoint series record checksums with it.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

struct evp_md_ctx_st;

namespace scorch {

// Incremental hasher.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  std::string hex_digest();  // finishes the hash; call once

 private:
  evp_md_ctx_st* ctx_;
};

std::string sha256_hex(const std::string& bytes);
// Streams the file in 1 MiB pieces; throws naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace scorch
