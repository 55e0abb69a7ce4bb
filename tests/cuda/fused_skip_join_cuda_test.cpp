// fused_skip_join's CUDA kernel against the float64 join on the CPU: both layouts, every kernel dtype, shapes that take
// the packed path (four elements a load) and shapes and offsets that do not, and the gradients.
#include <fmt/format.h>

#include <cmath>

#include "core/models/fused_skip_join.h"
#include "core/models/layers.h"
#include "cuda/cuda_test_util.h"

namespace scorch {
namespace {

using test::kCuda;
using test::max_rel;

struct JoinShape {
  int64_t n, c, h, w;
};

class FusedSkipJoinCuda : public ::testing::TestWithParam<JoinShape> {};

torch::Tensor join64(const torch::Tensor& skip, const torch::Tensor& h, const torch::Tensor& bias, bool rescale) {
  const auto f = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat64); };
  return models::skip_join(f(skip), f(h) + f(bias).view({1, -1, 1, 1}), rescale);
}

// float32: within 1e-6 of float64 (three float32 operations); bfloat16 and float16 are computed in float32 and rounded
// once: within 2^-8. A wrong channel for the bias or a lost element of a pack is off by a tenth or more.
TEST_P(FusedSkipJoinCuda, EqualsFloat64OnTheCpu) {
  SCORCH_REQUIRE_CUDA();
  const auto s = GetParam();
  torch::manual_seed(s.c + s.h);
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kHalf})
    for (const auto format : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast})
      for (bool rescale : {false, true}) {
        SCOPED_TRACE(fmt::format("{}, {}, rescale {}", c10::toString(dtype), c10::str(format), rescale));
        const auto make = [&] {
          return torch::randn({s.n, s.c, s.h, s.w}).to(kCuda, dtype).contiguous(format).requires_grad_(true);
        };
        const auto skip = make(), h = make();
        const auto bias = torch::randn({s.c}, torch::TensorOptions(kCuda)).requires_grad_(true);
        const auto y = models::fused_skip_join(skip, h, bias, rescale);
        EXPECT_EQ(y.scalar_type(), dtype);
        EXPECT_TRUE(y.is_contiguous(format));
        const double tol = dtype == torch::kFloat32 ? 1e-6 : std::ldexp(1.0, -8);
        EXPECT_LE(max_rel(y, join64(skip, h, bias, rescale)), tol);
        const auto probe = torch::randn_like(y);
        y.backward(probe);
        const auto g = probe.to(torch::kCPU, torch::kFloat64) / (rescale ? std::sqrt(2.0) : 1.0);
        EXPECT_LE(max_rel(h.grad(), g), tol);
        EXPECT_LE(max_rel(skip.grad(), g), tol);
        // The bias's gradient is the float32 sum of the gradient sent back (rounded to the 16-bit type).
        EXPECT_LE(max_rel(bias.grad(), h.grad().to(torch::kCPU, torch::kFloat64).sum({0, 2, 3})), 1e-5);
      }
}

INSTANTIATE_TEST_SUITE_P(Shapes, FusedSkipJoinCuda,
                         ::testing::Values(JoinShape{2, 3, 5, 7},  // neither C nor HW a multiple of 4: one at a time
                                           JoinShape{2, 6, 4, 4},  // packed NCHW, channels_last one at a time
                                           JoinShape{16, 128, 32, 32},  // NCSN++ CIFAR-10's first stage: packed both
                                           JoinShape{2, 64, 256, 256},  // a 256² stage
                                           JoinShape{3, 1, 4, 4},       // one channel: contiguous in both layouts
                                           JoinShape{4, 8, 1, 1}),      // one pixel: the same
                         [](const auto& info) {
                           const auto& s = info.param;
                           return fmt::format("n{}_c{}_{}x{}", s.n, s.c, s.h, s.w);
                         });

// Inputs one and two elements past an aligned address cannot be loaded four at a time: the kernel takes them one at
// a time and gives the same values as on aligned copies, in either layout.
TEST(FusedSkipJoinCudaOffsets, UnalignedInputsGiveTheSameValues) {
  SCORCH_REQUIRE_CUDA();
  torch::manual_seed(7);
  const int64_t numel = 2 * 8 * 4 * 4;
  const auto base = torch::randn({2 * numel + 3}, torch::TensorOptions(kCuda).dtype(torch::kBFloat16));
  const auto bias = torch::randn({8}, torch::TensorOptions(kCuda));
  for (bool channels_last : {false, true}) {
    SCOPED_TRACE(channels_last ? "channels_last" : "NCHW");
    // (2, 8, 4, 4) views of the flat buffer at element offsets 1 and numel + 2, in NCHW or channels_last order.
    const auto view = [&](int64_t offset) {
      const auto flat = base.slice(0, offset, offset + numel);
      return channels_last ? flat.view({2, 4, 4, 8}).permute({0, 3, 1, 2}) : flat.view({2, 8, 4, 4});
    };
    const auto skip = view(1), h = view(numel + 2);
    const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    ASSERT_TRUE(skip.is_contiguous(format) && h.is_contiguous(format));
    const auto aligned = models::fused_skip_join(skip.clone(format), h.clone(format), bias, true);
    const auto unaligned = models::fused_skip_join(skip, h, bias, true);
    EXPECT_TRUE(unaligned.is_contiguous(format));
    EXPECT_TRUE(torch::equal(unaligned, aligned));
    EXPECT_LE(max_rel(aligned, join64(skip, h, bias, true)), std::ldexp(1.0, -8));
  }
}

}  // namespace
}  // namespace scorch
