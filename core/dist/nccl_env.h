// The NCCL settings scorch chooses where the user has not. dist::init makes them first thing, before MPI or any
// other thread starts (setenv beside a getenv in another thread is a data race), and long before NCCL reads them.
#pragma once
#include <string>
#include <vector>

namespace scorch::dist {

// Sets each of scorch's NCCL defaults that the environment does not already hold (an exported value always wins; a
// value in nccl.conf does not, since NCCL applies that file only to variables not set) and returns the ones it
// set, as NAME=VALUE. Today one: NCCL_GRAPH_REGISTER=0. NCCL registers the buffers of
// collectives captured in a CUDA graph only when they come from ncclMemAlloc or a cuMem-based allocator, which
// with LibTorch means PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True, where that registration is reported to
// break (pytorch/pytorch#158029) and pins the graph's memory pool; with LibTorch's default allocator it
// registers nothing. Turning it off costs nothing in the one case and avoids the failure in the other.
std::vector<std::string> set_nccl_defaults();

}  // namespace scorch::dist
