// Pack sources: IDX (gzip), CIFAR-10 binaries, .npy/.npz and PNG folders round-trip bit-exactly.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/image_io.h"
#include "core/io/npz.h"
#include "data/dataset.h"
#include "data/folder_source.h"
#include "data_test_util.h"
#include "support/prerequisite.h"
#include "support/run.h"

namespace scorch::data {
namespace {

namespace fs = std::filesystem;

torch::Tensor random_u8(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randint(0, 256, shape, gen, torch::kInt64).to(torch::kUInt8);
}

void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

std::string idx_bytes(const torch::Tensor& t) {
  std::string b{0, 0, 8, static_cast<char>(t.dim())};
  for (auto d : t.sizes())
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<char>((d >> s) & 0xff));
  b.append(reinterpret_cast<const char*>(t.data_ptr<uint8_t>()), t.numel());
  return b;
}

// Packs `src`, reopens the dataset and compares every image (and label) with `images` / `labels`.
void expect_round_trip(const Source& src, const torch::Tensor& images, const torch::Tensor& labels) {
  const auto dir = test::temp_dir("rt");
  pack_source(src, "test", {dir, 7, false}, *test_util::local_comm());
  Dataset ds(dir);
  std::vector<int64_t> all(ds.size());
  for (int64_t i = 0; i < ds.size(); ++i) all[i] = i;
  EXPECT_TRUE(torch::equal(ds.read_items(all), images));
  if (labels.defined()) {
    EXPECT_TRUE(torch::equal(ds.read_labels(all), labels.to(torch::kInt64)));
  }
}

TEST(Sources, IdxGzipRoundTrip) {
  const auto dir = test::temp_dir("idx");
  const auto images = random_u8({17, 28, 28}, 1), labels = random_u8({17}, 2);
  write_gzip(dir + "/img-idx3-ubyte.gz", idx_bytes(images));
  write_file_atomic(dir + "/lbl-idx1-ubyte", idx_bytes(labels));  // plain, not gzipped
  auto src = open_idx(dir + "/img-idx3-ubyte.gz", dir + "/lbl-idx1-ubyte");
  expect_round_trip(*src, images.unsqueeze(3), labels);
}

// Found by tests/fuzz (idx): dimensions whose product overflowed int64, and an empty array with dimensions
// no tensor can have; both must be refused naming the file.
TEST(Sources, IdxHeadersClaimingImpossibleShapesAreNamed) {
  const auto dir = test::temp_dir("idx_fuzzed");
  const auto be = [](uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16 & 0xff), char(v >> 8 & 0xff), char(v & 0xff)};
  };
  const std::string magic("\x00\x00\x08\x03", 4);
  write_file_atomic(dir + "/big-idx3-ubyte", magic + be(0xffffffff) + be(0xffffffff) + be(0xffffffff) + "abc");
  write_file_atomic(dir + "/empty-idx3-ubyte", magic + be(0) + be(0xffffffff) + be(0xffffffff));
  for (const char* name : {"big-idx3-ubyte", "empty-idx3-ubyte"}) {
    try {
      open_idx(dir + "/" + name, "");
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
}

TEST(Sources, IdxTruncatedIsNamed) {
  const auto dir = test::temp_dir("idx_bad");
  auto bytes = idx_bytes(random_u8({3, 4, 4}, 1));
  write_file_atomic(dir + "/x-idx3-ubyte", bytes.substr(0, bytes.size() - 3));
  EXPECT_THROW(
      {
        try {
          open_idx(dir + "/x-idx3-ubyte", "");
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("x-idx3-ubyte"), std::string::npos);
          throw;
        }
      },
      Error);
}

TEST(Sources, Cifar10RoundTrip) {
  const auto dir = test::temp_dir("cifar");
  const auto images = random_u8({9, 32, 32, 3}, 3);
  std::string bytes;
  for (int i = 0; i < 9; ++i) {
    bytes.push_back(static_cast<char>(i % 10));
    auto planar = images[i].permute({2, 0, 1}).contiguous();  // R, G, B planes
    bytes.append(reinterpret_cast<const char*>(planar.data_ptr<uint8_t>()), 3072);
  }
  write_file_atomic(dir + "/data_batch_1.bin", bytes.substr(0, 5 * 3073));
  write_file_atomic(dir + "/data_batch_2.bin", bytes.substr(5 * 3073));
  expect_round_trip(*open_cifar10({dir}), images, torch::arange(9) % 10);
  write_file_atomic(dir + "/data_batch_3.bin", bytes.substr(0, 100));
  EXPECT_THROW(open_cifar10({dir}), Error);
}

TEST(Sources, NpyAndNpzRoundTrip) {
  const auto dir = test::temp_dir("npy");
  const auto images = random_u8({11, 6, 5, 3}, 4);
  write_file_atomic(dir + "/x.npy", io::npz::format_npy(images));
  expect_round_trip(*open_numpy(dir + "/x.npy", "images", "labels"), images, {});
  const auto labels = torch::arange(11);
  io::npz::write_npz(dir + "/x.npz", {{"images", images}, {"labels", labels}});
  expect_round_trip(*open_numpy(dir + "/x.npz", "images", "labels"), images, labels);
  write_file_atomic(dir + "/f.npy", io::npz::format_npy(torch::zeros({2, 3, 3})));
  EXPECT_THROW(open_numpy(dir + "/f.npy", "images", "labels"), Error);  // float32, not uint8
}

TEST(Sources, PngFolderRoundTripAndErrors) {
  const auto dir = test::temp_dir("folder");
  const auto images = random_u8({6, 9, 9, 3}, 5);
  fs::create_directories(dir + "/in/sub");
  for (int i = 0; i < 6; ++i) {
    io::Image im{9, 9, 3, std::vector<uint8_t>(images[i].data_ptr<uint8_t>(), images[i].data_ptr<uint8_t>() + 243)};
    io::write_png(dir + (i < 3 ? "/in/" : "/in/sub/") + fmt::format("{}.png", i), im);
  }
  auto comm = test_util::local_comm();
  // Sorted by relative path: 0.png 1.png 2.png sub/3.png …
  expect_round_trip(FolderSource(dir + "/in", {}, *comm), images, {});

  io::write_png(dir + "/in/big.png", io::Image{12, 10, 3, std::vector<uint8_t>(360, 7)});
  try {
    FolderSource(dir + "/in", {}, *comm);
    FAIL() << "mixed sizes accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--resolution"), std::string::npos) << e.what();
  }
  FolderSource resized(dir + "/in", {8, true, false}, *comm);
  EXPECT_EQ(resized.shape(), (std::vector<int64_t>{8, 8, 1}));

  write_file_atomic(dir + "/in/broken.png", "not a png at all");
  try {
    FolderSource(dir + "/in", {8, false, false}, *comm);
    FAIL() << "bad image accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.png"), std::string::npos) << e.what();
  }
  FolderSource skipping(dir + "/in", {8, false, true}, *comm);
  EXPECT_EQ(skipping.count(), 7);
  EXPECT_EQ(skipping.skipped(), std::vector<std::string>{"broken.png"});
}

// The classes are the root's folders, as ImageFolder takes them: a class folder without a usable image is an
// error naming it (it used to drop out and shift the labels of the classes after it).
TEST(Sources, ClassFoldersAreTheRootsFoldersAndNoneMayBeEmpty) {
  const auto dir = test::temp_dir("classes");
  const io::Image im{4, 4, 3, std::vector<uint8_t>(48, 9)};
  for (const char* c : {"a", "b", "c"}) fs::create_directories(dir + "/in/" + c);
  io::write_png(dir + "/in/a/0.png", im);
  io::write_png(dir + "/in/c/0.png", im);
  auto comm = test_util::local_comm();
  try {
    FolderSource(dir + "/in", {}, *comm);
    FAIL() << "an empty class folder was dropped";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("class folder(s) 'b' of '" + dir + "/in' hold no usable image"),
              std::string::npos)
        << e.what();
  }
  write_file_atomic(dir + "/in/b/0.png", "not a png");
  try {
    FolderSource(dir + "/in", {0, false, true}, *comm);
    FAIL() << "a class whose only image was skipped was dropped";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(after --skip-bad)"), std::string::npos) << e.what();
  }
  io::write_png(dir + "/in/b/1.png", im);
  FolderSource src(dir + "/in", {0, false, true}, *comm);
  EXPECT_EQ(src.classes(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(src.label(2), 2);  // c/0.png
}

// Names that are not UTF-8 (a Latin-1 class folder) and folders that loop through a symlink are named, not
// left to escape as nlohmann's or std::filesystem's exception; a Latin-1 --out still gets its manifest.
TEST(Sources, FolderNamesThatAreNotTextAndSymlinkLoopsAreNamed) {
  const auto dir = test::temp_dir("names");
  const io::Image im{4, 4, 3, std::vector<uint8_t>(48, 9)};
  fs::create_directories(dir + "/latin/caf\xe9");
  io::write_png(dir + "/latin/caf\xe9/0.png", im);
  auto comm = test_util::local_comm();
  expect_error([&] { FolderSource(dir + "/latin", {}, *comm); },
               {"the name \"caf\xef\xbf\xbd/0.png\" is not UTF-8", "rename it"});
  fs::create_directories(dir + "/loop");
  io::write_png(dir + "/loop/0.png", im);
  fs::create_directory_symlink(".", dir + "/loop/self");
  expect_error([&] { FolderSource(dir + "/loop", {}, *comm); }, {"image folder '" + dir + "/loop': cannot list"});
  fs::remove(dir + "/loop/self");
  pack_source(FolderSource(dir + "/loop", {}, *comm), "scorch data pack --out out\xff", {dir + "/out\xff", 0, false},
              *comm);
  EXPECT_EQ(Dataset(dir + "/out\xff").size(), 1);
}

TEST(Sources, FashionMnistFromDebian) {
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  SCORCH_REQUIRE_PREREQUISITE(fs::exists(root + "t10k-images-idx3-ubyte.gz"), "dataset-fashion-mnist not installed");
  auto src = open_idx(root + "t10k-images-idx3-ubyte.gz", root + "t10k-labels-idx1-ubyte.gz");
  ASSERT_EQ(src->count(), 10000);
  EXPECT_EQ(src->shape(), (std::vector<int64_t>{28, 28, 1}));
  const auto dir = test::temp_dir("fmnist");
  pack_source(*src, "test", {dir, 4096, false}, *test_util::local_comm());
  Dataset ds(dir);
  std::vector<uint8_t> a(784), b(784);
  for (int64_t i : {0, 4095, 4096, 9999}) {
    src->read(i, a.data());
    ds.read(i, b.data());
    EXPECT_EQ(a, b);
    EXPECT_EQ(ds.label(i), src->label(i));
  }
}

}  // namespace
}  // namespace scorch::data
