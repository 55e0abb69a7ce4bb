// Background prefetching loader: reader threads fill a bounded queue of ready batches, in stream order.
#pragma once
#include <torch/torch.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/config.h"
#include "data/dataset.h"
#include "data/sampler.h"
#include "data/transforms.h"

namespace scorch::data {

struct LoaderOptions {
  int64_t global_batch = 128;  // split over `world` ranks
  uint64_t seed = 42;
  int rank = 0, world = 1;
  bool drop_last = true;
  int reader_threads = 2;    // data.reader_threads
  int prefetch_batches = 4;  // data.prefetch_batches: ready batches queued ahead of the consumer
  TransformOptions transform;
  torch::Device device = torch::kCPU;  // CUDA: batches are assembled in pinned memory and copied async
};

// data.* keys, `seed`, with the batch split as given. Training: pass random_flip from the config;
// evaluation: the caller clears transform.random_flip.
LoaderOptions loader_options(const Config& config, int64_t global_batch, int rank, int world, torch::Device device);

struct Batch {
  torch::Tensor images;   // (B, C, H, W) float32 for image datasets; (B, D) float32 for points
  torch::Tensor labels;   // (B,) int64, undefined without labels
  torch::Tensor indices;  // (B,) int64 global item indices
  SamplerState state;     // the stream position after this batch: what a checkpoint taken now must store
};

class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options, SamplerState start = {});
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  Batch next();  // blocks until the next batch of the stream is ready; rethrows a reader's error
  // Seconds next() spent blocked since construction (or the last take_wait_seconds()).
  double wait_seconds() const;
  double take_wait_seconds();
  int64_t batches_per_epoch() const { return batches_per_epoch_; }

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  void reader_loop();
  Batch build(const std::vector<int64_t>& indices, const SamplerState& at);
  torch::Tensor acquire(const std::vector<int64_t>& shape);

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  DistributedSampler sampler_;
  int64_t batches_per_epoch_;
  mutable std::mutex mutex_;
  std::condition_variable ready_cv_, space_cv_;
  std::map<int64_t, Slot> ready_;
  int64_t next_job_ = 0, next_out_ = 0;
  bool stop_ = false;
  double wait_s_ = 0.0;
  std::vector<std::thread> threads_;
  // CPU batches are recycled once the consumer has dropped every reference: fresh 10–50 MB allocations
  // come from mmap and cost a page fault per 4 KiB, which was a large share of the loader's time.
  std::mutex pool_mutex_;
  std::vector<torch::Tensor> pool_;
};

}  // namespace scorch::data
