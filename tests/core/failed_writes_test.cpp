// Writers under a file-size limit (what a full disk or a quota does to them): each throws naming the file,
// leaves the file it was replacing byte for byte as it was, and leaves no temporary file behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/image_io.h"
#include "core/io/plot.h"
#include "core/io/safetensors.h"
#include "core/io/torch_file.h"
#include "support/file_size_limit.h"
#include "support/run.h"

namespace scorch {
namespace failed_writes {

namespace fs = std::filesystem;

// Writes `path` once without a limit, then again (bigger) under a 1 KiB cap: the second write must throw
// naming the file and leave the first one's bytes.
void expect_failed_write_keeps_the_old_file(const std::string& path, const std::function<void(bool big)>& write) {
  write(false);
  ASSERT_TRUE(fs::exists(path));
  const std::string before = read_file(path);
  {
    test::FileSizeLimit limit(1024);
    try {
      write(true);
      ADD_FAILURE() << path << ": a write past the file-size limit did not throw";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fs::path(path).filename().string()), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(read_file(path), before) << path << " changed";
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << "left behind: " << e.path();
}

TEST(FailedWrites, EveryWriterKeepsTheFileItWasReplacing) {
  const auto dir = test::temp_dir("failed_writes");
  expect_failed_write_keeps_the_old_file(
      dir + "/a.json", [&](bool big) { write_file_atomic(dir + "/a.json", std::string(big ? 100000 : 10, 'x')); });
  expect_failed_write_keeps_the_old_file(dir + "/b.png", [&](bool big) {
    // Noise does not compress: 64x64x3 random pixels are ~12 KB of PNG.
    io::Image img{64, 64, 3, {}};
    for (size_t i = 0; i < 64 * 64 * 3; ++i)
      img.pixels.push_back(static_cast<uint8_t>(big ? (i * 2654435761u) >> 13 : 0));
    if (!big) img = io::Image{1, 1, 3, {0, 0, 0}};
    io::write_png(dir + "/b.png", img);
  });
  expect_failed_write_keeps_the_old_file(dir + "/c.png", [&](bool big) {
    io::write_line_plot(dir + "/c.png", {io::PlotPanel{"loss", "step", {{"l", {0, 1}, {1, big ? 3.0 : 2.0}}}}},
                        big ? 800 : 200, big ? 600 : 100);
  });
  expect_failed_write_keeps_the_old_file(dir + "/d.safetensors", [&](bool big) {
    io::write_safetensors(dir + "/d.safetensors", {{"w", torch::ones({big ? 4096 : 4})}});
  });
  // LibTorch's zip writer throws again from its destructor once a record failed: that ended the process.
  expect_failed_write_keeps_the_old_file(dir + "/e.pth", [&](bool big) {
    auto state = io::py::dict();
    state->set(io::py::str("w"), io::py::tensor(torch::ones({big ? 4096 : 4})));
    io::write_torch_file(dir + "/e.pth", state);
  });
}

}  // namespace failed_writes
}  // namespace scorch
