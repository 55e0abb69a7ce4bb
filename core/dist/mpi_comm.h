// The MPI backend (CPU tensors) and the MPI host helpers the other backends reuse.
#pragma once
#include "core/dist/communicator.h"

namespace scorch::dist {

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator();
  std::string backend() const override { return "mpi"; }
  bool collectives_on_any_thread() const override;
  void all_reduce_sum(torch::Tensor& t) override;
  void broadcast(torch::Tensor& t, int root) override;
  torch::Tensor all_gather(const torch::Tensor& t) override;
  using Communicator::all_gather;
  using Communicator::all_reduce_sum;
  using Communicator::broadcast;
};

class LocalCommunicator : public Communicator {
 public:
  LocalCommunicator() : Communicator(0, 1) {}
  std::string backend() const override { return "local"; }
  void all_reduce_sum(torch::Tensor&) override {}
  void broadcast(torch::Tensor&, int) override {}
  torch::Tensor all_gather(const torch::Tensor& t) override { return t.unsqueeze(0).clone(); }
  using Communicator::all_gather;
  using Communicator::all_reduce_sum;
  using Communicator::broadcast;
};

std::shared_ptr<Communicator> make_nccl_communicator(const torch::Device& device);

}  // namespace scorch::dist
