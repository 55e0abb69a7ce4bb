// gpu_bench fid: Inception feature extraction speed in fp32 and tf32, after checking the device's features
// against the CPU's.
#include <limits>

#include "bench/gpu_bench/bench.h"
#include "core/dist/device.h"
#include "core/dist/mpi_comm.h"
#include "core/error.h"
#include "eval/extract.h"
#include "eval/inception_weights.h"

namespace scorch::gpu_bench {

namespace {

// N random 32x32 RGB images, read in batches as from a folder.
std::unique_ptr<eval::ImageSource> random_images(int64_t n) {
  return eval::tensor_image_source(torch::randint(0, 256, {n, 32, 32, 3}, torch::kUInt8),
                                   fmt::format("{} random images", n));
}

}  // namespace

int cmd_fid(Bench& b, int64_t n, int64_t batch) {
  torch::manual_seed(0);
  eval::InceptionV3 model;
  // Speed does not depend on the weights: the real ones when installed, else the random initialisation (the
  // GPU machine has none: 90 MB do not fit the kit).
  std::string weights = "random initialisation";
  try {
    const auto path = eval::default_weights_path();
    weights = eval::load_weights(model, path).identity;
  } catch (const Error&) {
  }
  dist::LocalCommunicator comm;
  eval::ExtractOptions o;
  o.batch_size = batch;
  o.keep_features = true;
  // Validation: the device's features of the first batch equal the CPU path's (fp32, TF32 off).
  dist::set_tf32(false);
  auto check = random_images(std::min<int64_t>(batch, 32));
  double rel = 0;
  if (b.device.is_cuda()) {
    auto cpu = eval::extract(*check, model, o, comm, comm).features;
    o.device = b.device;
    auto dev = eval::extract(*check, model, o, comm, comm).features;
    rel = ((dev - cpu).abs().max() / cpu.abs().max()).item<double>();
    SCORCH_CHECK(rel <= 1e-4, "validation: FID features on {} differ from the CPU's by {} (relative)", b.device.str(),
                 rel);
  }
  o.keep_features = false;
  auto images = random_images(n);
  auto warm = random_images(batch);
  for (const bool tf32 : {false, true}) {
    if (tf32 && !b.device.is_cuda()) continue;
    dist::set_tf32(tf32);
    // Warm-up at the timed batch size (cuDNN's plans are per shape and TF32 setting, and the allocator grows to
    // the batch), then the best of 3 passes, as the pytorch-fid reference times itself (pytorch_fid_ref.py).
    eval::extract(*warm, model, o, comm, comm);
    double s = std::numeric_limits<double>::infinity();
    for (int pass = 0; pass < 3; ++pass) {
      synchronize(b.device);
      const auto t = Clock::now();
      auto r = eval::extract(*images, model, o, comm, comm);
      synchronize(b.device);
      s = std::min(s, seconds_since(t));
      SCORCH_CHECK(r.stats.count == n, "validation: {} of {} images", r.stats.count, n);
    }
    emit({{"bench", "fid"},
          {"precision", tf32 ? "tf32" : "fp32"},
          {"images", n},
          {"batch", batch},
          {"images_per_s", n / s},
          {"seconds", s},
          {"weights", weights},
          {"validate_rel_diff_vs_cpu", rel}},
         b.device);
  }
  dist::set_tf32(false);
  return 0;
}

}  // namespace scorch::gpu_bench
