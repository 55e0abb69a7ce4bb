// Mixed precision for training: the autocast scope of fp32 / bf16 / fp16 and fp16's dynamic loss scale.
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>

#include "core/autocast.h"

namespace scorch::trainer {

enum class Precision { FP32, BF16, FP16 };
// "fp32" | "bf16" | "fp16"; `key` names the config key in the error.
Precision parse_precision(const std::string& name, const std::string& key);
const char* precision_name(Precision p);

// While alive, ops on `device` run under autocast to bf16/fp16 (nothing for fp32); parameters, gradients,
// optimizer state and EMA stay float32.
class AutocastScope {
 public:
  AutocastScope(Precision precision, const torch::Device& device);

 private:
  std::optional<AutocastGuard> guard_;
};

// fp16 dynamic loss scaling as torch.cuda.amp.GradScaler: start at 2^16, halve on an overflow (the step is
// skipped), double after `growth_interval` clean steps. Disabled (scale 1, never changes) for fp32/bf16.
class LossScaler {
 public:
  explicit LossScaler(bool enabled, double init_scale = 65536.0, int64_t growth_interval = 2000);
  bool enabled() const { return enabled_; }
  double scale() const { return scale_; }
  // After a step: `finite` says whether the unscaled gradients were all finite.
  void update(bool finite);

  int64_t good_steps() const { return good_steps_; }
  void load(double scale, int64_t good_steps);

 private:
  bool enabled_;
  double scale_;
  int64_t growth_interval_, good_steps_ = 0;
};

}  // namespace scorch::trainer
