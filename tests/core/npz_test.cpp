// .npz files: round trip through our writer/reader, and files written/read by numpy itself.
#include "core/io/npz.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "support/prerequisite.h"
#include "support/run.h"

namespace scorch {
namespace {

// Found by tests/fuzz (npy): each was an escaping std::out_of_range, undefined behaviour or an overflow.
std::string npy_with(const std::string& header_dict, const std::string& data) {
  std::string header = header_dict + "\n";
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

std::string npy_error(const std::string& bytes) {
  try {
    io::npz::parse_npy(bytes, "fuzzed.npy");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Npz, FuzzFoundHeadersAreRefusedNamingTheArray) {
  EXPECT_NE(npy_error(npy_with("{'descr': '', 'fortran_order': False, 'shape': (1,), }", "x")).find("fuzzed.npy"),
            std::string::npos);
  const auto huge =
      npy_error(npy_with("{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967296, "
                         "4294967296), }",
                         "xy"));
  EXPECT_NE(huge.find("fuzzed.npy: .npy shape (4294967296, 4294967296, 4294967296) is larger than any array"),
            std::string::npos)
      << huge;
  const auto more = npy_error(npy_with("{'descr': '|u1', 'fortran_order': False, 'shape': (100000, 100000), }", "xy"));
  EXPECT_NE(more.find("more than the file holds"), std::string::npos) << more;
  const auto digits =
      npy_error(npy_with("{'descr': '|u1', 'fortran_order': False, 'shape': (99999999999999999999999,), }", "xy"));
  EXPECT_NE(digits.find("fuzzed.npy"), std::string::npos) << digits;
}

TEST(Npz, EmptyArraysRead) {
  const auto t = io::npz::parse_npy(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", ""), "e");
  EXPECT_EQ(t.sizes(), torch::IntArrayRef({0, 3}));
}

TEST(Npz, RoundTripKeepsDtypesShapesAndValues) {
  auto dir = test::temp_dir("npz");
  io::npz::ArrayMap in = {{"mu", torch::randn({7}, torch::kDouble)},
                          {"sigma", torch::randn({7, 7}, torch::kDouble)},
                          {"f32", torch::randn({2, 3, 4})},
                          {"u8", torch::randint(0, 255, {5, 4, 4, 3}).to(torch::kByte)},
                          {"i64", torch::arange(10)},
                          {"scalar", torch::tensor(3.5, torch::kDouble)}};
  io::npz::write_npz(dir + "/a.npz", in);
  auto out = io::npz::read_npz(dir + "/a.npz");
  ASSERT_EQ(out.size(), in.size());
  for (const auto& [k, v] : in) {
    ASSERT_TRUE(out.count(k)) << k;
    EXPECT_EQ(out[k].scalar_type(), v.scalar_type()) << k;
    EXPECT_EQ(out[k].sizes(), v.sizes()) << k;
    EXPECT_TRUE(torch::equal(out[k], v)) << k;
  }
}

TEST(Npz, RejectsTruncatedAndNonZipFiles) {
  auto dir = test::temp_dir("npz");
  io::npz::write_npz(dir + "/a.npz", {{"mu", torch::zeros({2048}, torch::kDouble)}});
  std::string bytes = read_file(dir + "/a.npz");
  write_file_atomic(dir + "/cut.npz", bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW(io::npz::read_npz(dir + "/cut.npz"), Error);
  write_file_atomic(dir + "/text.npz", "hello");
  EXPECT_THROW(io::npz::read_npz(dir + "/text.npz"), Error);
}

// Files from numpy's np.savez (zip64 local headers) and np.savez_compressed (deflate), a Fortran-order
// array and a float32 one; and numpy reading what we wrote.
TEST(Npz, CompatibleWithNumpy) {
  const std::string py = test::python();
  SCORCH_REQUIRE_PREREQUISITE(!py.empty() && test::run(py + " -c 'import numpy'").code == 0, "no Python with numpy");
  auto dir = test::temp_dir("npz");
  auto r = test::run(py +
                     " -c \"\nimport numpy as np\nx = np.arange(12, dtype=np.float64).reshape(3, 4) / 7\n"
                     "np.savez('" +
                     dir +
                     "/plain.npz', mu=x[0], sigma=x, f=np.asfortranarray(x), s=x.astype(np.float32))\n"
                     "np.savez_compressed('" +
                     dir + "/zipped.npz', mu=x[0], sigma=x)\n\"");
  ASSERT_EQ(r.code, 0) << r.output;
  auto expect = (torch::arange(12, torch::kDouble).reshape({3, 4}) / 7);
  for (const char* name : {"plain", "zipped"}) {
    auto a = io::npz::read_npz(dir + "/" + name + ".npz");
    EXPECT_TRUE(torch::equal(a.at("sigma"), expect)) << name;
    EXPECT_TRUE(torch::equal(a.at("mu"), expect[0])) << name;
  }
  auto plain = io::npz::read_npz(dir + "/plain.npz");
  EXPECT_TRUE(torch::equal(plain.at("f"), expect));
  EXPECT_TRUE(torch::equal(plain.at("s"), expect.to(torch::kFloat)));

  io::npz::write_npz(dir + "/ours.npz", {{"mu", expect[1]}, {"sigma", expect}});
  r = test::run(py + " -c \"\nimport numpy as np\nd = np.load('" + dir +
                "/ours.npz')\n"
                "x = np.arange(12, dtype=np.float64).reshape(3, 4) / 7\n"
                "assert sorted(d.files) == ['mu', 'sigma'], d.files\n"
                "assert d['sigma'].dtype == np.float64 and (d['sigma'] == x).all() and (d['mu'] == x[1]).all()\n\"");
  EXPECT_EQ(r.code, 0) << r.output;
}

}  // namespace
}  // namespace scorch
