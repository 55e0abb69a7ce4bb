// Loader throughput (read + flip + float conversion, 1 and 2 reader threads) against the raw pread rate of
// the same bytes in the same order, at 32², 256² and 1024². Validates the loader's output first.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "core/dist/communicator.h"
#include "core/dist/process.h"
#include "data/loader.h"
#include "data/pack.h"

namespace {

using namespace scorch;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Case {
  int side;
  int64_t count, batch, batches;
};

// Raw rate: pread of every item of `batches` global batches, in the sampler's order, one thread.
double raw_rate(const data::Dataset& ds, const Case& c) {
  data::DistributedSampler sampler(ds.size(), c.batch, 1, 0, 1);
  std::vector<uint8_t> buf(ds.item_bytes());
  const auto t0 = Clock::now();
  for (int64_t b = 0; b < c.batches; ++b)
    for (int64_t i : sampler.next()) {
      const auto [s, local] = ds.locate(i);
      const auto& shard = ds.shard(s);
      if (::pread(shard.fd(), buf.data(), buf.size(), shard.offset(local)) != static_cast<ssize_t>(buf.size())) {
        std::fprintf(stderr, "raw read failed\n");
        std::exit(1);
      }
    }
  return c.batches * c.batch / seconds_since(t0);
}

double loader_rate(std::shared_ptr<const data::Dataset> ds, const Case& c, int threads) {
  data::LoaderOptions o;
  o.global_batch = c.batch, o.seed = 1, o.reader_threads = threads, o.prefetch_batches = 4;
  o.transform.random_flip = true;
  data::Loader loader(ds, o);
  loader.next();  // start-up (threads, first batch) is not steady state
  const auto t0 = Clock::now();
  for (int64_t b = 0; b < c.batches; ++b) loader.next();
  return c.batches * c.batch / seconds_since(t0);
}

bool validate(std::shared_ptr<const data::Dataset> ds, const Case& c) {
  data::LoaderOptions o;
  o.global_batch = c.batch, o.seed = 1, o.reader_threads = 2;
  data::Loader loader(ds, o);
  const auto batch = loader.next();
  std::vector<int64_t> idx(batch.indices.data_ptr<int64_t>(), batch.indices.data_ptr<int64_t>() + c.batch);
  const auto expect = ds->read_items(idx).permute({0, 3, 1, 2}).to(torch::kFloat32) * (1.0f / 255.0f);
  return torch::equal(batch.images, expect);
}

}  // namespace

int main(int argc, char** argv) {
  dist::init(&argc, &argv);
  auto comm = dist::make_communicator("local", torch::Device(torch::kCPU));
  const std::string root = (std::filesystem::temp_directory_path() / "scorch-data-bench").string();
  const std::vector<Case> cases{{32, 32768, 128, 200}, {256, 1024, 32, 60}, {1024, 96, 4, 40}};
  std::printf("%-6s %-8s %14s %14s %12s %10s\n", "size", "threads", "loader img/s", "raw img/s", "loader/raw", "MB/s");
  for (const auto& c : cases) {
    const std::string dir = root + "/" + std::to_string(c.side);
    auto gen = at::detail::createCPUGenerator(c.side);
    data::ArraySource src(torch::randint(0, 256, {c.count, c.side, c.side, 3}, gen, torch::kInt64).to(torch::kUInt8),
                          torch::Tensor(), {{"type", "bench"}});
    data::pack_source(src, "bench", {dir, 0, true}, *comm);
    auto ds = std::make_shared<const data::Dataset>(dir);
    if (!validate(ds, c)) {
      std::printf("%d: loader output differs from the shard bytes\n", c.side);
      return 1;
    }
    raw_rate(*ds, c);  // warm the page cache: both rates are hot-cache rates
    const double raw = raw_rate(*ds, c);
    for (int threads : {1, 2}) {
      const double rate = loader_rate(ds, c, threads);
      std::printf("%-6s %-8d %14.0f %14.0f %12.2f %10.0f\n", (std::to_string(c.side) + "^2").c_str(), threads, rate,
                  raw, rate / raw, rate * ds->item_bytes() / 1e6);
    }
    std::filesystem::remove_all(dir);
  }
  dist::finalize();
  return 0;
}
