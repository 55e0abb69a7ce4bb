// Which torch device this rank computes on: the local rank's GPU when there is one, else the CPU.
#pragma once
#include <torch/torch.h>

#include <string>

namespace scorch {

// `requested`: "auto", "cpu", "cuda" (the local rank's GPU) or "cuda:N".
torch::Device select_device(const std::string& requested, int local_rank);

}  // namespace scorch
