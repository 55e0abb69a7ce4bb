// TFRecord framing on both sides: the TensorBoard event writer and the TFRecord dataset reader.
#include "core/io/tfrecord.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/io/crc32c.h"

namespace scorch::io {
namespace {

std::string le_bytes(uint64_t value, int n) {
  std::string out(static_cast<size_t>(n), '\0');
  std::memcpy(out.data(), &value, static_cast<size_t>(n));
  return out;
}

uint64_t from_le(const char* bytes, int n) {
  uint64_t value = 0;
  std::memcpy(&value, bytes, static_cast<size_t>(n));
  return value;
}

}  // namespace

RecordWriter::RecordWriter(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "ab");
  SCORCH_CHECK(file_ != nullptr, "cannot open '{}' for appending: {}", path, std::strerror(errno));
}

RecordWriter::~RecordWriter() {
  if (file_) std::fclose(file_);
}

void RecordWriter::write(const std::string& data) {
  const std::string length = le_bytes(data.size(), 8);
  std::string frame = length + le_bytes(masked_crc32c(length), 4);
  frame += data;
  frame += le_bytes(masked_crc32c(data), 4);
  SCORCH_CHECK(std::fwrite(frame.data(), 1, frame.size(), file_) == frame.size(), "cannot write to '{}': {}", path_,
               std::strerror(errno));
}

void RecordWriter::flush() {
  SCORCH_CHECK(std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0, "cannot flush '{}': {}", path_,
               std::strerror(errno));
}

RecordReader::RecordReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  SCORCH_CHECK(in_.good(), "cannot open TFRecord file '{}'", path);
  size_ = std::filesystem::file_size(path);
}

void RecordReader::seek(uint64_t offset, int64_t index) {
  SCORCH_CHECK(offset <= size_, "'{}': record {} at byte {} is past the end of the file ({} bytes)", path_, index,
               offset, size_);
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(offset));
  pos_ = offset;
  index_ = index - 1;
}

bool RecordReader::next(std::string& data) {
  if (pos_ == size_) return false;
  ++index_;
  offset_ = pos_;
  SCORCH_CHECK(size_ - pos_ >= 12, "'{}' record {}: the file ends inside the record header ({} bytes left)", path_,
               index_, size_ - pos_);
  char header[12];
  in_.read(header, 12);
  const uint64_t length = from_le(header, 8);
  SCORCH_CHECK(static_cast<uint32_t>(from_le(header + 8, 4)) == masked_crc32c(std::string_view(header, 8)),
               "'{}' record {}: the CRC of the length field does not match (corrupt file, or not a TFRecord file)",
               path_, index_);
  pos_ += 12;
  SCORCH_CHECK(length <= size_ - pos_ && size_ - pos_ - length >= 4,
               "'{}' record {}: length {} runs past the end of the file ({} bytes left)", path_, index_, length,
               size_ - pos_);
  data.resize(length);
  char crc[4];
  in_.read(data.data(), static_cast<std::streamsize>(length));
  in_.read(crc, 4);
  SCORCH_CHECK(in_.good(), "'{}' record {}: read error", path_, index_);
  pos_ += length + 4;
  SCORCH_CHECK(static_cast<uint32_t>(from_le(crc, 4)) == masked_crc32c(data),
               "'{}' record {}: the CRC of the data does not match (corrupt record)", path_, index_);
  return true;
}

}  // namespace scorch::io
