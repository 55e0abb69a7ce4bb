// A meter of the bytes LibTorch holds in CPU tensors: current and peak, exact, for memory benches and tests.
#pragma once
#include <cstdint>

namespace scorch {

// The first call replaces LibTorch's CPU allocator with a counting one over the same aligned allocation,
// for the rest of the process (an allocator cannot be taken back out: tensors made through it may outlive
// any scope). Tensors made before that are not counted, nor is memory libraries take for themselves
// (oneDNN's scratch pads).
class CpuMemoryMeter {
 public:
  static CpuMemoryMeter& instance();

  int64_t current_bytes() const;
  int64_t peak_bytes() const;
  // Starts a new peak from what is held now.
  void reset_peak();

 private:
  CpuMemoryMeter();
};

}  // namespace scorch
