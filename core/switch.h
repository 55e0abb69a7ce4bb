// A speed switch's setting: off, on, or auto, which turns it on where it was measured to pay (on CUDA).
#pragma once

namespace scorch {

// Auto exists because scorch's kernels and layouts win on the GPU (docs/benchmarks.md, the H200 runs) while the
// CPU runs the same arithmetic as plain loops, slower than LibTorch's ops; one default has to serve both.
enum class Switch { Off, On, Auto };

inline const char* switch_name(Switch s) {
  switch (s) {
    case Switch::Off: return "false";
    case Switch::On: return "true";
    case Switch::Auto: return "auto";
  }
  return "?";
}

// Whether the switch is on for work on a CUDA device (`on_cuda`) or elsewhere.
inline bool switch_applies(Switch s, bool on_cuda) { return s == Switch::On || (s == Switch::Auto && on_cuda); }

}  // namespace scorch
