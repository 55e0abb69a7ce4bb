// fused_upfirdn2d's CUDA kernel against float64 FIR resampling on the CPU (fir.h's upfirdn2d): the networks'
// resamplings (tests/support/fir_cases.h) at shapes of NCSN++'s stages and odd ones, both layouts, the input's
// gradient, and the same bits on every call; both kernels (a thread per sample, a thread per 16-byte channel group).
#include <fmt/format.h>

#include <cmath>

#include "core/models/fir.h"
#include "core/models/fused_fir.h"
#include "cuda/cuda_test_util.h"
#include "support/fir_cases.h"

namespace scorch {
namespace {

using test::kCuda;
using test::max_rel;

using test::FirCase;

struct Shape {
  int64_t n, c, h, w;
};

class FusedFirCuda : public ::testing::TestWithParam<Shape> {};

// Output and input gradient for a probe, on `x`'s device.
std::pair<torch::Tensor, torch::Tensor> run(const torch::Tensor& x0, const torch::Tensor& probe, const FirCase& c,
                                            bool fused) {
  auto x = x0.detach().clone().requires_grad_(true);
  const auto y = fused ? test::fused_fir(x, c) : test::reference_fir(x, c);
  y.backward(probe.to(y.device(), y.scalar_type()));
  return {y.detach(), x.grad()};
}

// float32: within 1e-6 of the largest value of float64's result (at most 16 products in float32). bfloat16 and
// float16 accumulate in float32 and round once: within 2^-8 of float64 on the same rounded inputs. A wrong index,
// tap or padding is off by a tenth or more.
TEST_P(FusedFirCuda, EqualsFloat64OnTheCpu) {
  SCORCH_REQUIRE_CUDA();
  const auto s = GetParam();
  torch::manual_seed(s.c + s.h);
  for (const auto& c : test::fir_cases())
    for (const auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kHalf}) {
      const auto x = torch::randn({s.n, s.c, s.h, s.w}).to(dtype);
      const auto out_shape = test::reference_fir(x.to(torch::kFloat64), c).sizes().vec();
      const auto probe = torch::randn(out_shape).to(dtype);
      const auto exact = run(x.to(torch::kFloat64), probe.to(torch::kFloat64), c, false);  // the layout's own
      for (const auto format : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
        SCOPED_TRACE(fmt::format("{}, {}, {}", c.what, c10::str(format), c10::toString(dtype)));
        const auto x_gpu = x.to(kCuda).contiguous(format), probe_gpu = probe.to(kCuda).contiguous(format);
        const auto ours = run(x_gpu, probe_gpu, c, true);
        EXPECT_EQ(ours.first.scalar_type(), dtype);
        EXPECT_TRUE(ours.first.is_contiguous(format));
        EXPECT_TRUE(ours.second.is_contiguous(format));
        const double tol = dtype == torch::kFloat32 ? 1e-6 : std::ldexp(1.0, -8);
        EXPECT_LE(max_rel(ours.first, exact.first), tol);
        EXPECT_LE(max_rel(ours.second, exact.second), tol);
        const auto again = run(x_gpu, probe_gpu, c, true);
        EXPECT_TRUE(torch::equal(again.first, ours.first) && torch::equal(again.second, ours.second))
            << "a thread per output sample, sums in a fixed order: every call gives the same bits";
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Shapes, FusedFirCuda,
                         ::testing::Values(Shape{2, 3, 5, 7},        // odd and not square
                                           Shape{3, 5, 2, 2},        // the least every resampling fits
                                           Shape{2, 12, 9, 9},       // channel groups in float32 only
                                           Shape{16, 128, 32, 32},   // NCSN++ CIFAR-10's first stage
                                           Shape{2, 64, 256, 256}),  // a 256² stage
                         [](const auto& info) {
                           const auto& s = info.param;
                           return fmt::format("n{}_c{}_{}x{}", s.n, s.c, s.h, s.w);
                         });

// Channels_last data 2 bytes past a 16-byte boundary: the kernel of 16-byte channel groups cannot load it, so the
// one of a thread per sample must take it (a 16-byte load from there faults: "misaligned address").
TEST(FusedFirCuda, UnalignedChannelsLastDataTakesTheSampleKernel) {
  SCORCH_REQUIRE_CUDA();
  const FirCase down{"downsample [1,3,3,1]", {1, 3, 3, 1}, 1.0, 1, 2, 1, 1};
  const int64_t n = 2, c = 16, h = 8, w = 8;
  torch::manual_seed(7);
  const auto buffer = torch::randn({n * c * h * w + 1}, torch::TensorOptions().device(kCuda).dtype(torch::kBFloat16));
  const auto x = buffer.narrow(0, 1, n * c * h * w).as_strided({n, c, h, w}, {h * w * c, 1, w * c, c});
  ASSERT_TRUE(x.is_contiguous(at::MemoryFormat::ChannelsLast));
  ASSERT_NE(reinterpret_cast<uintptr_t>(x.data_ptr()) % 16, 0u);
  const auto ours = test::fused_fir(x, down);
  EXPECT_LE(max_rel(ours, test::reference_fir(x.cpu().to(torch::kFloat64), down)), std::ldexp(1.0, -8));
}

// More output samples than the launch has threads (2^28), so threads take several in the grid-stride loop:
// against LibTorch's own CUDA FIR resampling in float16 (both round once from float32 sums).
TEST(FusedFirCudaLarge, GridStrideCoversEveryOutputSample) {
  SCORCH_REQUIRE_CUDA();
  const FirCase blur{"up-conv blur", {1, 3, 3, 1}, 4.0, 1, 1, 1, 1};
  torch::manual_seed(5);
  const auto x = torch::randn({33, 128, 256, 256}, torch::TensorOptions().device(kCuda).dtype(torch::kHalf));
  const auto ours = test::fused_fir(x, blur);
  const auto theirs = test::reference_fir(x, blur);
  ASSERT_GT(ours.numel(), int64_t{1} << 28);
  EXPECT_LE(max_rel(ours, theirs), std::ldexp(1.0, -7));
}

// The same for the kernel of 16-byte channel groups on channels_last data: more groups than threads (2^28 groups of
// 8 in float16 are over 2^31 samples, so the indices are 64-bit too). Compared on the GPU: in float64 on the CPU the
// 2^31 samples would take 17 GB per tensor.
TEST(FusedFirCudaLarge, GridStrideCoversEveryChannelGroup) {
  SCORCH_REQUIRE_CUDA();
  const FirCase blur{"up-conv blur", {1, 3, 3, 1}, 4.0, 1, 1, 1, 1};
  torch::manual_seed(5);
  const auto x = torch::randn({65, 128, 512, 512}, torch::TensorOptions().device(kCuda).dtype(torch::kHalf))
                     .contiguous(at::MemoryFormat::ChannelsLast);
  const auto ours = test::fused_fir(x, blur);
  ASSERT_TRUE(ours.is_contiguous(at::MemoryFormat::ChannelsLast));
  ASSERT_GT(ours.numel() / 8, int64_t{1} << 28);
  const auto theirs = test::reference_fir(x, blur).to(torch::kFloat32);
  const double rel = ((ours.to(torch::kFloat32) - theirs).abs().max() / theirs.abs().max()).item<double>();
  EXPECT_LE(rel, std::ldexp(1.0, -7));
}

// One plane of more than 2^31 samples (46342²): offsets into the input must be formed in 64 bits, or the last
// rows are read from outside the tensor. The output's last rows against the same downsampling of the input's last
// 64 rows alone, whose first output row sees the padding instead of the row above (hence compared from the second).
TEST(FusedFirCudaLarge, APlaneOfMoreThan2To31Samples) {
  SCORCH_REQUIRE_CUDA();
  const FirCase down{"downsample [1,3,3,1]", {1, 3, 3, 1}, 1.0, 1, 2, 1, 1};
  const int64_t side = 46342, tail = 64;
  ASSERT_GT(side * side, int64_t{1} << 31);
  torch::manual_seed(6);
  const auto x = torch::randn({1, 1, side, side}, torch::TensorOptions().device(kCuda).dtype(torch::kHalf));
  const auto out = test::fused_fir(x, down);                                             // (1, 1, side/2, side/2)
  const auto last = test::fused_fir(x.narrow(2, side - tail, tail).contiguous(), down);  // (1, 1, tail/2, side/2)
  const auto from_full = out.narrow(2, (side - tail) / 2 + 1, tail / 2 - 1);
  EXPECT_TRUE(torch::equal(from_full, last.narrow(2, 1, tail / 2 - 1)))
      << "max |difference| "
      << (from_full.to(torch::kFloat32) - last.narrow(2, 1, tail / 2 - 1).to(torch::kFloat32))
             .abs()
             .max()
             .item<float>();
}

}  // namespace
}  // namespace scorch
