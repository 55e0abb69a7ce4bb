// FIR resampling through scorch's kernel, in the input's layout (see fused_fir.h).
#include "core/models/fused_fir.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <algorithm>

#include "core/error.h"
#include "core/models/fused_fir_math.h"
#include "core/models/kernel_tensors.h"

#if SCORCH_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "core/models/fused_fir_kernels.h"
#endif

namespace scorch::models {
namespace {

using torch::Tensor;

// taps: the 1-D kernel already flipped and normalised.
fused_fir::Filter filter_of(const std::vector<double>& taps, double gain, int64_t up, int64_t down, int64_t pad0) {
  fused_fir::Filter f{};
  f.n = static_cast<int>(taps.size());
  for (int i = 0; i < f.n; ++i) f.taps[i] = static_cast<float>(taps[i]);
  f.gain = static_cast<float>(gain);
  f.up = static_cast<int>(up);
  f.down = static_cast<int>(down);
  f.pad0 = static_cast<int>(pad0);
  return f;
}

// Every output sample of x through output_sample: the kernel on CUDA, a loop on the CPU, both in x's layout. On
// channels_last data whose channels divide into groups the loop walks the kernel's groups (channel_group_sample),
// else (image, channel) planes.
Tensor resample(const Tensor& input, const fused_fir::Filter& f, int64_t oh, int64_t ow) {
  const auto format = layout_of(input);
  const auto x = input.contiguous(format);  // (N, C, H, W)
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  auto out = torch::empty({n, c, oh, ow}, x.options().memory_format(format));  // (N, C, H', W')
#if SCORCH_WITH_CUDA
  if (x.is_cuda()) {
    const c10::cuda::CUDAGuard guard(x.device());
    fused_fir::upfirdn2d(kernel_dtype(x.scalar_type()), kernel_layout(format), x.data_ptr(), out.data_ptr(), f, n, c, h,
                         w, oh, ow, c10::cuda::getCurrentCUDAStream().stream());
    return out;
  }
#endif
  const auto xs = x.strides(), os = out.strides();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "fused_upfirdn2d", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* src = x.const_data_ptr<scalar_t>();
    scalar_t* dst = out.mutable_data_ptr<scalar_t>();
    constexpr int K = kLanes16<scalar_t>;
    using Lanes = fused_fir::Lanes<acc_t, K>;
    fused_fir::with_shape(f, [&](auto shape) {
      using S = decltype(shape);
      if (format == at::MemoryFormat::ChannelsLast && c % K == 0) {
        const auto load = [&](int64_t offset) {
          Lanes l;
          for (int k = 0; k < K; ++k) l.v[k] = static_cast<acc_t>(src[offset + k]);
          return l;
        };
        const int64_t groups = c / K;
        at::parallel_for(0, n * oh * ow * groups, 256, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            const Lanes v = fused_fir::channel_group_sample<acc_t, K, S::n, S::up, S::down>(
                f, groups, static_cast<int>(h), static_cast<int>(w), static_cast<int>(oh), static_cast<int>(ow), i,
                load);
            for (int k = 0; k < K; ++k) dst[i * K + k] = static_cast<scalar_t>(v.v[k]);
          }
        });
        return;
      }
      at::parallel_for(0, n * c, 1, [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
          const scalar_t* plane = src + (p / c) * xs[0] + (p % c) * xs[1];
          scalar_t* o = dst + (p / c) * os[0] + (p % c) * os[1];
          const auto at = [&](int iy, int ix) { return static_cast<acc_t>(plane[iy * xs[2] + ix * xs[3]]); };
          for (int oy = 0; oy < oh; ++oy)
            for (int ox = 0; ox < ow; ++ox)
              o[oy * os[2] + ox * os[3]] = static_cast<scalar_t>(fused_fir::output_sample<acc_t, S::n, S::up, S::down>(
                  f, static_cast<int>(h), static_cast<int>(w), oy, ox, at));
        }
      });
    });
  });
  return out;
}

class FusedFirFunction : public torch::autograd::Function<FusedFirFunction> {
 public:
  // taps flipped and normalised; the output (oh, ow) is given, as the backward's follows from the input's size.
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& x, const std::vector<double>& taps,
                        double gain, int64_t up, int64_t down, int64_t pad0, int64_t oh, int64_t ow) {
    ctx->saved_data["taps"] = taps;
    ctx->saved_data["gain"] = gain;
    ctx->saved_data["up"] = up;
    ctx->saved_data["down"] = down;
    ctx->saved_data["pad0"] = pad0;
    ctx->saved_data["h"] = x.size(2);
    ctx->saved_data["w"] = x.size(3);
    return resample(x, filter_of(taps, gain, up, down, pad0), oh, ow);
  }

  // out[o] = Σ_t taps[t]·u[o·down + t − pad0] with u[i·up] = x[i], so dx[i] = Σ_o dout[o]·taps[i·up + pad0 − o·down]:
  // the same resampling of dout with down zeros inserted, decimation by up, the taps reversed and
  // pad0' = n − 1 − pad0. Through apply, so that under create_graph the backward is differentiable in turn.
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    torch::autograd::tensor_list none(8);
    if (!grads[0].defined()) return none;
    auto taps = ctx->saved_data["taps"].toDoubleVector();
    std::reverse(taps.begin(), taps.end());
    const auto n = static_cast<int64_t>(taps.size());
    none[0] =
        FusedFirFunction::apply(grads[0], taps, ctx->saved_data["gain"].toDouble(), ctx->saved_data["down"].toInt(),
                                ctx->saved_data["up"].toInt(), n - 1 - ctx->saved_data["pad0"].toInt(),
                                ctx->saved_data["h"].toInt(), ctx->saved_data["w"].toInt());
    return none;
  }
};

}  // namespace

torch::Tensor fused_upfirdn2d(const torch::Tensor& x, const std::vector<int64_t>& k, double gain, int64_t up,
                              int64_t down, int64_t pad0, int64_t pad1) {
  SCORCH_CHECK(x.dim() == 4, "FIR resampling (fused): input of shape {}, expected (N, C, H, W)", c10::str(x.sizes()));
  SCORCH_CHECK(!k.empty() && static_cast<int>(k.size()) <= fused_fir::kMaxTaps,
               "FIR resampling (fused): a kernel of {} taps, expected 1 to {}", k.size(), fused_fir::kMaxTaps);
  SCORCH_CHECK(up >= 1 && down >= 1 && up <= 64 && down <= 64 && gain > 0,
               "FIR resampling (fused): up {}, down {}, gain {}: expected factors from 1 to 64 and a positive gain", up,
               down, gain);
  const auto taps_n = static_cast<int64_t>(k.size());
  const int64_t span_h = x.size(2) * up + pad0 + pad1 - taps_n, span_w = x.size(3) * up + pad0 + pad1 - taps_n;
  // Coordinates are 32-bit in the kernel (fused_fir_math.h).
  SCORCH_CHECK(x.size(2) * up < (int64_t{1} << 30) && x.size(3) * up < (int64_t{1} << 30),
               "FIR resampling (fused): an input of shape {} upsampled by {}: expected under 2^30 samples per side",
               c10::str(x.sizes()), up);
  SCORCH_CHECK(span_h >= 0 && span_w >= 0 && std::abs(pad0) <= 1024 && std::abs(pad1) <= 1024,
               "FIR resampling (fused): padding ({}, {}) leaves {} taps no room on an input of shape {}", pad0, pad1,
               taps_n, c10::str(x.sizes()));
  double sum = 0;
  for (auto tap : k) sum += static_cast<double>(tap);
  SCORCH_CHECK(sum != 0, "FIR resampling (fused): the taps sum to 0, which cannot be normalised");
  // fir_kernel_2d's outer(k, k) / sum(outer) · gain is gain · (k / Σk) ⊗ (k / Σk); flipped, as conv2d is fed.
  std::vector<double> taps(k.rbegin(), k.rend());
  for (auto& t : taps) t /= sum;

  auto input = x;
  const auto device = x.device().type();
  if (at::autocast::is_autocast_enabled(device)) {
    const auto dtype = at::autocast::get_autocast_dtype(device);
    if (x.is_floating_point() && x.scalar_type() != at::kDouble && x.scalar_type() != dtype) input = x.to(dtype);
  }
  SCORCH_CHECK(!input.is_cuda() || (SCORCH_WITH_CUDA && kernel_dtype_supported(input.scalar_type())),
               "FIR resampling (fused): a CUDA tensor of {} in a build {}: expected float32, bfloat16 or float16 with "
               "the CUDA paths compiled in",
               c10::toString(input.scalar_type()), SCORCH_WITH_CUDA ? "with the CUDA kernels" : "without CUDA paths");
  SCORCH_CHECK(input.is_floating_point(), "FIR resampling (fused): an input of {}, expected floating point",
               c10::toString(input.scalar_type()));
  return FusedFirFunction::apply(input, taps, gain, up, down, pad0, span_h / down + 1, span_w / down + 1);
}

}  // namespace scorch::models
