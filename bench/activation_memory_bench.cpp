// Activation memory by U-Net stage: per image, the bytes a training forward keeps for backward and the peak
// of forward + backward, with gradient checkpointing off, then from the widest stage down to each narrower
// one (model.grad_checkpointing_min_resolution), so each row's difference is one stage's share; with the
// step time and the images per 80 GB the peak projects. Validates first: every row's gradients equal the
// plain row's (1e-4 relative; recompute sums in another order under autocast). Exact on the CPU (the CPU
// memory meter), the caching allocator's counters on CUDA.
//
//   build/bin/activation_memory_bench [config.yaml] [batch] [key=value ...]
//   (training.precision=bf16 and training.channels_last=true as the trainer takes them; device=cuda)
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/autocast.h"
#include "core/config.h"
#include "core/cpu_memory_meter.h"
#include "core/dist/device.h"
#include "core/dist/process.h"
#include "core/error.h"
#include "core/host_memory.h"
#include "core/log.h"
#include "core/models/score_model.h"

#if SCORCH_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace {

using namespace scorch;

// Allocated bytes on the device the model runs on.
struct DeviceBytes {
  torch::Device device;

  int64_t current() const {
#if SCORCH_WITH_CUDA
    if (device.is_cuda())
      return c10::cuda::CUDACachingAllocator::getDeviceStats(device.index()).allocated_bytes[0].current;
#endif
    return CpuMemoryMeter::instance().current_bytes();
  }
  int64_t peak() const {
#if SCORCH_WITH_CUDA
    if (device.is_cuda())
      return c10::cuda::CUDACachingAllocator::getDeviceStats(device.index()).allocated_bytes[0].peak;
#endif
    return CpuMemoryMeter::instance().peak_bytes();
  }
  void reset_peak() const {
#if SCORCH_WITH_CUDA
    if (device.is_cuda()) {
      torch::cuda::synchronize();
      c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
      return;
    }
#endif
    CpuMemoryMeter::instance().reset_peak();
  }
  void sync() const {
    if (device.is_cuda()) torch::cuda::synchronize();
  }
};

struct Row {
  int64_t min_resolution = -1;  // -1: checkpointing off
  double kept_per_image = 0, peak_per_image = 0, fixed = 0, seconds = 0, grad_norm = 0;
  std::vector<torch::Tensor> grads;
};

constexpr double kMiB = 1024.0 * 1024.0;

Row measure(const Config& config, int64_t batch, int64_t min_resolution, const DeviceBytes& mem) {
  const auto precision = config.get_string("training.precision");
  const bool channels_last = switch_applies(config.get_switch("training.channels_last"), mem.device.is_cuda());
  const auto format = channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  torch::manual_seed(0);
  auto model = models::make_model(config);
  model->set_grad_checkpointing(min_resolution >= 0, std::max<int64_t>(min_resolution, 0));
  model->to(mem.device);
  if (channels_last) {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters())
      if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
  model->train();
  const int64_t size = config.get_int("data.image_size"), channels = config.get_int("data.num_channels");
  auto x = torch::rand({batch, channels, size, size}, torch::TensorOptions().device(mem.device)).contiguous(format);
  // σ = 1 for Fourier embeddings, timestep label 1 otherwise: a valid condition for every network.
  auto t = torch::ones({batch}, torch::TensorOptions().device(mem.device));
  const bool autocast = precision != "fp32";
  const auto dtype = precision == "fp16" ? at::kHalf : at::kBFloat16;
  auto forward_loss = [&] {
    AutocastGuard guard(mem.device.type(), autocast, dtype);
    return model->forward(x, t).to(torch::kFloat32).square().mean();  // forward (B, C, H, W)
  };
  forward_loss().backward();  // the gradients now exist: they belong to the fixed state, as in training
  for (auto& p : model->parameters())
    if (p.grad().defined()) p.mutable_grad().zero_();

  Row r;
  r.min_resolution = min_resolution;
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.nbytes();
  r.fixed = 5.0 * static_cast<double>(params);  // weights, gradients, Adam's two moments, EMA
  mem.sync();
  const int64_t before = mem.current();
  mem.reset_peak();
  const auto t0 = std::chrono::steady_clock::now();
  auto loss = forward_loss();
  mem.sync();
  r.kept_per_image = static_cast<double>(mem.current() - before) / static_cast<double>(batch);
  loss.backward();
  mem.sync();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.peak_per_image = static_cast<double>(mem.peak() - before) / static_cast<double>(batch);
  double sq = 0;
  for (const auto& p : model->parameters())
    if (p.grad().defined()) {
      r.grads.push_back(p.grad().to(torch::kCPU).clone());
      sq += p.grad().to(torch::kFloat64).square().sum().item<double>();
    }
  r.grad_norm = std::sqrt(sq);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_host_memory();
  dist::init(&argc, &argv);
  init_logging(0, "warn");
  const std::string config_path = argc > 1 ? argv[1] : "configs/ve/ffhq_ncsnpp_continuous.yaml";
  const int64_t batch = argc > 2 ? std::stoll(argv[2]) : 1;
  std::vector<std::string> extra(argv + std::min(argc, 3), argv + argc);
  int code = 0;
  try {
    const auto config = Config::resolve(config_path, extra);
    const DeviceBytes mem{dist::select_device(config.get_string("device"), 0)};
    if (!mem.device.is_cuda()) CpuMemoryMeter::instance();
    const int64_t size = config.get_int("data.image_size");
    const int64_t levels = static_cast<int64_t>(config.get_int_list("model.ch_mult").size());
    std::vector<Row> rows{measure(config, batch, -1, mem)};
    for (int64_t i = 0; i < levels; ++i) rows.push_back(measure(config, batch, size >> i, mem));
    for (const auto& r : rows) {
      SCORCH_CHECK(r.grads.size() == rows[0].grads.size(), "validation: {} gradients, plain run {}", r.grads.size(),
                   rows[0].grads.size());
      for (size_t k = 0; k < r.grads.size(); ++k) {
        const double diff = (r.grads[k] - rows[0].grads[k]).abs().max().item<double>();
        const double scale = rows[0].grads[k].abs().max().item<double>();
        SCORCH_CHECK(
            diff <= 1e-4 * scale + 1e-6 * rows[0].grad_norm,
            "validation: checkpointing from {} px: gradient {} differs from the plain run's by {:g} (max {:g})",
            r.min_resolution, k, diff, scale);
      }
    }
    const bool cuda = mem.device.is_cuda();
    const bool channels_last = switch_applies(config.get_switch("training.channels_last"), cuda);
    const bool fused_norm = switch_applies(config.get_switch("model.fused_group_norm"), cuda);
    std::printf("config %s, %s, %s%s%s, batch %lld; fixed state (weights, gradients, Adam, EMA) %.0f MiB\n",
                config_path.c_str(), mem.device.str().c_str(), config.get_string("training.precision").c_str(),
                channels_last ? " + channels_last" : "", fused_norm ? " + fused GroupNorm" : "",
                static_cast<long long>(batch), rows[0].fixed / kMiB);
    std::printf("%-26s %16s %16s %12s %10s %18s\n", "checkpointed", "kept MiB/image", "peak MiB/image", "stage share",
                "step s", "images per 80 GB");
    std::vector<nlohmann::json> json_rows;
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      const std::string what = r.min_resolution < 0 ? "off" : fmt::format("stages >= {} px", r.min_resolution);
      const std::string share =
          i == 0 ? "" : fmt::format("{:.1f}", (rows[i - 1].kept_per_image - r.kept_per_image) / kMiB);
      const double per_80gb = (80e9 - r.fixed) / r.peak_per_image;  // 80 GB as the A100/H100 cards count it
      std::printf("%-26s %16.1f %16.1f %12s %10.2f %18.1f\n", what.c_str(), r.kept_per_image / kMiB,
                  r.peak_per_image / kMiB, share.c_str(), r.seconds, per_80gb);
      json_rows.push_back({{"bench", "activation_memory"},
                           {"config", config_path},
                           {"batch", batch},
                           {"precision", config.get_string("training.precision")},
                           {"channels_last", channels_last},
                           {"fused_group_norm", fused_norm},
                           {"checkpointed_from_px", r.min_resolution},
                           {"kept_mib_per_image", r.kept_per_image / kMiB},
                           {"peak_mib_per_image", r.peak_per_image / kMiB},
                           {"step_s", r.seconds},
                           {"images_per_80gb", per_80gb}});
    }
    std::printf("stage share: MiB per image the row's newly checkpointed stage stops keeping\n");
    for (const auto& j : json_rows) std::printf("%s\n", j.dump().c_str());  // rows for the device kit's report
  } catch (const std::exception& e) {
    std::fprintf(stderr, "activation_memory_bench: %s\n", e.what());
    code = 1;
  }
  dist::finalize();
  return code;
}
