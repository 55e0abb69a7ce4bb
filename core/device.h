// Which torch device this rank computes on: the local rank's GPU when there is one, else the CPU.
#pragma once
#include <torch/torch.h>

#include <string>

namespace scorch {

// `requested`: "auto", "cpu", "cuda" (the local rank's GPU) or "cuda:N".
torch::Device select_device(const std::string& requested, int local_rank);

// CPU threads for torch's intra-op pool: OMP_NUM_THREADS when set, else the cores split evenly between the
// ranks on this host (an oversubscribed OpenMP pool spins and runs many times slower). Returns the count.
int configure_cpu_threads(int local_world);

}  // namespace scorch
