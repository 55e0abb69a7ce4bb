// The input file, the refusal rule and the byte-touching of tests/fuzz (fuzz_support.h).
#include "fuzz_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.h"

namespace scorch::fuzz {
namespace {

std::string g_dir;

void remove_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(g_dir, ignored);
}

}  // namespace

std::string input_file(const uint8_t* data, size_t size, const std::string& name) {
  if (g_dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    g_dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/scorch-fuzz-" + std::to_string(getpid());
    std::filesystem::create_directories(g_dir);
    std::atexit(remove_dir);
  }
  const std::string path = g_dir + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write the input to %s\n", path.c_str());
    std::abort();
  }
  return path;
}

void refuse_only_by_name(const std::string& name, const std::function<void()>& read) {
  try {
    read();
  } catch (const Error& e) {
    if (std::string(e.what()).find(name) != std::string::npos) return;
    std::fprintf(stderr, "fuzz: a refusal that does not name '%s':\n%s\n", name.c_str(), e.what());
    std::abort();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: '%s' escaped as a non-scorch exception:\n%s\n", name.c_str(), e.what());
    std::abort();
  }
}

void touch(const void* bytes, size_t size) {
  static std::vector<char> sink;
  sink.resize(size);
  if (size) std::memcpy(sink.data(), bytes, size);
}

void touch(const torch::Tensor& t) {
  if (!t.defined()) return;
  const auto c = t.contiguous();
  touch(c.data_ptr(), c.nbytes());
}

void touch(const io::py::Ref& root, const std::string& what) {
  for (const auto& [path, leaf] : io::py::leaves(root, what)) {
    (void)leaf->repr();
    if (leaf->kind == io::py::Kind::Tensor || leaf->kind == io::py::Kind::Storage) touch(leaf->tensor);
  }
}

void touch(const data::Source& source) {
  (void)source.describe().dump();
  int64_t bytes = 1;
  for (const int64_t d : source.shape()) bytes *= d;
  std::vector<uint8_t> item(static_cast<size_t>(bytes));
  for (int64_t i = 0; i < source.count(); ++i) {
    source.read(i, item.data());
    if (source.has_labels()) (void)source.label(i);
  }
}

}  // namespace scorch::fuzz

// One thread: libFuzzer runs one input at a time, and intra-op threads only blur what a crash stack shows.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  return 0;
}
