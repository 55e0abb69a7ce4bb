// FIR resampling and the fused FIR convolution.
#include "core/models/fir.h"

#include <map>
#include <mutex>
#include <sstream>

#include "core/error.h"
#include "core/models/fused_fir.h"
#include "core/models/layers.h"

namespace scorch::models {

namespace {
// Python-style floor division: the padding formulas go negative for short kernels.
int64_t floordiv2(int64_t a) { return a >= 0 ? a / 2 : -((-a + 1) / 2); }

// The flipped depthwise weight (C, 1, n, n) of a FIR kernel, made once per (taps, gain, C, device, dtype).
// Building it per call meant a blocking host-to-device copy per FIR op: a stream sync in eager mode, and
// an error inside CUDA-graph capture. The cache is leaked on purpose: CUDA tensors must not be freed by
// static destructors after the driver has shut down.
torch::Tensor depthwise_fir_weight(const std::vector<int64_t>& k, double gain, int64_t channels,
                                   const torch::TensorOptions& options) {
  static auto* cache = new std::map<std::string, torch::Tensor>();
  static auto* mu = new std::mutex();
  std::ostringstream key;
  for (auto tap : k) key << tap << ',';
  key << gain << '|' << channels << '|' << options.device() << '|' << options.dtype();
  std::lock_guard<std::mutex> lock(*mu);
  auto it = cache->find(key.str());
  if (it != cache->end()) return it->second;
  auto kernel = fir_kernel_2d(k, gain);  // (n, n)
  auto w = kernel.flip({0, 1}).expand({channels, 1, kernel.size(0), kernel.size(1)}).contiguous().to(options);
  return cache->emplace(key.str(), w).first->second;
}

// Zero insertion, padding and the depthwise FIR correlation with an already flipped (C, 1, n, n) weight.
torch::Tensor upfirdn2d_flipped(const torch::Tensor& x, const torch::Tensor& w, int64_t up, int64_t down, int64_t pad0,
                                int64_t pad1) {
  const auto B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  auto h = x;
  if (up > 1) {
    // Zero insertion: every input sample followed by up-1 zeros on both axes.
    h = h.reshape({B, C, H, 1, W, 1});
    h = torch::constant_pad_nd(h, {0, up - 1, 0, 0, 0, up - 1});
    h = h.reshape({B, C, H * up, W * up});
  }
  h = torch::constant_pad_nd(h, {pad0, pad1, pad0, pad1});
  return torch::conv2d(h, w, torch::Tensor(), at::IntArrayRef{down, down}, at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1},
                       C);
}

// upfirdn2d of the separable kernel `k`: through scorch's kernel when `fused`, else with the cached depthwise
// weight in the input's dtype and device.
torch::Tensor upfirdn2d_of(const torch::Tensor& x, const std::vector<int64_t>& k, double gain, int64_t up, int64_t down,
                           int64_t pad0, int64_t pad1, bool fused) {
  if (fused) return fused_upfirdn2d(x, k, gain, up, down, pad0, pad1);
  return upfirdn2d_flipped(x, depthwise_fir_weight(k, gain, x.size(1), x.options()), up, down, pad0, pad1);
}
}  // namespace

torch::Tensor fir_kernel_2d(const std::vector<int64_t>& k, double gain) {
  SCORCH_CHECK(!k.empty(), "FIR kernel is empty");
  auto k1 = torch::tensor(std::vector<float>(k.begin(), k.end()));  // (n,)
  auto k2 = torch::outer(k1, k1);                                   // (n, n)
  return k2 / k2.sum() * gain;
}

torch::Tensor upfirdn2d(const torch::Tensor& x, const torch::Tensor& kernel, int64_t up, int64_t down, int64_t pad0,
                        int64_t pad1) {
  // conv2d correlates, so the kernel is flipped to convolve.
  auto w = kernel.flip({0, 1}).to(x.options()).expand({x.size(1), 1, kernel.size(0), kernel.size(1)});
  return upfirdn2d_flipped(x, w.contiguous(), up, down, pad0, pad1);
}

torch::Tensor fir_upsample_2d(const torch::Tensor& x, const std::vector<int64_t>& k, bool fused) {
  const int64_t p = static_cast<int64_t>(k.size()) - 2;
  return upfirdn2d_of(x, k, 4.0, 2, 1, floordiv2(p + 1) + 1, floordiv2(p), fused);
}

torch::Tensor fir_downsample_2d(const torch::Tensor& x, const std::vector<int64_t>& k, bool fused) {
  const int64_t p = static_cast<int64_t>(k.size()) - 2;
  return upfirdn2d_of(x, k, 1.0, 1, 2, floordiv2(p + 1), floordiv2(p), fused);
}

torch::Tensor naive_upsample_2d(const torch::Tensor& x) {
  return torch::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2});
}

torch::Tensor naive_downsample_2d(const torch::Tensor& x) { return torch::avg_pool2d(x, {2, 2}, {2, 2}); }

FirConv2dImpl::FirConv2dImpl(const FirConv2dOptions& options_) : options(options_) {
  SCORCH_CHECK(!(options.up() && options.down()), "FirConv2d: up and down together");
  SCORCH_CHECK(options.kernel() >= 1 && options.kernel() % 2 == 1, "FirConv2d: kernel {} must be odd",
               options.kernel());
  const auto k = options.kernel();
  weight = register_parameter("weight", default_init({options.out_ch(), options.in_ch(), k, k}));
  bias = register_parameter("bias", torch::zeros({options.out_ch()}));
}

torch::Tensor FirConv2dImpl::forward(const torch::Tensor& x) {
  const auto& rk = options.resample_kernel();
  const int64_t conv = options.kernel(), taps = static_cast<int64_t>(rk.size());
  torch::Tensor h;
  if (options.up()) {
    // Transposed stride-2 convolution of the flipped weight = correlation of the zero-inserted input with
    // the weight over its full support; the FIR blur then fills the zeros and the padding crops to 2H × 2W.
    const int64_t p = (taps - 2) - (conv - 1);
    auto w = weight.flip({2, 3}).transpose(0, 1);  // (in, out, k, k) for conv_transpose2d
    h = torch::conv_transpose2d(x, w.to(x.scalar_type()), torch::Tensor(), at::IntArrayRef{2, 2});
    h = upfirdn2d_of(h, rk, 4.0, 1, 1, floordiv2(p + 1) + 1, floordiv2(p) + 1,
                     switch_applies(options.fused_fir(), x.is_cuda()));
  } else if (options.down()) {
    const int64_t p = (taps - 2) + (conv - 1);
    h = upfirdn2d_of(x, rk, 1.0, 1, 1, floordiv2(p + 1), floordiv2(p),
                     switch_applies(options.fused_fir(), x.is_cuda()));
    h = torch::conv2d(h, weight.to(x.scalar_type()), torch::Tensor(), at::IntArrayRef{2, 2});
  } else {
    h = torch::conv2d(x, weight.to(x.scalar_type()), torch::Tensor(), at::IntArrayRef{1, 1},
                      at::IntArrayRef{conv / 2, conv / 2});
  }
  return h + bias.to(h.scalar_type()).view({1, -1, 1, 1});
}

}  // namespace scorch::models
