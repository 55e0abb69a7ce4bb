// Data-parallel gradient averaging in buckets that are all-reduced while backward is still running.
#pragma once
#include <torch/csrc/autograd/function.h>
#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/dist/communicator.h"

namespace scorch::trainer {

// Usage per optimizer step: for each micro-batch, `arm(last)` then backward; after the last backward,
// `finish()` leaves every parameter's .grad() averaged over ranks (the sum of the rank's micro-batch
// gradients, divided by the world size). Buckets are reduced strictly in index order on every rank, so
// collectives always match across ranks. CPU/MPI: a communication thread reduces ready buckets while the
// autograd engine continues. CUDA/NCCL: buckets are reduced on a side stream after an event on the
// compute stream. With one rank the reducer does nothing.
//
// A parameter joins its bucket when its gradient accumulator (AccumulateGrad) has run, reading .grad():
// that node runs once per backward with the sum of all the parameter's uses, after earlier micro-batches'
// sums. Tensor hooks would be wrong: a checkpointed block's recompute differentiates with respect to the
// parameters (autograd::grad), which calls their tensor hooks with the block's share of the gradient as
// well, and the accumulator then calls them again with the full sum.
class GradReducer {
 public:
  GradReducer(std::shared_ptr<dist::Communicator> comm, std::vector<torch::Tensor> params, double bucket_mb);
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  // Call before each backward; `last_micro_batch` arms the hooks that start bucket reductions.
  void arm(bool last_micro_batch);
  void finish();

  // The parameters' gradient accumulators, which this reducer holds, run on the stream that was current when
  // they were made; one on the default stream breaks a CUDA-graph capture on a side stream. The step graph
  // calls this on its capture stream (and again on the old stream if the capture fails).
  void reattach_on_current_stream();

  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // Seconds finish() spent waiting for communication after backward ended (the exposed share).
  double last_wait_seconds() const { return last_wait_s_; }

 private:
  struct Bucket {
    std::vector<int64_t> params;   // indices into params_
    std::vector<int64_t> offsets;  // element offset of each param in `flat`
    torch::Tensor flat;            // (numel,) float32 on the params' device
    int64_t pending = 0;
  };

  void attach_hooks();
  void detach_hooks();
  void on_accumulated(int64_t param_index);
  void launch_ready_in_order();  // caller holds mu_
  void launch(Bucket& b);        // caller holds mu_
  void worker_loop();

  std::shared_ptr<dist::Communicator> comm_;
  std::vector<torch::Tensor> params_;
  std::vector<int64_t> bucket_of_;  // param -> bucket
  std::vector<int64_t> slot_of_;    // param -> position within its bucket
  // Each parameter's accumulator, held so that every backward goes through this one node, and its hook's key.
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, uintptr_t>> hooks_;
  std::vector<bool> seen_;  // param -> joined its bucket in the armed backward
  std::vector<Bucket> buckets_;
  bool armed_ = false;
  int64_t next_launch_ = 0;
  double last_wait_s_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<int64_t> queue_;  // CPU: buckets handed to the worker
  int64_t reduced_ = 0;        // CPU: buckets the worker has finished
  std::exception_ptr worker_error_;
  bool stop_ = false;
  std::thread worker_;
  struct CudaState;
  std::unique_ptr<CudaState> cuda_;
};

}  // namespace scorch::trainer
