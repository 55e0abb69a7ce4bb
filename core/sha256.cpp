// SHA-256 through OpenSSL's EVP digests, which use the CPU's SHA extensions where it has them.
#include "core/sha256.h"

#include <openssl/evp.h>

#include <cstdio>
#include <vector>

#include "core/error.h"

namespace scorch {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  SCORCH_CHECK(ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1,
               "OpenSSL could not start a SHA-256 digest");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::update(const void* data, size_t size) {
  SCORCH_CHECK(EVP_DigestUpdate(ctx_, data, size) == 1, "OpenSSL's SHA-256 update failed");
}

std::string Sha256::hex_digest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  SCORCH_CHECK(EVP_DigestFinal_ex(ctx_, digest, &len) == 1, "OpenSSL's SHA-256 could not finish");
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(digits[digest[i] >> 4]);
    out.push_back(digits[digest[i] & 0xf]);
  }
  return out;
}

std::string sha256_hex(const std::string& bytes) {
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex_digest();
}

std::string sha256_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  SCORCH_CHECK(f != nullptr, "cannot open '{}' to compute its sha256", path);
  std::vector<char> buf(1 << 20);
  Sha256 h;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) h.update(buf.data(), n);
  SCORCH_CHECK(!std::ferror(f.get()), "read error in '{}' while computing its sha256", path);
  return h.hex_digest();
}

}  // namespace scorch
