// Device choice: CPU fallbacks, bad requests, the one-rank-per-GPU rule, and the explicit TF32 switch.
#include "core/dist/device.h"

#include <ATen/Context.h>
#include <gtest/gtest.h>

#include "core/error.h"

namespace scorch::dist {
namespace {

TEST(Device, CpuRequestsAndBadNames) {
  EXPECT_TRUE(dist::select_device("cpu", 0).is_cpu());
  if (!torch::cuda::is_available()) {
    EXPECT_TRUE(dist::select_device("auto", 3).is_cpu());
    EXPECT_THROW(dist::select_device("cuda", 0), Error);
  }
  EXPECT_THROW(dist::select_device("cuda:x", 0), Error);
  EXPECT_THROW(dist::select_device("tpu", 0), Error);
}

TEST(Device, TwoRanksOnOneGpuAreNamed) {
  EXPECT_EQ(dist::shared_gpu_report({"n1|0000:17:00", "n1|0000:65:00", "n2|0000:17:00", ""}), "");
  EXPECT_EQ(dist::shared_gpu_report({"", ""}), "");  // CPU ranks never clash
  EXPECT_EQ(dist::shared_gpu_report({"n1|0000:17:00", "n1|0000:65:00", "n1|0000:17:00", "n2|0000:17:00"}),
            "ranks 0, 2 on host n1 all use GPU 0000:17:00");
  EXPECT_EQ(dist::shared_gpu_report({"a|1", "b|2", "a|1", "b|2"}),
            "ranks 0, 2 on host a all use GPU 1; ranks 1, 3 on host b all use GPU 2");
}

TEST(Device, Tf32IsSetForMatmulsAndConvolutionsAlike) {
  auto& ctx = at::globalContext();
  dist::set_tf32(true);
  EXPECT_TRUE(ctx.allowTF32CuBLAS());
  EXPECT_TRUE(ctx.allowTF32CuDNN());
  dist::set_tf32(false);
  EXPECT_FALSE(ctx.allowTF32CuBLAS());
  EXPECT_FALSE(ctx.allowTF32CuDNN());
}

}  // namespace
}  // namespace scorch::dist
