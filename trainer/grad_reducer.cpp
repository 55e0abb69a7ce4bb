// Bucketed gradient all-reduce overlapped with backward (communication thread on CPU, side stream on CUDA).
#include "trainer/grad_reducer.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <chrono>

#include "core/error.h"

#if SCORCH_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace scorch::trainer {

namespace {

// Runs `fn` after the accumulator it is added to; leaves the gradients it passes on as they are.
struct AfterAccumulate : torch::autograd::FunctionPostHook {
  explicit AfterAccumulate(std::function<void()> fn) : fn(std::move(fn)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    fn();
    return outputs;
  }
  std::function<void()> fn;
};

}  // namespace

#if SCORCH_WITH_CUDA
struct GradReducer::CudaState {
  explicit CudaState(const torch::Device& d) : stream(c10::cuda::getStreamFromPool(true, d.index())) {}
  c10::cuda::CUDAStream stream;
  std::vector<at::cuda::CUDAEvent> ready;  // recorded on the compute stream when a bucket is filled
};
#else
struct GradReducer::CudaState {};
#endif

GradReducer::GradReducer(std::shared_ptr<dist::Communicator> comm, std::vector<torch::Tensor> params, double bucket_mb)
    : comm_(std::move(comm)), params_(std::move(params)) {
  if (comm_->world() == 1 || params_.empty()) return;
  const auto device = params_.front().device();
  for (const auto& p : params_) {
    SCORCH_CHECK(p.device() == device, "all parameters must live on one device ({} vs {})", p.device().str(),
                 device.str());
    SCORCH_CHECK(p.scalar_type() == torch::kFloat32, "gradient buckets hold fp32 master gradients, got {}",
                 c10::toString(p.scalar_type()));
    SCORCH_CHECK(p.requires_grad() && p.is_leaf(), "the reducer averages gradients of trainable leaf parameters");
  }
  // Gradients arrive roughly in reverse registration order, so buckets are filled from the back.
  const int64_t cap = std::max<int64_t>(1, static_cast<int64_t>(bucket_mb * (1 << 20) / sizeof(float)));
  bucket_of_.assign(params_.size(), -1);
  slot_of_.assign(params_.size(), -1);
  Bucket cur;
  int64_t size = 0;
  for (int64_t i = static_cast<int64_t>(params_.size()) - 1; i >= 0; --i) {
    slot_of_[i] = static_cast<int64_t>(cur.params.size());
    cur.params.push_back(i);
    cur.offsets.push_back(size);
    size += params_[i].numel();
    if (size >= cap || i == 0) {
      cur.flat = torch::zeros({size}, params_[i].options());
      for (int64_t j : cur.params) bucket_of_[j] = static_cast<int64_t>(buckets_.size());
      buckets_.push_back(std::move(cur));
      cur = Bucket();
      size = 0;
    }
  }
  seen_.assign(params_.size(), false);
  attach_hooks();
  if (device.is_cuda()) {
#if SCORCH_WITH_CUDA
    cuda_ = std::make_unique<CudaState>(device);
    cuda_->ready.resize(buckets_.size());
#else
    SCORCH_FAIL("CUDA parameters, but this scorch was built without the CUDA paths");
#endif
  } else if (comm_->collectives_on_any_thread()) {
    worker_ = std::thread([this] { worker_loop(); });
  }
}

void GradReducer::attach_hooks() {
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto index = static_cast<int64_t>(i);
    auto acc = torch::autograd::impl::grad_accumulator(params_[i]);
    const auto key = acc->add_post_hook(std::make_unique<AfterAccumulate>([this, index] { on_accumulated(index); }));
    hooks_.emplace_back(std::move(acc), key);
  }
}

void GradReducer::detach_hooks() {
  for (auto& [acc, key] : hooks_) acc->del_post_hook(key);
  hooks_.clear();
}

void GradReducer::reattach_on_current_stream() {
  if (hooks_.empty()) return;
  detach_hooks();
  attach_hooks();
#if SCORCH_WITH_CUDA
  if (cuda_) {
    const c10::Stream current = c10::cuda::getCurrentCUDAStream(params_.front().device().index());
    for (size_t i = 0; i < hooks_.size(); ++i) {
      const auto stream = hooks_[i].first->stream();
      SCORCH_CHECK(stream && *stream == current,
                   "the gradient accumulator of parameter {} stayed on stream {} instead of the current {}: "
                   "something still holds the old one (an autograd graph kept alive?)",
                   i, stream ? c10::str(*stream) : "(none)", c10::str(current));
    }
  }
#endif
}

GradReducer::~GradReducer() {
  detach_hooks();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void GradReducer::arm(bool last_micro_batch) {
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = last_micro_batch && !buckets_.empty();
  if (!armed_) return;
  next_launch_ = 0;
  reduced_ = 0;
  queue_.clear();
  for (auto& b : buckets_) b.pending = static_cast<int64_t>(b.params.size());
  seen_.assign(params_.size(), false);
}

void GradReducer::on_accumulated(int64_t i) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!armed_) return;
  const auto& p = params_[i];
  // Only a backward run inside another backward's node (a reentrant checkpoint) runs an accumulator
  // twice; the bucket may already be on the wire with the first sum.
  SCORCH_CHECK(!seen_[i],
               "parameter {} ({} values) got its gradient accumulated twice in one backward; its "
               "bucket may already have been reduced",
               i, p.numel());
  seen_[i] = true;
  auto& b = buckets_[bucket_of_[i]];
  auto slot = b.flat.narrow(0, b.offsets[slot_of_[i]], p.numel());
  torch::NoGradGuard no_grad;
  // .grad() now holds the rank's sum over micro-batches; an accumulator that got no gradient leaves it undefined.
  if (p.grad().defined())
    slot.copy_(p.grad().reshape(-1));
  else
    slot.zero_();
  if (--b.pending == 0) launch_ready_in_order();
}

void GradReducer::launch_ready_in_order() {
  while (next_launch_ < num_buckets() && buckets_[next_launch_].pending == 0) launch(buckets_[next_launch_++]);
}

void GradReducer::launch(Bucket& b) {
  const int64_t index = &b - buckets_.data();
  if (cuda_) {
#if SCORCH_WITH_CUDA
    auto compute = c10::cuda::getCurrentCUDAStream(b.flat.device().index());
    cuda_->ready[index].record(compute);
    cuda_->ready[index].block(cuda_->stream);
    c10::cuda::CUDAStreamGuard guard(cuda_->stream);
    b.flat.record_stream(cuda_->stream);
    comm_->all_reduce_sum(b.flat);
#endif
  } else if (worker_.joinable()) {
    queue_.push_back(index);
    cv_.notify_all();
  }
}

void GradReducer::worker_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    int64_t index = queue_.front();
    queue_.pop_front();
    lock.unlock();
    try {
      comm_->all_reduce_sum(buckets_[index].flat);
    } catch (...) {
      lock.lock();
      worker_error_ = std::current_exception();
      ++reduced_;
      cv_.notify_all();
      continue;
    }
    lock.lock();
    ++reduced_;
    cv_.notify_all();
  }
}

void GradReducer::finish() {
  if (buckets_.empty()) return;
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  SCORCH_CHECK(armed_, "GradReducer::finish() without arm(true) before the last backward");
  // Parameters that took no part in this backward still join their bucket with their current gradient
  // (or zeros), so every rank launches every bucket.
  for (auto& b : buckets_) {
    if (b.pending == 0) continue;
    torch::NoGradGuard no_grad;
    for (size_t k = 0; k < b.params.size(); ++k) {
      const auto& p = params_[b.params[k]];
      auto slot = b.flat.narrow(0, b.offsets[k], p.numel());
      if (p.grad().defined())
        slot.copy_(p.grad().reshape(-1));
      else
        slot.zero_();
    }
    b.pending = 0;
  }
  launch_ready_in_order();
  if (worker_.joinable()) {
    cv_.wait(lock, [this] { return reduced_ == num_buckets(); });
    if (worker_error_) std::rethrow_exception(std::exchange(worker_error_, nullptr));
  } else if (!cuda_) {
    for (auto& b : buckets_) comm_->all_reduce_sum(b.flat);  // MPI without thread support: reduce here
  }
  armed_ = false;
  lock.unlock();
#if SCORCH_WITH_CUDA
  if (cuda_) {
    at::cuda::CUDAEvent reduced;
    reduced.record(cuda_->stream);
    reduced.block(c10::cuda::getCurrentCUDAStream(params_.front().device().index()));
  }
#endif
  const float inv_world = 1.0f / static_cast<float>(comm_->world());
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    b.flat.mul_(inv_world);
    for (size_t k = 0; k < b.params.size(); ++k) {
      auto& p = params_[b.params[k]];
      auto avg = b.flat.narrow(0, b.offsets[k], p.numel()).view(p.sizes());
      if (p.grad().defined())
        p.mutable_grad().copy_(avg);
      else
        p.mutable_grad() = avg.clone();
    }
  }
  last_wait_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace scorch::trainer
