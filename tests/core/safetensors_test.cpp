// safetensors io: round trips of every dtype with metadata, the file layout, and clear errors on bad files.
#include "core/io/safetensors.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/torch_file.h"
#include "support/run.h"

namespace scorch {
namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, RoundTripsEveryDtypeAndMetadata) {
  const auto path = test::temp_dir("st") + "/a.safetensors";
  std::map<std::string, torch::Tensor> in{
      {"f64", torch::randn({3, 2}, torch::kFloat64)},
      {"f32", torch::randn({2, 3, 4}).transpose(0, 2)},  // non-contiguous on purpose
      {"f16", torch::randn({5}).to(torch::kFloat16)},
      {"bf16", torch::randn({5}).to(torch::kBFloat16)},
      {"i64", torch::arange(7, torch::kInt64)},
      {"i32", torch::arange(7, torch::kInt32) - 3},
      {"u8", torch::arange(200, 256, torch::kInt32).to(torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(2.5)},
      {"empty", torch::zeros({0, 3})},
  };
  io::write_safetensors(path, in, {{"format", "pt"}, {"note", "héllo"}});
  auto out = io::read_safetensors(path);
  ASSERT_EQ(out.tensors.size(), in.size());
  for (const auto& [name, t] : in) {
    SCOPED_TRACE(name);
    const auto& r = out.tensors.at(name);
    EXPECT_EQ(r.scalar_type(), t.scalar_type());
    EXPECT_EQ(r.sizes(), t.sizes());
    EXPECT_TRUE(torch::equal(r, t));
  }
  EXPECT_EQ(out.metadata.at("format"), "pt");
  EXPECT_EQ(out.metadata.at("note"), "héllo");
}

TEST(Safetensors, LayoutIsLengthHeaderThenData) {
  const auto path = test::temp_dir("st") + "/b.safetensors";
  io::write_safetensors(path, {{"x", torch::tensor({1.0f, 2.0f})}});
  const auto bytes = read_file(path);
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(bytes[i]);
  ASSERT_EQ(bytes.size(), 8 + len + 8);  // two float32 values
  const auto header = bytes.substr(8, len);
  EXPECT_NE(header.find("\"dtype\":\"F32\""), std::string::npos) << header;
  EXPECT_NE(header.find("\"data_offsets\":[0,8]"), std::string::npos) << header;
  float v[2];
  std::memcpy(v, bytes.data() + 8 + len, 8);
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], 2.0f);
}

TEST(Safetensors, ReadsTheParityFixture) {
  auto f = io::read_safetensors(test::source_dir() + "/tests/fixtures/parity/ve_ncsnpp_small.safetensors");
  EXPECT_EQ(f.tensors.at("param/sigmas").scalar_type(), torch::kFloat64);
  EXPECT_EQ(f.tensors.at("input/x").sizes(), (std::vector<int64_t>{3, 3, 16, 16}));
  EXPECT_TRUE(torch::allclose(f.tensors.at("input/t"), torch::tensor({0.9f, 0.5f, 0.1f})));
}

TEST(Safetensors, TruncatedAndCorruptFilesNameFileAndProblem) {
  const auto dir = test::temp_dir("st");
  const auto good = dir + "/good.safetensors";
  io::write_safetensors(good, {{"x", torch::randn({16})}});
  const auto bytes = read_file(good);

  const auto cut = dir + "/cut.safetensors";
  write_file_atomic(cut, bytes.substr(0, bytes.size() - 4));
  auto msg = error_of([&] { io::read_safetensors(cut); });
  EXPECT_NE(msg.find(cut), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;

  const auto tiny = dir + "/tiny.safetensors";
  write_file_atomic(tiny, "abc");
  msg = error_of([&] { io::read_safetensors(tiny); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;

  const auto huge_len = dir + "/len.safetensors";
  write_file_atomic(huge_len, std::string("\xff\xff\x00\x00\x00\x00\x00\x00{}", 10));
  msg = error_of([&] { io::read_safetensors(huge_len); });
  EXPECT_NE(msg.find("header length"), std::string::npos) << msg;

  auto corrupt = bytes;
  corrupt[9] = '#';  // inside the JSON
  const auto bad_json = dir + "/json.safetensors";
  write_file_atomic(bad_json, corrupt);
  msg = error_of([&] { io::read_safetensors(bad_json); });
  EXPECT_NE(msg.find("JSON"), std::string::npos) << msg;
  EXPECT_NE(msg.find(bad_json), std::string::npos) << msg;

  msg = error_of([&] { io::read_safetensors(dir + "/absent.safetensors"); });
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
}

// What users pass by mistake: a run dir, and score_sde_pytorch's checkpoint before `scorch convert import`.
TEST(Safetensors, ADirectoryAndATorchSaveFileAreNamedAsSuch) {
  const auto dir = test::temp_dir("st_wrong");
  auto msg = error_of([&] { io::read_safetensors(dir); });
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;

  const auto pth = dir + "/checkpoint_8.pth";
  auto state = io::py::dict();
  state->set(io::py::str("w"), io::py::tensor(torch::ones({4})));
  io::write_torch_file(pth, state);
  msg = error_of([&] { io::read_safetensors(pth); });
  EXPECT_NE(msg.find(pth + " is a torch.save zip"), std::string::npos) << msg;
  EXPECT_NE(msg.find("scorch convert import"), std::string::npos) << msg;
}

}  // namespace
}  // namespace scorch
