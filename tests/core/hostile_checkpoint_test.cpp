// Hostile checkpoints (docs/reliability.md): pickles that would run code in Python, views past their storage,
// compressed and forged zip members, odd member names, and forged safetensors and npz headers are refused
// with a message naming the file, without running or writing anything.
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/npz.h"
#include "core/io/safetensors.h"
#include "core/io/torch_file.h"
#include "core/io/torch_pickle.h"
#include "support/run.h"

namespace scorch {
namespace hostile {

namespace fs = std::filesystem;

// Pickle opcodes (protocol 2), spelled out so each test reads as the program Python would run.
std::string proto() { return std::string("\x80\x02", 2); }
std::string global(const std::string& module, const std::string& name) { return "c" + module + "\n" + name + "\n"; }
std::string str(const std::string& s) {
  std::string out = "X";
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((s.size() >> (8 * i)) & 0xff));
  return out + s;
}
std::string int1(int v) { return std::string("K") + static_cast<char>(v); }
const std::string kTuple1 = "\x85", kReduce = "R", kStop = ".", kMark = "(", kTuple = "t", kEmptyTuple = ")";

// callable(arg) as a pickle expression.
std::string call1(const std::string& module, const std::string& name, const std::string& arg) {
  return global(module, name) + str(arg) + kTuple1 + kReduce;
}

// A torch.save-style zip archive with the given records (data.pkl, data/0, ...).
std::string write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& records,
                      bool compress = false) {
  std::string bytes;
  {
    caffe2::serialize::PyTorchStreamWriter w([&](const void* p, size_t n) {
      bytes.append(static_cast<const char*>(p), n);
      return n;
    });
    for (const auto& [name, data] : records) w.writeRecord(name, data.data(), data.size(), compress);
    w.writeEndOfFile();
  }
  write_file_atomic(path, bytes);
  return path;
}

std::string refusal(const std::function<void()>& load) {
  try {
    load();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a scorch::Error: ") + e.what();
  }
  return "accepted";
}

TEST(HostileCheckpoint, PicklesThatWouldRunCodeAreRefusedNamingTheCallable) {
  const auto dir = test::temp_dir("hostile");
  const std::string marker = dir + "/PWNED";
  const std::vector<std::pair<std::string, std::string>> calls = {
      {"os", "system"},        {"posix", "system"},     {"builtins", "eval"},    {"builtins", "exec"},
      {"subprocess", "Popen"}, {"builtins", "getattr"}, {"__builtin__", "eval"}, {"torch", "load"},
      {"numpy", "load"},       {"shutil", "rmtree"}};
  for (const auto& [module, name] : calls) {
    const std::string program = proto() + call1(module, name, "touch " + marker) + kStop;
    write_zip(dir + "/h.pth", {{"data.pkl", program}, {"byteorder", "little"}});
    const auto why = refusal([&] { io::read_torch_file(dir + "/h.pth"); });
    EXPECT_NE(why.find(module + "." + name), std::string::npos) << why;
    EXPECT_NE(why.find("h.pth"), std::string::npos) << why;
    EXPECT_NE(why.find("refuses"), std::string::npos) << why;
  }
  // Nested inside a state dict, as a hostile value among real ones.
  const std::string nested = proto() + global("collections", "OrderedDict") + kEmptyTuple + kReduce + str("w") +
                             call1("os", "system", "touch " + marker) + "s" + kStop;
  write_zip(dir + "/nested.pth", {{"data.pkl", nested}, {"byteorder", "little"}});
  EXPECT_NE(refusal([&] { io::read_torch_file(dir + "/nested.pth"); }).find("os.system"), std::string::npos);
  // A __reduce__ whose callable is itself the result of a call (not a plain global) is refused too.
  const std::string chained =
      proto() + global("collections", "OrderedDict") + kEmptyTuple + kReduce + kEmptyTuple + kReduce + kStop;
  size_t pos = 0;
  EXPECT_NE(refusal([&] { io::py::unpickle(chained, &pos, nullptr, "chained"); }).find("REDUCE on a"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(marker));
}

// ('storage', torch.FloatStorage, '0', 'cpu', numel) as a persistent id, then a view of it.
std::string tensor_view(int numel, int offset, int size) {
  const std::string pid =
      kMark + str("storage") + global("torch", "FloatStorage") + str("0") + str("cpu") + int1(numel) + kTuple + "Q";
  return proto() + global("torch._utils", "_rebuild_tensor_v2") + kMark + pid + int1(offset) + int1(size) + kTuple1 +
         int1(1) + kTuple1 + "\x89" + global("collections", "OrderedDict") + kEmptyTuple + kReduce + kTuple + kReduce +
         kStop;
}

TEST(HostileCheckpoint, ViewsPastTheirStorageAndForgedStorageSizesAreRefused) {
  const auto dir = test::temp_dir("hostile");
  const std::string four_floats(16, '\0');
  write_zip(dir + "/ok.pth", {{"data.pkl", tensor_view(4, 0, 4)}, {"byteorder", "little"}, {"data/0", four_floats}});
  EXPECT_EQ(io::read_torch_file(dir + "/ok.pth").root->tensor.numel(), 4);
  write_zip(dir + "/past.pth",
            {{"data.pkl", tensor_view(4, 100, 4)}, {"byteorder", "little"}, {"data/0", four_floats}});
  const auto why = refusal([&] { io::read_torch_file(dir + "/past.pth"); });
  EXPECT_NE(why.find("reaches element"), std::string::npos) << why;
  EXPECT_NE(why.find("past.pth"), std::string::npos) << why;
  // A storage that claims more elements than its record holds.
  write_zip(dir + "/short.pth",
            {{"data.pkl", tensor_view(100, 0, 4)}, {"byteorder", "little"}, {"data/0", four_floats}});
  EXPECT_NE(refusal([&] { io::read_torch_file(dir + "/short.pth"); }).find("holds 16 bytes"), std::string::npos);
}

TEST(HostileCheckpoint, CompressedMembersLargerThanTheFileAreRefusedBeforeTheyAreInflated) {
  const auto dir = test::temp_dir("hostile");
  // A valid pickle followed by 20 MB of zeros (the unpickler stops at STOP), deflated to ~20 KB: data.pkl
  // claims 1000x the archive's size, and reading it would allocate all of it.
  const std::string pkl = tensor_view(4, 0, 4) + std::string(20'000'000, '\0');
  write_zip(dir + "/bomb.pth", {{"data.pkl", pkl}, {"byteorder", "little"}, {"data/0", std::string(16, '\0')}}, true);
  ASSERT_LT(fs::file_size(dir + "/bomb.pth"), 1'000'000u);
  const auto why = refusal([&] { io::read_torch_file(dir + "/bomb.pth"); });
  EXPECT_NE(why.find("more than the whole file"), std::string::npos) << why;
  EXPECT_NE(why.find("bomb.pth"), std::string::npos) << why;
}

TEST(HostileCheckpoint, MemberNamesThatClimbOutOfTheArchiveAreNeverWritten) {
  const auto dir = test::temp_dir("hostile");
  fs::create_directories(dir + "/inner");
  write_zip(dir + "/inner/names.pth", {{"data.pkl", tensor_view(4, 0, 4)},
                                       {"byteorder", "little"},
                                       {"data/0", std::string(16, '\0')},
                                       {"../../escaped", "x"},
                                       {"/tmp/absolute-escape", "x"}});
  EXPECT_EQ(io::read_torch_file(dir + "/inner/names.pth").root->tensor.numel(), 4);
  EXPECT_FALSE(fs::exists(dir + "/escaped"));
  EXPECT_FALSE(fs::exists(dir + "/inner/escaped"));
  EXPECT_FALSE(fs::exists("/tmp/absolute-escape"));
}

// A safetensors file from a header text and a data section.
std::string safetensors(const std::string& path, const std::string& header, size_t data_bytes) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  write_file_atomic(path, out + header + std::string(data_bytes, '\0'));
  return path;
}

TEST(HostileCheckpoint, SafetensorsHeadersThatOverlapLeaveHolesOrOverflowAreRefused) {
  const auto dir = test::temp_dir("hostile");
  auto why = [&](const std::string& header, size_t data) {
    return refusal([&] { io::read_safetensors(safetensors(dir + "/t.safetensors", header, data)); });
  };
  EXPECT_EQ(
      why(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
          16),
      "accepted");
  auto overlap = why(
      R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
      16);
  EXPECT_NE(overlap.find("overlap"), std::string::npos) << overlap;
  EXPECT_NE(overlap.find("t.safetensors"), std::string::npos) << overlap;
  // The same 16 bytes under a thousand names would be a thousand allocations from one small file.
  std::string many = "{";
  for (int i = 0; i < 1000; ++i)
    many += (i ? "," : "") + std::string("\"t") + std::to_string(i) +
            R"(":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})";
  EXPECT_NE(why(many + "}", 16).find("overlap"), std::string::npos);
  auto hole = why(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16);
  EXPECT_NE(hole.find("unused bytes"), std::string::npos) << hole;
  auto tail = why(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 16);
  EXPECT_NE(tail.find("after its last tensor"), std::string::npos) << tail;
  // 2^32 x 2^32 elements wrap a 64-bit product to 0: refused, not read as an empty tensor.
  auto wrap = why(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0);
  EXPECT_NE(wrap.find("needs more than the file holds"), std::string::npos) << wrap;
  auto range = why(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}})", 8);
  EXPECT_NE(range.find("truncated"), std::string::npos) << range;
  // Dimensions and offsets that are not integers in range: named, not cast.
  auto huge = why(R"({"a":{"dtype":"F32","shape":[1e300],"data_offsets":[0,8]}})", 8);
  EXPECT_NE(huge.find("tensor 'a' shape is 1e+300"), std::string::npos) << huge;
  auto negative = why(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,8]}})", 8);
  EXPECT_NE(negative.find("data_offsets is -8"), std::string::npos) << negative;
}

TEST(HostileCheckpoint, NpzMembersClaimingMoreThanDeflateCanProduceAreRefused) {
  const auto dir = test::temp_dir("hostile");
  io::npz::write_npz(dir + "/a.npz", {{"mu", torch::zeros({4}, torch::kFloat64)}});
  std::string b = read_file(dir + "/a.npz");
  // Mark the stored member deflated and claim 4 GB uncompressed in its central-directory entry.
  const size_t cd = b.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(cd, std::string::npos);
  b[cd + 10] = 8;
  b[cd + 11] = 0;
  for (int i = 0; i < 4; ++i) b[cd + 24 + i] = '\xff';
  b[cd + 24] = '\xfe';
  write_file_atomic(dir + "/bomb.npz", b);
  const auto why = refusal([&] { io::npz::read_npz(dir + "/bomb.npz"); });
  EXPECT_NE(why.find("more than deflate can produce"), std::string::npos) << why;
  EXPECT_NE(why.find("bomb.npz"), std::string::npos) << why;
}

// Found by tests/fuzz (pickle): a list that holds itself (DUP then APPEND, or the memo) is a reference
// cycle that was never freed; it is refused. Fuzzed pickles could also nest values a million deep (their
// destruction recursed once per level) and, through shared references, describe 2^40 paths.
TEST(HostileCheckpoint, PicklesThatHoldThemselvesOrNestWithoutEndAreHandled) {
  const auto read = [](const std::string& program) {
    size_t pos = 0;
    return io::py::unpickle(proto() + program, &pos, nullptr, "fuzzed.pkl");
  };
  const std::string kEmptyList = "]", kDup = "2", kAppend = "a", kMemoize = "\x94", kMemoGet0("h\x00", 2);
  for (const auto& program : {kEmptyList + kDup + kAppend + kStop, kEmptyList + kMemoize + kMemoGet0 + kAppend + kStop,
                              kEmptyList + kMemoize + kEmptyList + kMemoize + kMemoGet0 + kAppend + kAppend + kStop}) {
    const auto why = refusal([&] { read(program); });
    EXPECT_NE(why.find("fuzzed.pkl"), std::string::npos) << why;
    EXPECT_NE(why.find("contains itself"), std::string::npos) << why;
  }

  const int kDeep = 1000000;
  std::string deep = kEmptyList;
  for (int i = 0; i < kDeep; ++i) deep += kTuple1;
  auto root = read(deep + kStop);
  EXPECT_EQ(root->repr(), "(((((...),),),),)");  // four levels, then elided
  EXPECT_NE(refusal([&] { io::py::leaves(root, "deep.pkl"); }).find("deep.pkl: values nested deeper than 64"),
            std::string::npos);
  root.reset();  // a million nested tuples freed without a million nested destructor calls

  std::string wide = kEmptyList;
  for (int i = 0; i < 40; ++i) wide += kDup + "\x86";  // (t, t) of the one before: 2^40 paths, 41 values
  root = read(wide + kStop);
  EXPECT_NE(refusal([&] { io::py::leaves(root, "wide.pkl"); }).find("wide.pkl: more than 262144 values"),
            std::string::npos);
}

}  // namespace hostile
}  // namespace scorch
