// Protocol-buffer wire format, the few field kinds TensorBoard events and tf.train.Example need.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace scorch::io::pb {

// Appends fields in the wire format; nested messages are written from another Writer's bytes.
class Writer {
 public:
  Writer& varint(int field, uint64_t value);
  Writer& int64(int field, int64_t value) { return varint(field, static_cast<uint64_t>(value)); }
  Writer& float64(int field, double value);
  Writer& float32(int field, float value);
  Writer& bytes(int field, std::string_view value);
  Writer& message(int field, const Writer& nested) { return bytes(field, nested.str()); }
  const std::string& str() const { return out_; }

 private:
  void tag(int field, int wire_type);
  void raw_varint(uint64_t value);
  std::string out_;
};

enum class WireType { Varint = 0, Fixed64 = 1, Bytes = 2, Fixed32 = 5 };

struct Field {
  int number = 0;
  WireType type = WireType::Varint;
  uint64_t value = 0;      // Varint, Fixed64, Fixed32
  std::string_view bytes;  // Bytes (points into the reader's input)
};

// Walks the fields of one message. Every length is checked against the input, so truncated or hostile
// bytes end in an Error naming `what` (a file and record), never a read past the end.
class Reader {
 public:
  Reader(std::string_view input, std::string what) : in_(input), what_(std::move(what)) {}
  bool next(Field& field);  // false at the end of the message
  const std::string& what() const { return what_; }

 private:
  uint64_t raw_varint();
  std::string_view in_;
  size_t pos_ = 0;
  std::string what_;
};

// The int64 values of a repeated field given as one packed Bytes field.
std::vector<int64_t> packed_varints(std::string_view bytes, const std::string& what);

}  // namespace scorch::io::pb
