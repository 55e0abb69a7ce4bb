// Hand-written because only five field kinds are needed; libprotobuf would bring code generation and the
// risk of clashing with the protobuf symbols some LibTorch builds carry.
#include "core/io/protobuf_wire.h"

#include <cstring>

#include "core/error.h"

namespace scorch::io::pb {

void Writer::raw_varint(uint64_t value) {
  while (value >= 0x80) {
    out_.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out_.push_back(static_cast<char>(value));
}

void Writer::tag(int field, int wire_type) { raw_varint((static_cast<uint64_t>(field) << 3) | wire_type); }

Writer& Writer::varint(int field, uint64_t value) {
  tag(field, 0);
  raw_varint(value);
  return *this;
}

Writer& Writer::float64(int field, double value) {
  tag(field, 1);
  char b[8];
  std::memcpy(b, &value, 8);  // little-endian hosts only, as everywhere in scorch
  out_.append(b, 8);
  return *this;
}

Writer& Writer::float32(int field, float value) {
  tag(field, 5);
  char b[4];
  std::memcpy(b, &value, 4);
  out_.append(b, 4);
  return *this;
}

Writer& Writer::bytes(int field, std::string_view value) {
  tag(field, 2);
  raw_varint(value.size());
  out_.append(value);
  return *this;
}

uint64_t Reader::raw_varint() {
  uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    SCORCH_CHECK(pos_ < in_.size(), "{}: protobuf message ends inside a varint at byte {}", what_, pos_);
    const auto b = static_cast<uint8_t>(in_[pos_++]);
    value |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return value;
  }
  SCORCH_FAIL("{}: protobuf varint longer than 10 bytes at byte {}", what_, pos_);
}

bool Reader::next(Field& field) {
  if (pos_ >= in_.size()) return false;
  const uint64_t key = raw_varint();
  field.number = static_cast<int>(key >> 3);
  SCORCH_CHECK(field.number > 0, "{}: protobuf field number 0 at byte {}", what_, pos_);
  const auto fixed = [&](size_t n) {
    SCORCH_CHECK(in_.size() - pos_ >= n, "{}: protobuf field {} needs {} bytes, {} left", what_, field.number, n,
                 in_.size() - pos_);
    uint64_t v = 0;
    std::memcpy(&v, in_.data() + pos_, n);
    pos_ += n;
    return v;
  };
  switch (key & 7) {
    case 0: field.type = WireType::Varint, field.value = raw_varint(); break;
    case 1: field.type = WireType::Fixed64, field.value = fixed(8); break;
    case 5: field.type = WireType::Fixed32, field.value = fixed(4); break;
    case 2: {
      const uint64_t n = raw_varint();
      SCORCH_CHECK(n <= in_.size() - pos_, "{}: protobuf field {} claims {} bytes, {} left", what_, field.number, n,
                   in_.size() - pos_);
      field.type = WireType::Bytes;
      field.bytes = in_.substr(pos_, n);
      pos_ += n;
      break;
    }
    default: SCORCH_FAIL("{}: unsupported protobuf wire type {} (field {})", what_, key & 7, field.number);
  }
  return true;
}

std::vector<int64_t> packed_varints(std::string_view bytes, const std::string& what) {
  // A packed run is untagged varints back to back, filling the field's bytes exactly.
  std::vector<int64_t> out;
  uint64_t value = 0;
  int shift = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<uint8_t>(bytes[i]);
    SCORCH_CHECK(shift < 64, "{}: packed varint longer than 10 bytes", what);
    value |= static_cast<uint64_t>(b & 0x7F) << shift;
    shift += 7;
    if (!(b & 0x80)) {
      out.push_back(static_cast<int64_t>(value));
      value = 0, shift = 0;
    }
  }
  SCORCH_CHECK(shift == 0, "{}: packed varints end inside a value", what);
  return out;
}

}  // namespace scorch::io::pb
