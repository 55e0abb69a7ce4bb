// CUDA graph capture of the score network (compiled when SCORCH_WITH_CUDA; run by tests/cuda on a GPU).
#include "sampler/cuda_graph.h"

#include "core/autocast.h"
#include "core/error.h"

#if SCORCH_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <spdlog/spdlog.h>

#include "core/cuda_graph_capture.h"
#endif

#include <atomic>
#include <map>
#include <memory>

namespace scorch::sampler {

namespace {
std::atomic<int64_t> g_captured{0}, g_fell_back{0};
thread_local bool g_network_graphs_off = false;
}  // namespace

CudaGraphStats cuda_graph_stats() { return {g_captured.load(), g_fell_back.load()}; }

NetworkGraphsOff::NetworkGraphsOff() : was_off_(g_network_graphs_off) { g_network_graphs_off = true; }
NetworkGraphsOff::~NetworkGraphsOff() { g_network_graphs_off = was_off_; }

#if SCORCH_WITH_CUDA

namespace {

struct Captured {
  torch::Tensor x, labels, out;  // static buffers the graph reads and writes
  std::unique_ptr<CudaGraph> graph;
  bool eager = false;  // capture failed for this shape: run eager from now on
};

// With x's layout: the static input is a clone of the first x, so its layout is the graph's output's.
std::string key_of(const torch::Tensor& x, const torch::Tensor& labels) {
  return c10::str(x.sizes(), x.scalar_type(), x.suggest_memory_format(), labels.sizes(), labels.scalar_type(),
                  x.device());
}

Captured capture(const sdes::ModelFn& eager, const torch::Tensor& x, const torch::Tensor& labels) {
  Captured c;
  c.x = x.clone();
  c.labels = labels.clone();
  AutocastCacheOff no_cache;
  const auto index = x.device().index();
  auto current = c10::cuda::getCurrentCUDAStream(index);
  auto side = c10::cuda::getStreamFromPool(false, index);
  current.synchronize();  // the inputs were written on the current stream
  {
    c10::cuda::CUDAStreamGuard guard(side);
    // Warm-up runs let cuDNN pick its algorithms, fill lazily built constants (FIR kernels) and let the
    // allocator settle before capture.
    for (int i = 0; i < 3; ++i) eager(c.x, c.labels);
    side.synchronize();
    c.graph = std::make_unique<CudaGraph>();
    const auto failure = capture_cuda_graph(*c.graph, [&] { c.out = eager(c.x, c.labels); });
    SCORCH_CHECK(failure.empty(), "{}", failure);
  }
  side.synchronize();
  return c;
}

}  // namespace

sdes::ModelFn graphed(sdes::ModelFn eager) {
  auto graphs = std::make_shared<std::map<std::string, Captured>>();
  return [eager = std::move(eager), graphs](const torch::Tensor& x, const torch::Tensor& labels) {
    if (!x.is_cuda() || torch::GradMode::is_enabled() || g_network_graphs_off) return eager(x, labels);
    const auto key = key_of(x, labels);
    auto it = graphs->find(key);
    if (it == graphs->end()) {
      Captured c;
      try {
        c = capture(eager, x, labels);
        ++g_captured;
      } catch (const std::exception& e) {
        spdlog::warn(
            "CUDA graph capture of the score network failed for input {}; running eager from now on "
            "(set sampling.cuda_graph=false to skip the attempt): {}",
            key, e.what());
        c = Captured();
        c.eager = true;
        ++g_fell_back;
      }
      it = graphs->emplace(key, std::move(c)).first;
    }
    auto& c = it->second;
    if (c.eager) return eager(x, labels);
    c.x.copy_(x);
    c.labels.copy_(labels);
    c.graph->replay();
    return c.out.clone();
  };
}

bool cuda_graphs_compiled() { return true; }

#else

sdes::ModelFn graphed(sdes::ModelFn eager) { return eager; }
bool cuda_graphs_compiled() { return false; }

#endif

}  // namespace scorch::sampler
