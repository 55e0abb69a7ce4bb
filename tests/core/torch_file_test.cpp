// torch.save files: scorch's reader on files Python torch wrote (zip and legacy), Python torch on files
// scorch wrote, round trips, and truncated or foreign files refused with the file named.
#include "core/io/torch_file.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/safetensors.h"
#include "support/checks.h"
#include "support/prerequisite.h"
#include "support/run.h"

namespace scorch {
namespace {

using test::contains;

namespace fs = std::filesystem;

std::string python_torch() {
  const auto py = test::python();
  if (py.empty() || test::run(py + " -c 'import torch, numpy'").code != 0) return "";
  return py;
}

std::string interop_script() { return test::source_dir() + "/tests/core/torch_pickle_interop.py"; }

io::py::Ref at(const io::py::Ref& d, const std::string& key) {
  auto v = d->get(key);
  if (!v) throw std::runtime_error("missing key " + key);
  return v;
}

torch::Tensor arange6(torch::ScalarType dtype) { return torch::arange(6).reshape({2, 3}).to(dtype); }
const torch::ScalarType kDtypes[] = {torch::kFloat64, torch::kFloat32, torch::kFloat16, torch::kBFloat16, torch::kInt64,
                                     torch::kInt32,   torch::kInt16,   torch::kInt8,    torch::kUInt8,    torch::kBool};
const char* kDtypeNames[] = {"float64", "float32", "float16", "bfloat16", "int64",
                             "int32",   "int16",   "int8",    "uint8",    "bool"};

// The object torch_pickle_interop.py `write` saves, checked value by value.
void expect_python_sample(const io::py::Ref& v) {
  ASSERT_TRUE(v->is_dict());
  const auto od = at(v, "od");
  EXPECT_TRUE(od->ordered);  // collections.OrderedDict survives (LibTorch's unpickler turns it into None)
  ASSERT_EQ(od->entries.size(), 2u);
  EXPECT_EQ(od->entries[0].first->s, "b");
  EXPECT_TRUE(torch::equal(at(od, "a")->tensor, torch::arange(12, torch::kFloat32).reshape({3, 4})));
  EXPECT_EQ(at(od, "b")->tensor.scalar_type(), torch::kFloat64);
  ASSERT_TRUE(od->state && od->state->is_dict());  // BUILD carried the _metadata attribute
  EXPECT_TRUE(od->state->get("_metadata"));

  const std::vector<int64_t> ints = {0,
                                     255,
                                     256,
                                     65535,
                                     65536,
                                     -1,
                                     -(int64_t{1} << 31),
                                     int64_t{1} << 31,
                                     int64_t{1} << 40,
                                     -(int64_t{1} << 40),
                                     int64_t{1} << 62};
  const auto iv = at(v, "ints");
  ASSERT_EQ(iv->items.size(), ints.size());
  for (size_t i = 0; i < ints.size(); ++i) EXPECT_EQ(iv->items[i]->i, ints[i]) << i;
  const auto fv = at(v, "floats");
  EXPECT_EQ(fv->kind, io::py::Kind::Tuple);
  EXPECT_EQ(fv->items[0]->f, 0.5);
  EXPECT_EQ(fv->items[1]->f, -1e300);
  EXPECT_EQ(at(v, "text")->s, "h\xc3\xa9llo");
  EXPECT_EQ(at(v, "none")->kind, io::py::Kind::None);
  EXPECT_TRUE(at(v, "flag")->b);
  EXPECT_EQ(at(v, "raw")->s, std::string("\x00\xff"
                                         "ab",
                                         4));
  const auto np = at(v, "np");  // numpy scalars (score_sde's warm-up learning rate is a numpy.float64)
  EXPECT_EQ(at(np, "f8")->f, 0.25);
  EXPECT_EQ(at(np, "f4")->f, 1.5);
  EXPECT_EQ(at(np, "i8")->i, -7);

  const auto dt = at(v, "dtypes");
  for (size_t i = 0; i < std::size(kDtypes); ++i) {
    const auto& t = at(dt, kDtypeNames[i])->tensor;
    EXPECT_EQ(t.scalar_type(), kDtypes[i]) << kDtypeNames[i];
    EXPECT_TRUE(torch::equal(t, arange6(kDtypes[i]))) << kDtypeNames[i];
  }
  // Views of one storage keep their offsets and strides.
  const auto views = at(v, "views");
  const auto base = torch::arange(12, torch::kFloat32).reshape({3, 4});
  EXPECT_TRUE(torch::equal(at(views, "row")->tensor, base[1]));
  EXPECT_TRUE(torch::equal(at(views, "transposed")->tensor, base.t()));
  EXPECT_TRUE(torch::equal(at(views, "strided")->tensor, base.slice(1, 0, 4, 2)));
  EXPECT_EQ(at(v, "scalar")->tensor.dim(), 0);
  EXPECT_EQ(at(v, "scalar")->tensor.item<float>(), 3.5f);
  EXPECT_EQ(at(v, "empty")->tensor.sizes(), (std::vector<int64_t>{0, 4}));

  // torch.optim.Adam's state_dict: int keys, a tensor step, tuples in param_groups.
  const auto adam = at(v, "adam");
  const auto s0 = at(adam, "state")->get(int64_t{0});
  ASSERT_TRUE(s0);
  EXPECT_EQ(at(s0, "step")->tensor.item<float>(), 1.0f);
  EXPECT_EQ(at(s0, "exp_avg")->tensor.sizes(), (std::vector<int64_t>{3, 2}));
  const auto group = at(adam, "param_groups")->items.at(0);
  EXPECT_EQ(at(group, "betas")->items.size(), 2u);
  EXPECT_EQ(at(group, "params")->items.size(), 2u);
  EXPECT_TRUE(torch::equal(at(at(v, "nested"), "list")->items.at(0)->get("x")->tensor, torch::ones(2)));
}

TEST(TorchFile, ReadsWhatPythonTorchWroteInBothFormats) {
  const auto py = python_torch();
  SCORCH_REQUIRE_PREREQUISITE(!py.empty(), "no Python with torch (SCORCH_PYTHON)");
  const auto dir = test::temp_dir("torch_file");
  auto r = test::run(py + " " + interop_script() + " write " + dir + "/zip.pth " + dir + "/legacy.pth");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(io::sniff_torch_file(dir + "/zip.pth"), io::TorchFileKind::Zip);
  EXPECT_EQ(io::sniff_torch_file(dir + "/legacy.pth"), io::TorchFileKind::Legacy);
  for (const char* name : {"zip.pth", "legacy.pth"}) {
    SCOPED_TRACE(name);
    expect_python_sample(io::read_torch_file(dir + "/" + name).root);
  }
}

io::py::Ref scorch_sample() {
  auto root = io::py::dict();
  auto od = io::py::dict(/*ordered=*/true);
  od->set(io::py::str("b"), io::py::tensor(torch::arange(3, torch::kFloat64)));
  od->set(io::py::str("a"), io::py::tensor(torch::arange(12, torch::kFloat32).reshape({3, 4})));
  root->set(io::py::str("od"), od);
  std::vector<io::py::Ref> ints;
  for (int64_t i : {int64_t{0}, int64_t{255}, int64_t{256}, int64_t{65535}, int64_t{65536}, int64_t{-1},
                    -(int64_t{1} << 31), int64_t{1} << 31, int64_t{1} << 40, -(int64_t{1} << 40), int64_t{1} << 62})
    ints.push_back(io::py::integer(i));
  root->set(io::py::str("ints"), io::py::list(ints));
  root->set(io::py::str("floats"), io::py::tuple({io::py::real(0.5), io::py::real(-1e300), io::py::real(3.25)}));
  root->set(io::py::str("text"), io::py::str("h\xc3\xa9llo"));
  root->set(io::py::str("none"), io::py::none());
  root->set(io::py::str("flag"), io::py::boolean(true));
  root->set(io::py::str("off"), io::py::boolean(false));
  auto plain = io::py::dict();
  plain->set(io::py::integer(3), io::py::str("x"));
  plain->set(io::py::integer(1), io::py::str("y"));
  root->set(io::py::str("plain"), plain);
  root->set(io::py::str("empty_list"), io::py::list({}));
  root->set(io::py::str("empty_tuple"), io::py::tuple({}));
  root->set(io::py::str("one"), io::py::tuple({io::py::integer(7)}));
  auto dt = io::py::dict();
  for (size_t i = 0; i < std::size(kDtypes); ++i)
    dt->set(io::py::str(kDtypeNames[i]), io::py::tensor(arange6(kDtypes[i])));
  root->set(io::py::str("dtypes"), dt);
  // Non-contiguous on write: stored contiguous, read back equal.
  root->set(io::py::str("transposed"), io::py::tensor(torch::arange(12, torch::kFloat32).reshape({3, 4}).t()));
  root->set(io::py::str("scalar"), io::py::tensor(torch::tensor(3.5f)));
  root->set(io::py::str("empty"), io::py::tensor(torch::zeros({0, 4})));
  return root;
}

TEST(TorchFile, PythonTorchLoadsWhatScorchWrote) {
  const auto py = python_torch();
  SCORCH_REQUIRE_PREREQUISITE(!py.empty(), "no Python with torch (SCORCH_PYTHON)");
  const auto path = test::temp_dir("torch_file") + "/scorch.pth";
  io::write_torch_file(path, scorch_sample());
  auto r = test::run(py + " " + interop_script() + " check " + path);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "OK")) << r.output;
}

TEST(TorchFile, RoundTripKeepsEveryValue) {
  const auto path = test::temp_dir("torch_file") + "/round.pth";
  const auto written = scorch_sample();
  io::write_torch_file(path, written);
  const auto back = io::read_torch_file(path);
  EXPECT_EQ(back.kind, io::TorchFileKind::Zip);
  const auto a = io::py::leaves(written, "written"), b = io::py::leaves(back.root, path);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(a[i].first);
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second->kind, b[i].second->kind);
    if (a[i].second->kind == io::py::Kind::Tensor) {
      EXPECT_EQ(a[i].second->tensor.scalar_type(), b[i].second->tensor.scalar_type());
      EXPECT_TRUE(torch::equal(a[i].second->tensor, b[i].second->tensor));
    } else {
      EXPECT_EQ(a[i].second->repr(), b[i].second->repr());
    }
  }
  EXPECT_TRUE(back.root->get("od")->ordered);
  EXPECT_FALSE(back.root->get("plain")->ordered);
}

void expect_refused(const std::string& path, const std::string& why) {
  try {
    io::read_torch_file(path);
    ADD_FAILURE() << path << " was read";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.message(), path)) << e.message();
    EXPECT_TRUE(contains(e.message(), why)) << e.message();
  }
}

TEST(TorchFile, TruncatedFilesAreRefusedNamingTheFile) {
  const auto dir = test::temp_dir("torch_file");
  std::vector<std::string> files = {dir + "/ours.pth"};
  io::write_torch_file(files[0], scorch_sample());
  const auto py = python_torch();
  if (!py.empty()) {
    ASSERT_EQ(test::run(py + " " + interop_script() + " write " + dir + "/zip.pth " + dir + "/legacy.pth").code, 0);
    files.push_back(dir + "/zip.pth");
    files.push_back(dir + "/legacy.pth");
  }
  for (const auto& file : files) {
    const std::string bytes = read_file(file);
    for (double frac : {0.02, 0.3, 0.7, 0.995}) {
      SCOPED_TRACE(file + " cut at " + std::to_string(frac));
      const auto cut = dir + "/cut.pth";
      const auto n = static_cast<size_t>(frac * static_cast<double>(bytes.size()));
      write_file_atomic(cut, bytes.substr(0, n));
      // Shorter than torch's 15-byte legacy magic number, a legacy file is not recognisable at all.
      expect_refused(cut, n < 15 && contains(file, "legacy") ? "not a torch.save file" : "truncated");
    }
  }
}

TEST(TorchFile, ForeignFilesAreRefused) {
  const auto dir = test::temp_dir("torch_file");
  write_file_atomic(dir + "/text.pth", "model: not a checkpoint\n");
  expect_refused(dir + "/text.pth", "not a torch.save file");
  write_file_atomic(dir + "/empty.pth", "");
  expect_refused(dir + "/empty.pth", "not a torch.save file");
  io::write_safetensors(dir + "/w.safetensors", {{"x", torch::ones(2)}});
  expect_refused(dir + "/w.safetensors", "not a torch.save file");
  write_file_atomic(dir + "/fake.zip", std::string("PK\x03\x04", 4) + std::string(100, 'x'));
  expect_refused(dir + "/fake.zip", "truncated or corrupt");
  // A legacy header followed by an opcode no torch.save pickle contains.
  write_file_atomic(dir + "/opcode.pth",
                    std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e", 15) +
                        "\x80\x02M\xe9\x03.\x80\x02\xff.");
  expect_refused(dir + "/opcode.pth", "unsupported pickle opcode 0xff");
}

}  // namespace
}  // namespace scorch
