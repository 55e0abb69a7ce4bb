// The CPU memory meter counts each tensor's bytes while it lives, and the peak.
#include "core/cpu_memory_meter.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace scorch {
namespace {

TEST(CpuMemoryMeter, CountsATensorWhileItLivesAndKeepsThePeak) {
  auto& meter = CpuMemoryMeter::instance();
  const int64_t before = meter.current_bytes();
  meter.reset_peak();
  {
    auto a = torch::empty({1024, 256});  // 1 MiB of float32
    EXPECT_EQ(meter.current_bytes() - before, 1 << 20);
    auto b = a + 1;
    EXPECT_EQ(meter.current_bytes() - before, 2 << 20);
  }
  EXPECT_EQ(meter.current_bytes(), before);
  // `a + 1` also makes the scalar 1 a tensor of a few bytes for a moment.
  EXPECT_GE(meter.peak_bytes() - before, 2 << 20);
  EXPECT_LE(meter.peak_bytes() - before, (2 << 20) + 64);
  meter.reset_peak();
  EXPECT_EQ(meter.peak_bytes(), before);
}

}  // namespace
}  // namespace scorch
