// Autocast for one scope, as the trainer, the checkpoint recompute and the sampler enter it.
#pragma once
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

namespace scorch {

// While alive, autocast on `type` is `enabled` with `dtype`; the previous state comes back on destruction.
// Autocast keeps the low-precision copy of each float32 leaf it casts (the weights) in one process-wide
// cache, keyed by the tensor rather than its values, and nothing empties it but leaving the outermost
// scope that counted itself in the thread's nesting (as torch.autocast does, and this guard). A cast made
// while autocast was merely switched on outlives the switch, and once the weights change in place (an
// optimizer step, an EMA swap, a weight load) the next autocast forward reads the stale copy.
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType type, bool enabled, at::ScalarType dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType type_;
  bool was_enabled_;
  at::ScalarType was_dtype_;
};

// While alive, autocast keeps no cast copies. A CUDA-graph capture needs this: a weight cast cached before
// the capture would be read by every replay without the cast being in the graph, so the replays would use
// the weights of capture time.
class AutocastCacheOff {
 public:
  AutocastCacheOff();
  ~AutocastCacheOff();
  AutocastCacheOff(const AutocastCacheOff&) = delete;
  AutocastCacheOff& operator=(const AutocastCacheOff&) = delete;

 private:
  bool was_;
};

}  // namespace scorch
