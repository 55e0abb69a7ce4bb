// Whole-step CUDA graphs of the PC sampler (compiled when SCORCH_WITH_CUDA; run by tests/cuda on a GPU).
#include "sampler/pc_step_graph.h"

#include <atomic>

#include "core/autocast.h"
#include "core/error.h"

#if SCORCH_WITH_CUDA
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <spdlog/spdlog.h>

#include "core/cuda_graph_capture.h"
#endif

namespace scorch::sampler {

namespace {
// Named apart from cuda_graph.cpp's counters: a unity build may put both files in one unit.
std::atomic<int64_t> g_steps_captured{0}, g_steps_fell_back{0};
}  // namespace

CudaGraphStats pc_step_graph_stats() { return {g_steps_captured.load(), g_steps_fell_back.load()}; }

PcStepGraphs::PcStepGraphs() = default;
PcStepGraphs::~PcStepGraphs() = default;

#if SCORCH_WITH_CUDA

struct PcStepGraphs::Entry {
  Step step;           // the captured step: its predictor and corrector own tensors the graph reads
  torch::Tensor x, t;  // static inputs, (B, C, H, W) and (B,)
  Update out;          // static outputs in the graph's pool
  // Registered with the graph: a replay draws from this generator's seed and offset, which are set from the
  // caller's generator before it (the caller's own generator was not there at capture).
  torch::Generator gen;
  std::unique_ptr<CudaGraph> graph;
  int64_t nfe = 0;
  bool eager = false;  // the capture failed for this shape

  // Throws when the warm-up or the capture fails.
  void capture(Step captured, const torch::Tensor& x0, const torch::Tensor& t0);
};

namespace {
// The layout too: the static input is a clone of the first x, so a graph keyed without it would hand back samples
// in the captured layout.
std::string key_of(const torch::Tensor& x) {
  return c10::str(x.sizes(), x.scalar_type(), x.device(), x.suggest_memory_format());
}
}  // namespace

void PcStepGraphs::Entry::capture(Step captured, const torch::Tensor& x0, const torch::Tensor& t0) {
  step = std::move(captured);
  x = x0.clone();
  t = t0.clone();
  const auto index = x0.device().index();
  gen = at::detail::getCUDAHooks().getNewGenerator(index);
  // Autograd nodes recorded in the warm-up or the capture would keep the graph's tensors alive.
  torch::NoGradGuard no_grad;
  AutocastCacheOff no_cache;
  NetworkGraphsOff network_in_this_graph;
  auto current = c10::cuda::getCurrentCUDAStream(index);
  auto side = c10::cuda::getStreamFromPool(false, index);
  current.synchronize();  // the inputs were written on the current stream
  {
    c10::cuda::CUDAStreamGuard guard(side);
    // Warm-up (cuDNN's algorithm choice, lazily built constants such as the correctors' tables and FIR
    // kernels, a settled allocator) with a generator of its own: the caller's noise stream must not move.
    auto scratch = at::detail::getCUDAHooks().getNewGenerator(index);
    for (int i = 0; i < 2; ++i) {
      int64_t ignored = 0;
      step(x, t, scratch, ignored);
    }
    side.synchronize();
    // The warm-up's blocks are cached for the side stream, where nothing else reuses them; without this
    // the graph's pool would come on top and a large batch could fail to capture for memory.
    c10::cuda::CUDACachingAllocator::emptyCache();
    graph = std::make_unique<CudaGraph>();
    graph->register_generator_state(gen);
    const auto failure = capture_cuda_graph(*graph, [&] {
      int64_t calls = 0;
      out = step(x, t, gen, calls);
      nfe = calls;
    });
    SCORCH_CHECK(failure.empty(), "{}", failure);
  }
  side.synchronize();
}

std::optional<PcStepGraphs::Replayed> PcStepGraphs::run(const Step& step, const torch::Tensor& x,
                                                        const torch::Tensor& t, torch::Generator& gen) {
  // The graph's generator state is the one of x's device: a generator of another GPU steps eagerly. A generator
  // made for "cuda" without an index is the current device's.
  const auto g = gen.device();
  if (!x.is_cuda() || !g.is_cuda() || (g.has_index() ? g.index() : c10::cuda::current_device()) != x.device().index())
    return std::nullopt;
  const auto key = key_of(x);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    auto e = std::make_unique<Entry>();
    try {
      e->capture(step, x, t);
      ++g_steps_captured;
    } catch (const std::exception& ex) {
      spdlog::warn(
          "CUDA graph capture of the whole sampler step failed for input {}; stepping eagerly from now on "
          "(set sampling.cuda_graph=false to skip the attempt): {}",
          key, ex.what());
      e = std::make_unique<Entry>();
      e->eager = true;
      ++g_steps_fell_back;
    }
    it = entries_.emplace(key, std::move(e)).first;
  }
  auto& e = *it->second;
  if (e.eager) return std::nullopt;
  e.x.copy_(x);
  e.t.copy_(t);
  // Setting the seed also zeroes the offset, so the offset comes second.
  e.gen.set_current_seed(gen.current_seed());
  e.gen.set_offset(gen.get_offset());
  e.graph->replay();
  gen.set_offset(e.gen.get_offset());
  return Replayed{{e.out.x.clone(), e.out.x_mean.clone()}, e.nfe};
}

#else

struct PcStepGraphs::Entry {};

std::optional<PcStepGraphs::Replayed> PcStepGraphs::run(const Step&, const torch::Tensor&, const torch::Tensor&,
                                                        torch::Generator&) {
  return std::nullopt;
}

#endif

}  // namespace scorch::sampler
