// Autocast scopes and the fp16 loss scale.
#include "trainer/precision.h"

#include "core/error.h"

namespace scorch::trainer {

Precision parse_precision(const std::string& name, const std::string& key) {
  if (name == "fp32") return Precision::FP32;
  if (name == "bf16") return Precision::BF16;
  if (name == "fp16") return Precision::FP16;
  SCORCH_FAIL("{} must be fp32, bf16 or fp16, got '{}'", key, name);
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::FP32: return "fp32";
    case Precision::BF16: return "bf16";
    case Precision::FP16: return "fp16";
  }
  return "?";
}

AutocastScope::AutocastScope(Precision precision, const torch::Device& device) {
  if (precision != Precision::FP32)
    guard_.emplace(device.type(), true, precision == Precision::BF16 ? at::kBFloat16 : at::kHalf);
}

LossScaler::LossScaler(bool enabled, double init_scale, int64_t growth_interval)
    : enabled_(enabled), scale_(enabled ? init_scale : 1.0), growth_interval_(growth_interval) {}

void LossScaler::update(bool finite) {
  if (!enabled_) return;
  if (!finite) {
    scale_ *= 0.5;
    good_steps_ = 0;
    SCORCH_CHECK_HINT(scale_ >= 1e-8,
                      "the model overflows fp16 at any scale; train with training.precision=bf16 or fp32",
                      "fp16 loss scale fell to {:g}", scale_);
    return;
  }
  if (++good_steps_ >= growth_interval_) {
    scale_ *= 2.0;
    good_steps_ = 0;
  }
}

void LossScaler::load(double scale, int64_t good_steps) {
  if (!enabled_) return;
  SCORCH_CHECK(scale > 0, "checkpoint loss scale {} is not positive", scale);
  scale_ = scale;
  good_steps_ = good_steps;
}

}  // namespace scorch::trainer
