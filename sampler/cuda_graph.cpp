// CUDA graph capture of the score network (compiled when SCORCH_WITH_CUDA; not exercised on CPU machines).
#include "sampler/cuda_graph.h"

#if SCORCH_WITH_CUDA
#include <ATen/autocast_mode.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <map>
#include <memory>

namespace scorch::sampler {

#if SCORCH_WITH_CUDA

namespace {

struct Captured {
  torch::Tensor x, labels, out;  // static buffers the graph reads and writes
  std::unique_ptr<at::cuda::CUDAGraph> graph;
};

std::string key_of(const torch::Tensor& x, const torch::Tensor& labels) {
  return c10::str(x.sizes(), x.scalar_type(), labels.sizes(), labels.scalar_type(), x.device());
}

Captured capture(const ModelFn& eager, const torch::Tensor& x, const torch::Tensor& labels) {
  Captured c;
  c.x = x.clone();
  c.labels = labels.clone();
  // Autocast's weight cast cache would hold tensors allocated outside the graph's pool.
  const bool cache = at::autocast::is_autocast_cache_enabled();
  at::autocast::set_autocast_cache_enabled(false);
  auto side = c10::cuda::getStreamFromPool(false, x.device().index());
  c10::cuda::device_synchronize();  // the inputs were written on the current stream
  {
    c10::cuda::CUDAStreamGuard guard(side);
    // Warm-up runs let cuDNN pick its algorithms and the allocator settle before capture.
    for (int i = 0; i < 3; ++i) eager(c.x, c.labels);
    side.synchronize();
    c.graph = std::make_unique<at::cuda::CUDAGraph>();
    c.graph->capture_begin();
    c.out = eager(c.x, c.labels);
    c.graph->capture_end();
  }
  side.synchronize();
  at::autocast::set_autocast_cache_enabled(cache);
  return c;
}

}  // namespace

ModelFn graphed(ModelFn eager) {
  auto graphs = std::make_shared<std::map<std::string, Captured>>();
  return [eager = std::move(eager), graphs](const torch::Tensor& x, const torch::Tensor& labels) {
    if (!x.is_cuda() || torch::GradMode::is_enabled()) return eager(x, labels);
    const auto key = key_of(x, labels);
    auto it = graphs->find(key);
    if (it == graphs->end()) it = graphs->emplace(key, capture(eager, x, labels)).first;
    auto& c = it->second;
    c.x.copy_(x);
    c.labels.copy_(labels);
    c.graph->replay();
    return c.out.clone();
  };
}

bool cuda_graphs_compiled() { return true; }

#else

ModelFn graphed(ModelFn eager) { return eager; }
bool cuda_graphs_compiled() { return false; }

#endif

}  // namespace scorch::sampler
