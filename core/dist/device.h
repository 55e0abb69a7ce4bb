// Which torch device this rank computes on: the local rank's GPU when there is one, else the CPU.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace scorch::dist {

// `requested`: "auto", "cpu", "cuda" (the local rank's GPU) or "cuda:N". A CUDA choice becomes the process's
// current device (so device-less CUDA calls and new streams land on it, not on GPU 0). Collective under MPI:
// every rank calls it, and when two ranks on a host would share one GPU every rank throws, naming them.
torch::Device select_device(const std::string& requested, int local_rank);

// Given one "host|GPU identity" string per rank (rank order), a message naming the ranks that share a GPU,
// or "" when none do. CPU ranks pass "" and never clash.
std::string shared_gpu_report(const std::vector<std::string>& gpu_of_rank);

// TF32 for CUDA matmuls and convolutions, on or off, for the whole process (PyTorch's defaults differ
// between the two; scorch makes the choice explicit: training.tf32, sampling.tf32, fid --precision).
void set_tf32(bool allowed);

// cuDNN's benchmark mode for the whole process: the first convolution of each new shape times cuDNN's
// algorithms and keeps the fastest for the rest of the process (training.cudnn_benchmark).
void set_cudnn_benchmark(bool on);

// The most memory LibTorch's CUDA caching allocator has held on `device` since the last restart_memory_peak, in
// GiB (reserved, not only allocated: what a larger batch runs out of); 0 on the CPU.
double memory_peak_gib(const torch::Device& device);
// Starts that peak afresh for a run: returns the cached blocks nobody holds to the driver first, so that memory
// an earlier run in this process left cached (gpu_bench's variants, max-batch's tries) is not counted again.
void restart_memory_peak(const torch::Device& device);

// CPU threads for torch's intra-op pool: OMP_NUM_THREADS when set, else the cores split evenly between the
// ranks on this host (an oversubscribed OpenMP pool spins and runs many times slower). Returns the count.
int configure_cpu_threads(int local_world);

// Reproducible mode for the whole process: on CPU exactly `cpu_threads` intra-op threads (results depend on
// the thread count, so it must not follow the rank count); on CUDA deterministic cuDNN algorithms without
// benchmark autotuning, deterministic torch algorithms, no TF32, and cuBLAS's fixed workspace
// (CUBLAS_WORKSPACE_CONFIG=:4096:8 unless set). Call before the first CUDA computation.
void set_deterministic(const torch::Device& device, int cpu_threads);
// Back to LibTorch's defaults after set_deterministic: torch's and cuDNN's deterministic switches off.
void clear_deterministic();

// What this process computes with, for sample metadata: device, threads, the determinism and TF32 switches,
// LibTorch version and host name.
std::string execution_info_json(const torch::Device& device);

}  // namespace scorch::dist
