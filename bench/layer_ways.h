// The harness the layer benches share: a layer's forward + backward four ways (LibTorch or scorch's kernel, on
// NCHW or channels_last), each validated against LibTorch on NCHW, warmed up, timed (on CUDA replayed from a
// graph), one JSON row per way.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"

#if SCORCH_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "core/cuda_graph_capture.h"
#endif

namespace scorch::bench {

struct Way {
  const char* name;
  bool fused, channels_last;
};
inline constexpr Way kWays[] = {{"libtorch_nchw", false, false},
                                {"libtorch_channels_last", false, true},
                                {"scorch_nchw", true, false},
                                {"scorch_channels_last", true, true}};

// What one forward and backward gives: the output and the input's gradient.
struct Pass {
  torch::Tensor y, dx;
};
// Makes a way's inputs (in its layout) and returns its step; the step clears the leaves' gradients itself.
using Prepare = std::function<std::function<Pass()>(const Way&)>;

// Milliseconds per step, and how they were timed. On CUDA the step is captured once as a CUDA graph and
// replayed, as the trainer replays its whole step: eager steps at small shapes time the host's dispatch of
// their kernels, not the kernels (on the H200 a 32² GroupNorm took as long in fp32 as in bf16, and a case of
// half the data no less). Eager where the capture fails, or on the CPU.
struct StepTime {
  double ms = 0;
  std::string how;  // "graph" or "eager"
};

inline StepTime time_step(const torch::Device& device, int64_t repeats, const std::function<Pass()>& step) {
  const auto per_step = [&](const std::function<void()>& run) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < repeats; ++i) run();
    if (device.is_cuda()) torch::cuda::synchronize();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
           static_cast<double>(repeats);
  };
#if SCORCH_WITH_CUDA
  if (device.is_cuda()) {
    const auto index = device.index();
    auto side = c10::cuda::getStreamFromPool(false, index);
    c10::cuda::getCurrentCUDAStream(index).synchronize();
    CudaGraph graph;
    std::string failure;
    {
      c10::cuda::CUDAStreamGuard guard(side);
      step();  // the side stream's first step outside the capture (the autograd engine's stream bookkeeping)
      side.synchronize();
      failure = capture_cuda_graph(graph, [&] { step(); });
    }
    if (failure.empty()) {
      graph.replay();
      torch::cuda::synchronize();
      return {per_step([&] { graph.replay(); }), "graph"};
    }
    std::fprintf(stderr, "capturing the step as a CUDA graph failed (%s): timing eager steps\n", failure.c_str());
  }
#endif
  return {per_step([&] { step(); }), "eager"};
}

inline double max_rel(const torch::Tensor& got, const torch::Tensor& want) {
  const auto g = got.to(torch::kFloat64), w = want.to(torch::kFloat64);
  return ((g - w).abs().max() / w.abs().max().clamp_min(1e-30)).item<double>();
}

// `row` holds the fields every way's row shares (bench, shape, dtype...), `what` names the case in a validation
// error; `traffic_key` gets `traffic_bytes` per timed step in GB/s.
inline void compare_ways(const torch::Device& device, int64_t repeats, double tol, const std::string& what,
                         const nlohmann::json& row, const std::string& traffic_key, double traffic_bytes,
                         const Prepare& prepare) {
  const auto synchronize = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  Pass want;
  StepTime libtorch[2];  // per layout: NCHW, channels_last
  for (const auto& way : kWays) {
    const auto step = prepare(way);
    const auto first = step();
    double err_y = 0, err_dx = 0;
    if (&way == &kWays[0]) {
      want = {first.y.detach().clone(), first.dx.clone()};
    } else {
      err_y = max_rel(first.y, want.y);
      err_dx = max_rel(first.dx, want.dx);
      SCORCH_CHECK(err_y <= tol && err_dx <= tol,
                   "validation: {} {}: output off by {:g}, input gradient by {:g} (relative to the largest value; "
                   "tolerance {:g})",
                   way.name, what, err_y, err_dx, tol);
    }
    for (int i = 0; i < 2; ++i) step();
    synchronize();
    const auto timed = time_step(device, repeats, step);
    const double ms = timed.ms;
    if (!way.fused) libtorch[way.channels_last] = timed;
    auto out = row;
    out["way"] = way.name;
    out["device"] = device.str();
    out["timing"] = timed.how;
    out["ms_forward_backward"] = ms;
    out[traffic_key] = traffic_bytes / ms / 1e6;
    out["max_rel_err_y"] = err_y;
    out["max_rel_err_dx"] = err_dx;
    // Speed-ups only between steps timed alike (a graph's replays against eager steps would mislead).
    const auto& same = libtorch[way.channels_last];
    if (way.fused && same.how == timed.how) out["speedup_vs_libtorch_same_layout"] = same.ms / ms;
    if (way.fused && way.channels_last && libtorch[0].how == timed.how)
      out["speedup_vs_libtorch_nchw"] = libtorch[0].ms / ms;
    std::printf("%s\n", out.dump().c_str());
    std::fflush(stdout);
  }
}

// What every layer bench takes: DEVICE DTYPE REPEATS [shape]..., DTYPE fp32 or bf16, with `suffix` appended or not
// (group_norm_bench's "+silu").
struct LayerArgs {
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat32;
  bool suffixed = false;  // DTYPE ended in the suffix
  int64_t repeats = 0;
  std::vector<std::string> shapes;  // as written, for the bench to parse
};

inline LayerArgs parse_layer_args(int argc, char** argv, const std::string& usage, const std::string& suffix = "") {
  SCORCH_CHECK(argc >= 4, "usage: {}", usage);
  LayerArgs a;
  a.device = torch::Device(argv[1]);
  std::string dtype = argv[2];
  a.suffixed = !suffix.empty() && dtype.size() > suffix.size() &&
               dtype.compare(dtype.size() - suffix.size(), suffix.size(), suffix) == 0;
  if (a.suffixed) dtype.resize(dtype.size() - suffix.size());
  SCORCH_CHECK(dtype == "fp32" || dtype == "bf16", "DTYPE '{}': expected fp32 or bf16{}", argv[2],
               suffix.empty() ? "" : ", with " + suffix + " or not");
  a.dtype = dtype == "fp32" ? torch::kFloat32 : torch::kBFloat16;
  a.repeats = std::stoll(argv[3]);
  SCORCH_CHECK(a.repeats >= 1, "REPEATS {}: expected at least 1", a.repeats);
  a.shapes.assign(argv + 4, argv + argc);
  return a;
}

// An (N, C, H, W) activation shape.
struct Nchw {
  int64_t n, c, h, w;
};

// "N,C,H,W" arguments with positive sizes; none gives the residual blocks' activations of NCSN++ at 32² (cifar10,
// batch 128: 128 and 256 channels) and at 256² (celebahq, batch 32).
inline std::vector<Nchw> parse_nchw_shapes(const std::vector<std::string>& texts) {
  if (texts.empty()) return {{128, 128, 32, 32}, {128, 256, 16, 16}, {32, 128, 256, 256}, {32, 256, 64, 64}};
  std::vector<Nchw> shapes;
  for (const auto& text : texts) {
    Nchw s{};
    SCORCH_CHECK(std::sscanf(text.c_str(), "%ld,%ld,%ld,%ld", &s.n, &s.c, &s.h, &s.w) == 4 && s.n > 0 && s.c > 0 &&
                     s.h > 0 && s.w > 0,
                 "shape '{}': expected N,C,H,W with positive sizes", text);
    shapes.push_back(s);
  }
  return shapes;
}

}  // namespace scorch::bench
