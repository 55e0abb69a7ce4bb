// Collective operations behind one interface: local (1 process), MPI (CPU tensors) and NCCL (CUDA tensors).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace scorch::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string backend() const = 0;
  int rank() const { return rank_; }
  int world() const { return world_; }

  // Tensor collectives, in place; tensors live on the backend's device (CPU for mpi/local).
  virtual void all_reduce_sum(torch::Tensor& t) = 0;
  virtual void broadcast(torch::Tensor& t, int root) = 0;
  // Returns (world, *t.shape): every rank's tensor, stacked in rank order.
  virtual torch::Tensor all_gather(const torch::Tensor& t) = 0;
  // Where its tensor collectives run: CUDA for nccl, else the CPU.
  virtual torch::Device device() const { return torch::Device(torch::kCPU); }
  // Blocks until the collectives queued so far have finished, and throws if the backend reports an error
  // meanwhile (NCCL's asynchronous errors: a dead peer). CPU backends return at once: their calls block.
  virtual void synchronize() {}
  // Whether a second thread may run tensor collectives (the gradient reducer's, during backward). MPI allows it
  // only at MPI_THREAD_MULTIPLE or SERIALIZED; the others do not care which thread calls.
  virtual bool collectives_on_any_thread() const { return true; }

  // Host-side helpers: always over MPI (or trivial with one process), whatever the tensor backend.
  virtual void barrier();
  // A barrier that calls `poll` every `period_s` seconds while it waits (MPI_Ibarrier + MPI_Test), so that a
  // rank can watch the others and throw instead of waiting forever for one that hangs.
  void barrier_polling(const std::function<void()>& poll, double period_s);
  virtual int64_t all_reduce_sum(int64_t x);
  virtual int64_t all_reduce_max(int64_t x);
  virtual double all_reduce_sum(double x);
  virtual std::vector<int64_t> all_gather(int64_t x);
  virtual void broadcast(std::string& bytes, int root);
  virtual std::vector<std::string> all_gather(const std::string& bytes);

 protected:
  Communicator(int rank, int world) : rank_(rank), world_(world) {}

 private:
  int rank_, world_;
};

// `backend`: "auto" (nccl for a CUDA device with several ranks, else mpi, or local with one rank),
// "nccl", "mpi" or "local". Call after dist::init().
std::shared_ptr<Communicator> make_communicator(const std::string& backend, const torch::Device& device);

}  // namespace scorch::dist
