// TFRecord framing, CRC-32C and the protobuf wire format: known values, round trips, and every kind of
// damage reported with the file and record index.
#include "core/io/tfrecord.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/crc32c.h"
#include "core/io/protobuf_wire.h"
#include "support/checks.h"
#include "support/run.h"

namespace scorch {
namespace {

using test::contains;

// The error message of f(), or "" when it does not throw.
template <class F>
std::string tfrecord_error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> read_all_records(const std::string& path) {
  io::RecordReader reader(path);
  std::vector<std::string> out;
  for (std::string r; reader.next(r);) out.push_back(r);
  return out;
}

TEST(Crc32c, MatchesTheCastagnoliCheckValues) {
  // The standard check value of CRC-32C over "123456789" and RFC 3720's 32 zero bytes.
  EXPECT_EQ(io::crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(io::crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(io::crc32c(""), 0u);
}

TEST(ProtobufWire, RoundTripsEveryFieldKind) {
  io::pb::Writer nested;
  nested.varint(1, 7);
  io::pb::Writer w;
  w.varint(1, 300).int64(2, -5).float64(3, 0.25).float32(4, 1.5f).bytes(5, "abc").message(6, nested);
  io::pb::Reader r(w.str(), "test message");
  io::pb::Field f;
  ASSERT_TRUE(r.next(f));
  EXPECT_EQ(f.number, 1);
  EXPECT_EQ(f.value, 300u);
  ASSERT_TRUE(r.next(f));
  EXPECT_EQ(static_cast<int64_t>(f.value), -5);  // negative int64: ten-byte varint
  ASSERT_TRUE(r.next(f));
  double d;
  std::memcpy(&d, &f.value, 8);
  EXPECT_EQ(f.type, io::pb::WireType::Fixed64);
  EXPECT_EQ(d, 0.25);
  ASSERT_TRUE(r.next(f));
  EXPECT_EQ(f.type, io::pb::WireType::Fixed32);
  ASSERT_TRUE(r.next(f));
  EXPECT_EQ(f.bytes, "abc");
  ASSERT_TRUE(r.next(f));
  EXPECT_EQ(f.number, 6);
  EXPECT_EQ(f.bytes, nested.str());
  EXPECT_FALSE(r.next(f));
  // 300 = 0xAC 0x02 on the wire, as the protobuf encoding guide shows it.
  EXPECT_EQ(w.str().substr(0, 3), std::string("\x08\xAC\x02", 3));
  EXPECT_EQ(io::pb::packed_varints(std::string("\x01\xAC\x02", 3), "packed"), (std::vector<int64_t>{1, 300}));
}

TEST(ProtobufWire, TruncatedOrHostileMessagesAreErrorsNamingTheSource) {
  io::pb::Writer w;
  w.bytes(1, "hello");
  for (size_t cut = 1; cut < w.str().size(); ++cut) {
    io::pb::Reader r(std::string_view(w.str()).substr(0, cut), "file.tfrecords record 3");
    io::pb::Field f;
    EXPECT_TRUE(contains(tfrecord_error_of([&] { r.next(f); }), "file.tfrecords record 3")) << cut;
  }
  io::pb::Field f;
  io::pb::Reader huge(std::string("\x0A\xFF\xFF\xFF\xFF\x0F", 6), "huge");  // claims 4 GiB
  EXPECT_TRUE(contains(tfrecord_error_of([&] { huge.next(f); }), "claims")) << "huge";
  io::pb::Reader group(std::string("\x0B", 1), "group");  // wire type 3 (groups) is not used by these messages
  EXPECT_TRUE(contains(tfrecord_error_of([&] { group.next(f); }), "wire type 3"));
}

TEST(TfRecord, WritesAndReadsRecordsInOrder) {
  const auto path = test::temp_dir("tfrecord") + "/a.tfrecords";
  {
    io::RecordWriter w(path);
    w.write("first");
    w.write("");
    w.write(std::string(100000, 'x'));
    w.flush();
  }
  {
    io::RecordWriter again(path);  // appends
    again.write("last");
    again.flush();
  }
  const auto records = read_all_records(path);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0], "first");
  EXPECT_EQ(records[1], "");
  EXPECT_EQ(records[2].size(), 100000u);
  EXPECT_EQ(records[3], "last");
  io::RecordReader seek(path);
  std::string r;
  ASSERT_TRUE(seek.next(r) && seek.next(r));
  const auto second = seek.offset();
  seek.seek(second, 1);
  ASSERT_TRUE(seek.next(r));
  EXPECT_EQ(r, "");
  EXPECT_EQ(seek.index(), 1);
}

TEST(TfRecord, DamageIsAnErrorNamingTheFileAndRecord) {
  const auto dir = test::temp_dir("tfrecord_damage");
  const auto good = dir + "/good.tfrecords";
  {
    io::RecordWriter w(good);
    for (const char* s : {"zero", "one", "two"}) w.write(s);
    w.flush();
  }
  const std::string bytes = read_file(good);
  const size_t record = 12 + 4 + 4;  // header, "zero"/"one " sized payload, data CRC
  const auto damaged = [&](const std::string& name, std::string b) {
    const auto p = dir + "/" + name;
    std::ofstream(p, std::ios::binary) << b;
    return tfrecord_error_of([&] { read_all_records(p); });
  };
  std::string flip = bytes;
  flip[record + 12] ^= 1;  // a byte of record 1's data
  auto e = damaged("flip.tfrecords", flip);
  EXPECT_TRUE(contains(e, "flip.tfrecords") && contains(e, "record 1") && contains(e, "CRC of the data")) << e;
  std::string length = bytes;
  length[2 * (record - 1) + 1] ^= 1;  // record 2's length ("one" is 3 bytes, so record 2 starts at 39)
  e = damaged("length.tfrecords", length);
  EXPECT_TRUE(contains(e, "record 2") && contains(e, "length")) << e;
  e = damaged("cut.tfrecords", bytes.substr(0, bytes.size() - 3));
  EXPECT_TRUE(contains(e, "cut.tfrecords") && contains(e, "record 2")) << e;
  e = damaged("header.tfrecords", bytes + std::string(5, '\0'));
  EXPECT_TRUE(contains(e, "record 3") && contains(e, "header")) << e;
  EXPECT_TRUE(contains(tfrecord_error_of([&] { io::RecordReader(dir + "/missing.tfrecords"); }), "missing.tfrecords"));
}

}  // namespace
}  // namespace scorch
