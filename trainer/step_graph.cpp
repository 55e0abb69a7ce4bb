// Capture and replay of the whole training step (compiled when SCORCH_WITH_CUDA; run by tests/cuda on a GPU).
#include "trainer/step_graph.h"

#include <fmt/ranges.h>

#include "core/error.h"

#if SCORCH_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "core/autocast.h"
#include "core/cuda_graph_capture.h"
#endif

namespace scorch::trainer {

#if SCORCH_WITH_CUDA

namespace graph_noise {

// One draw the loss made at capture: what it asked for, and the static buffer the graph reads it from.
struct Draw {
  enum class Kind { Uniform, Normal, Labels } kind;
  std::vector<int64_t> shape;
  torch::TensorOptions options;
  int64_t num_labels = 0;
  torch::Tensor buffer;
};

// At capture: hands the loss empty static buffers and records each request.
class RecordingNoise : public LossNoise {
 public:
  explicit RecordingNoise(std::vector<Draw>& draws) : draws_(draws) {}
  torch::Tensor uniform(int64_t n, const torch::TensorOptions& options) override {
    return add({Draw::Kind::Uniform, {n}, options, 0, torch::empty({n}, options)});
  }
  torch::Tensor normal(torch::IntArrayRef shape, const torch::TensorOptions& options) override {
    return add({Draw::Kind::Normal, shape.vec(), options, 0, torch::empty(shape, options)});
  }
  torch::Tensor labels(int64_t n, int64_t num_labels, const torch::Device& device) override {
    const auto options = torch::TensorOptions(torch::kLong).device(device);
    return add({Draw::Kind::Labels, {n}, options, num_labels, torch::empty({n}, options)});
  }

 private:
  torch::Tensor add(Draw d) {
    draws_.push_back(std::move(d));
    return draws_.back().buffer;
  }
  std::vector<Draw>& draws_;
};

// The same request, answered by the step's own noise source.
torch::Tensor draw_again(const Draw& d, LossNoise& noise) {
  switch (d.kind) {
    case Draw::Kind::Uniform: return noise.uniform(d.shape[0], d.options);
    case Draw::Kind::Normal: return noise.normal(d.shape, d.options);
    case Draw::Kind::Labels: return noise.labels(d.shape[0], d.num_labels, d.options.device());
  }
  SCORCH_FAIL("unknown draw kind");
}

}  // namespace graph_noise

using graph_noise::Draw;

struct StepGraph::State {
  torch::Tensor images, lr;  // (B, C, H, W) in the caller's layout; () float32
  std::vector<Draw> draws;
  std::vector<torch::Tensor> grads;  // the graph's gradient tensors, in the order of `params`
  std::unique_ptr<CudaGraph> graph;
};

StepGraph::StepGraph() : s_(std::make_unique<State>()) {}
StepGraph::~StepGraph() = default;

bool StepGraph::captured() const { return s_->graph != nullptr; }

void StepGraph::capture(const Body& body, const torch::Tensor& images, const std::vector<torch::Tensor>& params) {
  SCORCH_CHECK(images.is_cuda(), "a training-step graph needs CUDA images, got them on {}", images.device().str());
  SCORCH_CHECK(!captured(), "the training step is already captured");
  auto st = std::make_unique<State>();
  st->images = torch::empty_like(images);
  st->images.copy_(images);
  st->lr = torch::zeros({}, torch::TensorOptions(torch::kFloat32).device(images.device()));
  for (const auto& p : params) p.mutable_grad() = torch::Tensor();
  AutocastCacheOff no_cache;
  const auto index = images.device().index();
  auto side = c10::cuda::getStreamFromPool(false, index);
  c10::cuda::getCurrentCUDAStream(index).synchronize();  // the buffers above were written on it
  // The eager steps' cached blocks go back to the device: the graph keeps its activations in a pool of its
  // own, and with both held the peak would be twice a step's.
  c10::cuda::CUDACachingAllocator::emptyCache();
  st->graph = std::make_unique<CudaGraph>();
  std::string failure;
  {
    c10::cuda::CUDAStreamGuard guard(side);
    failure = capture_cuda_graph(*st->graph, [&] {
      graph_noise::RecordingNoise noise(st->draws);
      body(st->images, noise, st->lr);
    });
  }
  if (!failure.empty()) {
    for (const auto& p : params) p.mutable_grad() = torch::Tensor();
    SCORCH_FAIL("capturing the training step as a CUDA graph failed: {}", failure);
  }
  side.synchronize();
  for (const auto& p : params) st->grads.push_back(p.grad());
  s_ = std::move(st);
}

void StepGraph::replay(const torch::Tensor& images, LossNoise& noise, double lr,
                       const std::vector<torch::Tensor>& params) {
  SCORCH_CHECK(captured(), "replay of a training step that was not captured");
  auto& st = *s_;
  SCORCH_CHECK(images.sizes() == st.images.sizes(), "the training-step graph was captured for images {}, got {}",
               fmt::join(st.images.sizes(), "x"), fmt::join(images.sizes(), "x"));
  SCORCH_CHECK(params.size() == st.grads.size(), "the training-step graph holds {} gradients, got {} parameters",
               st.grads.size(), params.size());
  st.images.copy_(images, /*non_blocking=*/true);
  for (auto& d : st.draws) d.buffer.copy_(graph_noise::draw_again(d, noise), /*non_blocking=*/true);
  st.lr.fill_(lr);
  for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = st.grads[i];
  st.graph->replay();
}

bool step_graphs_compiled() { return true; }

#else

struct StepGraph::State {};

StepGraph::StepGraph() : s_(std::make_unique<State>()) {}
StepGraph::~StepGraph() = default;

bool StepGraph::captured() const { return false; }

void StepGraph::capture(const Body&, const torch::Tensor&, const std::vector<torch::Tensor>&) {
  SCORCH_FAIL("this build has no CUDA paths: the training step cannot be captured as a CUDA graph");
}

void StepGraph::replay(const torch::Tensor&, LossNoise&, double, const std::vector<torch::Tensor>&) {
  SCORCH_FAIL("replay of a training step that was not captured");
}

bool step_graphs_compiled() { return false; }

#endif

}  // namespace scorch::trainer
