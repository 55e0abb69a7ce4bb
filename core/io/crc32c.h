// CRC-32C (Castagnoli), the checksum of TFRecord framing, and TensorFlow's masked form of it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace scorch::io {

uint32_t crc32c(std::string_view bytes);
// TFRecord stores rotate-and-offset CRCs so that a CRC of data that itself holds CRCs stays well mixed.
uint32_t masked_crc32c(std::string_view bytes);

}  // namespace scorch::io
