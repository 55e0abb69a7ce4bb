// Loader: each reader thread takes the next job (a slice of the global stream, numbered), reads and
// transforms it into its own batch tensor, and files it under its number; next() hands batches out in
// number order, so the stream is the same for any number of threads.
#include "data/loader.h"

#include <chrono>

#include "core/error.h"

namespace scorch::data {

LoaderOptions loader_options(const Config& config, int64_t global_batch, int rank, int world, torch::Device device) {
  LoaderOptions o;
  o.global_batch = global_batch;
  o.seed = static_cast<uint64_t>(config.get_int("seed"));
  o.rank = rank, o.world = world;
  // Checked here as well as by the Loader, so that `scorch train --dry-run` refuses what the run would; before the
  // narrowing to int, which would wrap a huge value.
  const int64_t threads = config.get_int("data.reader_threads"), prefetch = config.get_int("data.prefetch_batches");
  SCORCH_CHECK(threads >= 1 && threads <= 1024, "data.reader_threads must lie in [1, 1024], got {}", threads);
  SCORCH_CHECK(prefetch >= 1 && prefetch <= 1024, "data.prefetch_batches must lie in [1, 1024], got {}", prefetch);
  o.reader_threads = static_cast<int>(threads);
  o.prefetch_batches = static_cast<int>(prefetch);
  o.transform.random_flip = config.get_bool("data.random_flip");
  o.transform.centered = config.get_bool("data.centered");
  o.transform.uniform_dequantization = config.get_bool("data.uniform_dequantization");
  o.transform.seed = o.seed;
  o.device = device;
  return o;
}

Loader::Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options, SamplerState start)
    : dataset_(std::move(dataset)),
      options_(std::move(options)),
      sampler_(dataset_->size(), options_.global_batch, options_.seed, options_.rank, options_.world,
               options_.drop_last),
      batches_per_epoch_(sampler_.batches_per_epoch()) {
  SCORCH_CHECK(options_.reader_threads >= 1, "data.reader_threads must be at least 1, got {}", options_.reader_threads);
  SCORCH_CHECK(options_.prefetch_batches >= 1, "data.prefetch_batches must be at least 1, got {}",
               options_.prefetch_batches);
  sampler_.set_state(start);
  for (int i = 0; i < options_.reader_threads; ++i) threads_.emplace_back([this] { reader_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  space_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

torch::Tensor Loader::acquire(const std::vector<int64_t>& shape) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  // CUDA: pinned memory from torch's caching host allocator, which knows when an async copy is done.
  if (options_.device.is_cuda()) return torch::empty(shape, opts.pinned_memory(true));
  std::lock_guard<std::mutex> lock(pool_mutex_);
  for (auto& t : pool_)
    if (t.use_count() == 1 && t.storage().use_count() == 1 && t.sizes() == shape) return t.detach();
  auto t = torch::empty(shape, opts);
  if (static_cast<int>(pool_.size()) < options_.prefetch_batches + options_.reader_threads + 2) pool_.push_back(t);
  return t.detach();  // the consumer gets its own handle; the pool's handle stays unshared
}

Batch Loader::build(const std::vector<int64_t>& indices, const SamplerState& at) {
  const auto& m = dataset_->manifest();
  const int64_t b = static_cast<int64_t>(indices.size());
  Batch batch;
  batch.indices = torch::tensor(indices, torch::kInt64);
  if (m.has_labels) batch.labels = dataset_->read_labels(indices);
  if (m.kind == "points") {
    batch.images = acquire({b, m.shape[0]});
    for (int64_t i = 0; i < b; ++i) dataset_->read(indices[i], batch.images.data_ptr<float>() + i * m.shape[0]);
    return batch;
  }
  const int h = static_cast<int>(m.shape[0]), w = static_cast<int>(m.shape[1]), c = static_cast<int>(m.shape[2]);
  batch.images = acquire({b, c, h, w});  // (B, C, H, W)
  std::vector<uint8_t> raw(dataset_->item_bytes());
  float* out = batch.images.data_ptr<float>();
  const int64_t first = at.consumed + options_.rank * b;  // global position of this slice's first item
  for (int64_t i = 0; i < b; ++i) {
    dataset_->read(indices[i], raw.data());
    transform_image(raw.data(), out + i * c * h * w, h, w, c, options_.transform, item_key(at.epoch, first + i));
  }
  return batch;
}

void Loader::reader_loop() {
  for (;;) {
    int64_t job;
    std::vector<int64_t> indices;
    SamplerState at, after;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      space_cv_.wait(lock, [&] { return stop_ || next_job_ < next_out_ + options_.prefetch_batches; });
      if (stop_) return;
      job = next_job_++;
      indices = sampler_.next(&at);
      after = sampler_.state();
    }
    Slot slot;
    try {
      slot.batch = build(indices, at);
      slot.batch.state = after;
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(job, std::move(slot));
    }
    ready_cv_.notify_all();
  }
}

Batch Loader::next() {
  Slot slot;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto t0 = std::chrono::steady_clock::now();
    ready_cv_.wait(lock, [&] { return ready_.count(next_out_) != 0; });
    wait_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto it = ready_.find(next_out_);
    slot = std::move(it->second);
    ready_.erase(it);
    ++next_out_;
  }
  space_cv_.notify_all();
  if (slot.error) std::rethrow_exception(slot.error);
  if (options_.device.is_cuda()) slot.batch.images = slot.batch.images.to(options_.device, /*non_blocking=*/true);
  return std::move(slot.batch);
}

double Loader::wait_seconds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return wait_s_;
}

double Loader::take_wait_seconds() {
  std::lock_guard<std::mutex> lock(mutex_);
  const double w = wait_s_;
  wait_s_ = 0.0;
  return w;
}

}  // namespace scorch::data
