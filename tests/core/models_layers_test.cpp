// Building blocks of the score networks against independent formulations: FIR resampling, the fused FIR
// up-convolution, the time embedding, gradient checkpointing, attention (tests/core/memory_format_test.cpp: layouts).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/autocast.h"
#include "core/config.h"
#include "core/cpu_memory_meter.h"
#include "core/models/attention.h"
#include "core/models/embeddings.h"
#include "core/models/fir.h"
#include "core/models/grad_checkpoint.h"
#include "core/models/resblocks.h"
#include "core/models/score_model.h"
#include "support/checks.h"
#include "support/run.h"

namespace scorch::models {
namespace {

using test::max_rel;

// float32 convolutions summed in different orders: a few ulps relative to the output scale.
constexpr double kFloatTol = 1e-5;

TEST(Fir, UpsampleEqualsDepthwiseTransposedConvAndZeroPadsBorders) {
  torch::manual_seed(1);
  auto x = torch::randn({2, 3, 8, 8});
  auto k = fir_kernel_2d({1, 3, 3, 1}, 4.0).view({1, 1, 4, 4}).expand({3, 1, 4, 4}).contiguous();
  auto ref = torch::conv_transpose2d(x, k, {}, 2, 1, 0, 3);
  EXPECT_LE(max_rel(fir_upsample_2d(x, {1, 3, 3, 1}, /*fused=*/false), ref), kFloatTol);
  // Constant image: the corner sees 3/4 of the kernel on each axis -> 0.75² = 0.5625; the interior is 1.
  auto up = fir_upsample_2d(torch::ones({1, 1, 4, 4}), {1, 3, 3, 1}, /*fused=*/false);
  EXPECT_NEAR(up[0][0][0][0].item<float>(), 0.5625f, 1e-6);
  EXPECT_NEAR(up[0][0][3][3].item<float>(), 1.0f, 1e-6);
  auto down = fir_downsample_2d(torch::ones({1, 1, 8, 8}), {1, 3, 3, 1}, /*fused=*/false);
  EXPECT_EQ(down.sizes(), (std::vector<int64_t>{1, 1, 4, 4}));
  EXPECT_NEAR(down[0][0][0][0].item<float>(), 0.765625f, 1e-6);  // (7/8)² of the kernel mass
  EXPECT_NEAR(down[0][0][2][2].item<float>(), 1.0f, 1e-6);
}

TEST(Fir, DownsampleEqualsStridedDepthwiseConv) {
  torch::manual_seed(2);
  auto x = torch::randn({2, 3, 8, 8});
  auto k = fir_kernel_2d({1, 3, 3, 1}).view({1, 1, 4, 4}).expand({3, 1, 4, 4}).contiguous();
  auto ref = torch::conv2d(x, k, {}, 2, 1, 1, 3);
  EXPECT_LE(max_rel(fir_downsample_2d(x, {1, 3, 3, 1}, /*fused=*/false), ref), kFloatTol);
}

// The reference's Conv2d(up=True) crashes; it is StyleGAN2's fused "upsample, then 3×3 conv" (as the JAX
// score_sde runs it): zero insertion, the 3×3 correlation over its full support, then the FIR blur, with
// padding applied once at the start. Written out here with plain ops (no transposed conv, no flips).
torch::Tensor naive_fused_up_conv(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                                  const std::vector<int64_t>& rk) {
  const auto B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  auto z = torch::zeros({B, C, 2 * H - 1, 2 * W - 1});
  z.index_put_({torch::indexing::Slice(), torch::indexing::Slice(), torch::indexing::Slice(0, torch::indexing::None, 2),
                torch::indexing::Slice(0, torch::indexing::None, 2)},
               x);
  auto y = torch::conv2d(z, w, {}, 1, 2);  // full correlation: (B, out, 2H+1, 2W+1)
  const int64_t taps = static_cast<int64_t>(rk.size());
  const int64_t p = (taps - 2) - 2;
  const int64_t pad0 = (p + 1 >= 0 ? (p + 1) / 2 : -((-(p + 1) + 1) / 2)) + 1;
  const int64_t pad1 = (p >= 0 ? p / 2 : -((-p + 1) / 2)) + 1;
  auto k = fir_kernel_2d(rk, 4.0);
  y = torch::constant_pad_nd(y, {pad0, pad1, pad0, pad1});
  const auto O = y.size(1);
  auto blur = k.flip({0, 1}).view({1, 1, taps, taps}).expand({O, 1, taps, taps}).contiguous();
  return torch::conv2d(y, blur, torch::Tensor(), at::IntArrayRef{1, 1}, at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1},
                       O) +
         b.view({1, -1, 1, 1});
}

TEST(Fir, UpConvIsTheFusedUpsampleConv) {
  torch::manual_seed(3);
  for (std::vector<int64_t> rk :
       {std::vector<int64_t>{1, 3, 3, 1}, std::vector<int64_t>{1, 1}, std::vector<int64_t>{1, 2, 1}}) {
    SCOPED_TRACE(rk.size());
    FirConv2d conv(FirConv2dOptions(4, 6).up(true).resample_kernel(rk));
    {
      torch::NoGradGuard g;
      conv->bias.normal_();
    }
    auto x = torch::randn({2, 4, 6, 6});
    auto fused = conv->forward(x);
    ASSERT_EQ(fused.sizes(), (std::vector<int64_t>{2, 6, 12, 12}));
    EXPECT_LE(max_rel(fused, naive_fused_up_conv(x, conv->weight, conv->bias, rk)), kFloatTol);
    // Away from the border (where the fused op keeps the conv's full support) it is exactly
    // FIR upsampling followed by a "same" 3×3 convolution.
    auto naive = torch::conv2d(fir_upsample_2d(x, rk, /*fused=*/false), conv->weight, conv->bias, 1, 1);
    using torch::indexing::Slice;
    auto inner = Slice(3, -3);
    EXPECT_LE(max_rel(fused.index({Slice(), Slice(), inner, inner}), naive.index({Slice(), Slice(), inner, inner})),
              kFloatTol);
  }
}

// Against the textbook formula in float64: (x - mean) / sqrt(var + eps) per (example, group), then the
// per-channel affine; float32 in, float32 out.
TEST(GroupNorm, EqualsTheFormulaAndKeepsTheReferenceNames) {
  torch::manual_seed(2);
  GroupNorm gn(2, 6, 1e-6);
  {
    torch::NoGradGuard no_grad;
    gn->weight.uniform_(0.5, 1.5);
    gn->bias.uniform_(-1, 1);
  }
  auto x = torch::randn({3, 6, 4, 5}) * 3 + 1;  // (B, C, H, W)
  auto g = x.to(torch::kFloat64).view({3, 2, -1});
  auto mean = g.mean(-1, true), var = g.var(-1, /*unbiased=*/false, true);
  auto ref = ((g - mean) / (var + 1e-6).sqrt()).view({3, 6, 4, 5}) * gn->weight.to(torch::kFloat64).view({1, 6, 1, 1}) +
             gn->bias.to(torch::kFloat64).view({1, 6, 1, 1});
  auto y = gn->forward(x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_LE(max_rel(y, ref), kFloatTol);
  std::vector<std::string> names;
  for (const auto& p : gn->named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names, (std::vector<std::string>{"weight", "bias"}));
}

// Under bf16 autocast a bf16 input stays bf16 (autocast alone would run GroupNorm in float32 and return
// float32), with float32 statistics: the output is the float32 normalisation of the same values rounded
// once to bf16 (2^-8 relative, 4e-3 of the output scale), and the parameters' gradients are float32 and
// agree to bf16 rounding. A float32 input under autocast keeps autocast's float32 rule.
TEST(GroupNorm, KeepsA16BitAutocastInputIn16BitsWithFloat32Statistics) {
  torch::manual_seed(3);
  GroupNorm gn(4, 8, 1e-6), ref(4, 8, 1e-6);
  auto x = (torch::randn({2, 8, 6, 6}) * 2 + 3).to(torch::kBFloat16);  // (B, C, H, W)
  torch::Tensor y, y_ref = ref->forward(x.to(torch::kFloat32));
  {
    AutocastGuard autocast(torch::kCPU, true, torch::kBFloat16);
    y = gn->forward(x);
    EXPECT_EQ(gn->forward(x.to(torch::kFloat32)).scalar_type(), torch::kFloat32);
  }
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  EXPECT_LE(max_rel(y, y_ref), 4e-3);
  auto w = torch::randn(y.sizes());
  (y.to(torch::kFloat32) * w).sum().backward();
  (y_ref * w).sum().backward();
  EXPECT_EQ(gn->weight.grad().scalar_type(), torch::kFloat32);
  EXPECT_LE(max_rel(gn->weight.grad(), ref->weight.grad()), 2e-2);
  EXPECT_LE(max_rel(gn->bias.grad(), ref->bias.grad()), 2e-2);
}

TEST(Embeddings, TimestepEmbeddingMatchesClosedForm) {
  auto t = torch::tensor({0.0f, 3.5f, 999.0f});
  const int64_t dim = 9, half = 4;
  auto e = timestep_embedding(t, dim);
  ASSERT_EQ(e.sizes(), (std::vector<int64_t>{3, dim}));
  for (int b = 0; b < 3; ++b)
    for (int i = 0; i < half; ++i) {
      const double arg = t[b].item<double>() * std::exp(-i * std::log(10000.0) / (half - 1));
      EXPECT_NEAR(e[b][i].item<double>(), std::sin(arg), 2e-4);  // float32 argument up to ~1e3
      EXPECT_NEAR(e[b][half + i].item<double>(), std::cos(arg), 2e-4);
    }
  EXPECT_EQ(e.select(1, dim - 1).abs().max().item<float>(), 0.0f);  // odd dim: zero pad
}

TEST(Checkpoint, RecomputesInBackwardAndGivesTheSameGradients) {
  int calls = 0;
  auto w = torch::randn({5}, torch::requires_grad());
  auto x = torch::randn({5}, torch::requires_grad());
  BlockFn fn = [&](const std::vector<torch::Tensor>& in) {
    ++calls;
    return torch::dropout(in[0] * w, 0.5, true).sin();
  };
  torch::manual_seed(7);
  auto y = checkpoint(fn, {x, torch::Tensor()}, {w});
  EXPECT_EQ(calls, 1);
  y.sum().backward();
  EXPECT_EQ(calls, 2);  // recomputed once in backward
  auto gx = x.grad().clone(), gw = w.grad().clone();
  x.mutable_grad().reset();
  w.mutable_grad().reset();
  torch::manual_seed(7);
  auto y2 = torch::dropout(x * w, 0.5, true).sin();
  y2.sum().backward();
  EXPECT_TRUE(torch::equal(y, y2));
  EXPECT_TRUE(torch::allclose(gx, x.grad(), 0, 1e-6));  // same dropout mask replayed
  EXPECT_TRUE(torch::allclose(gw, w.grad(), 0, 1e-6));
}

// Backward usually runs after the forward's autocast scope has closed, so the recompute is the only autocast
// scope around its casts: they must be dropped with it, or the next forward (after the optimizer has
// changed the weights in place) would read the old bf16 copies.
TEST(Checkpoint, RecomputeUnderAutocastLeavesNoCastWeightsBehind) {
  auto x = torch::randn({4, 8});
  auto w = torch::randn({8, 3}, torch::requires_grad());
  BlockFn fn = [&](const std::vector<torch::Tensor>& in) { return torch::mm(in[0], w); };
  torch::Tensor y;
  {
    AutocastGuard autocast(torch::kCPU, true, at::kBFloat16);
    y = checkpoint(fn, {x}, {w});
  }
  y.to(torch::kFloat32).sum().backward();
  {
    torch::NoGradGuard no_grad;
    w.mul_(2);
  }
  AutocastGuard autocast(torch::kCPU, true, at::kBFloat16);
  EXPECT_TRUE(torch::equal(torch::mm(x, w), torch::mm(x.to(torch::kBFloat16), w.detach().to(torch::kBFloat16))));
}

Config tiny_config(bool checkpointing, std::vector<std::string> sets = {}) {
  sets.push_back("model.dropout=0.3");
  sets.push_back(std::string("model.grad_checkpointing=") + (checkpointing ? "true" : "false"));
  return Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml", sets);
}

// Gradients of a network trained with and without checkpointing, from the same weights and dropout masks.
void expect_checkpointed_gradients_match(const std::vector<std::string>& sets) {
  SCOPED_TRACE(fmt::format("{}", fmt::join(sets, " ")));
  torch::manual_seed(11);
  auto plain = models::make_model(tiny_config(false, sets));
  torch::manual_seed(11);
  auto ckpt = models::make_model(tiny_config(true, sets));
  ASSERT_TRUE(ckpt->grad_checkpointing());
  auto x = torch::rand({2, 3, 16, 16});
  auto sigma = torch::tensor({0.5f, 3.0f});
  plain->train();
  ckpt->train();
  torch::manual_seed(5);
  auto a = plain->forward(x, sigma);
  a.square().mean().backward();
  torch::manual_seed(5);
  auto b = ckpt->forward(x, sigma);
  b.square().mean().backward();
  EXPECT_LE(max_rel(b, a), 1e-6);
  auto pa = plain->named_parameters(), pb = ckpt->named_parameters();
  // Some gradients are zero in exact arithmetic (the attention key bias: softmax ignores a per-query
  // constant) and pure rounding noise in float32; compare on the scale of the largest gradient.
  double scale = 0;
  for (const auto& item : pa)
    if (item.value().grad().defined()) scale = std::max(scale, item.value().grad().abs().max().item<double>());
  int compared = 0;
  for (const auto& item : pa) {
    if (!item.value().requires_grad()) continue;
    const auto& ga = item.value().grad();
    const auto& gb = pb[item.key()].grad();
    ASSERT_TRUE(ga.defined() && gb.defined()) << item.key();
    const double err = (gb - ga).abs().max().item<double>();
    EXPECT_LE(err, 1e-5 * scale + 1e-4 * ga.abs().max().item<double>()) << item.key();
    ++compared;
  }
  EXPECT_GT(compared, 50);
}

// Every layout of NCSN++'s progressive paths (their heads and concatenations are recomputed too), the DDPM
// U-Net, and checkpointing of the widest stage alone.
TEST(Checkpoint, WholeNetworkGradientsMatchWithDropoutInTraining) {
  expect_checkpointed_gradients_match({});
  expect_checkpointed_gradients_match({"model.progressive=output_skip", "model.progressive_input=input_skip"});
  expect_checkpointed_gradients_match({"model.progressive=residual", "model.progressive_input=residual"});
  expect_checkpointed_gradients_match({"model.progressive=output_skip", "model.grad_checkpointing_min_resolution=16"});
  expect_checkpointed_gradients_match(
      {"model.name=ddpm", "model.nf=32", "model.scale_by_sigma=false", "model.embedding_type=positional"});
}

// Bytes of CPU tensors a training forward of ve_tiny at 32x32 (output and input skips, as the 1024² FFHQ
// config) leaves held for backward, per image, with `sets`.
int64_t kept_for_backward(const std::vector<std::string>& sets) {
  // ve_tiny's attention width (8) is no width of a 32x32 two-level network: none, as these figures were measured.
  std::vector<std::string> all = {"data.image_size=32", "model.progressive=output_skip",
                                  "model.progressive_input=input_skip", "model.dropout=0", "model.attn_resolutions=[]"};
  all.insert(all.end(), sets.begin(), sets.end());
  auto model = models::make_model(Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml", all));
  model->train();
  const int64_t batch = 4;
  auto x = torch::rand({batch, 3, 32, 32});
  auto sigma = torch::full({batch}, 2.0f);
  auto& meter = CpuMemoryMeter::instance();
  const int64_t before = meter.current_bytes();
  auto y = model->forward(x, sigma);
  const int64_t kept = meter.current_bytes() - before - y.nbytes();
  y.sum().backward();
  return kept / batch;
}

// What checkpointing keeps for backward is the stages' inputs and the skips, nothing inside a block, an
// up-path concatenation or an output head. The byte counts are exact and deterministic. Measured (per
// image): 5.00 MB without checkpointing, 3.07 MB checkpointing the widest stage (32 px) alone, 0.65 MB
// every stage (the 16 px stage holds the middle attention's 256 x 256 matrices); while the concatenations
// and heads were left outside the recompute, 3.33 MB and 1.03 MB, which the bounds below refuse.
TEST(Checkpoint, KeepsOnlyStageInputsAndSkipsForBackward) {
  const int64_t plain = kept_for_backward({});
  const int64_t widest =
      kept_for_backward({"model.grad_checkpointing=true", "model.grad_checkpointing_min_resolution=32"});
  const int64_t every = kept_for_backward({"model.grad_checkpointing=true"});
  std::printf("kept for backward per image: %lld plain, %lld widest stage checkpointed, %lld every stage\n",
              static_cast<long long>(plain), static_cast<long long>(widest), static_cast<long long>(every));
  EXPECT_LT(widest, plain * 0.64);
  EXPECT_LT(every, plain / 6);
}

TEST(Checkpoint, BlockOutputComesFromTheCheckpointNode) {
  auto block = std::make_shared<ResnetBlockBigGANImpl>(ResBlockOptions(8, 16).temb_dim(4));
  block->train();
  auto y = run_block(block, torch::randn({1, 8, 4, 4}), torch::randn({1, 4}), true);
  ASSERT_TRUE(y.grad_fn());
  EXPECT_NE(y.grad_fn()->name().find("CheckpointFunction"), std::string::npos) << y.grad_fn()->name();
}

// The fused path must compute the reference's attention: same output and same gradients (input and every
// weight) as bmm + softmax + bmm, for contiguous and channels_last activations. 1e-5: float32 sums in a
// different order over 64 tokens (measured: a few 1e-7).
TEST(Attention, FusedEqualsBmmSoftmaxInOutputAndGradients) {
  for (const bool channels_last : {false, true}) {
    torch::manual_seed(7);
    auto fused = AttnBlock(AttnBlockOptions(16).skip_rescale(true).init_scale(1.0).fused(true));
    auto plain = AttnBlock(AttnBlockOptions(16).skip_rescale(true).init_scale(1.0).fused(false));
    {
      torch::NoGradGuard no_grad;
      for (const auto& item : fused->named_parameters()) plain->named_parameters()[item.key()].copy_(item.value());
    }
    auto x = torch::randn({3, 16, 8, 8});
    if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    auto xa = x.clone().requires_grad_(true), xb = x.clone().requires_grad_(true);
    auto a = fused->forward(xa), b = plain->forward(xb);
    EXPECT_LE(max_rel(a, b), 1e-5) << "channels_last " << channels_last;
    EXPECT_TRUE(a.is_contiguous(x.suggest_memory_format())) << "the output keeps the input's layout";
    (a * a).sum().backward();
    (b * b).sum().backward();
    EXPECT_LE(max_rel(xa.grad(), xb.grad()), 1e-5) << "input gradient, channels_last " << channels_last;
    // Relative to the largest weight gradient: the key bias's gradient is zero in exact arithmetic (softmax
    // ignores a constant added to every logit of a query), so both paths give rounding noise there.
    double scale = 0;
    for (const auto& p : plain->parameters()) scale = std::max(scale, p.grad().abs().max().item<double>());
    for (const auto& item : fused->named_parameters()) {
      const auto diff = (item.value().grad() - plain->named_parameters()[item.key()].grad()).abs().max();
      EXPECT_LE(diff.item<double>(), 1e-5 * scale) << item.key() << ", channels_last " << channels_last;
    }
  }
}

TEST(Attention, ModelFusedAttentionSwitchReachesEveryBlock) {
  auto on = tiny_config(false), off = tiny_config(false);
  on.set("model.fused_attention", "true", "test");
  int64_t blocks = 0;
  for (const auto& [config, want] : {std::pair{on, true}, std::pair{off, false}})
    for (const auto& m : models::make_model(config)->modules(false))
      if (auto* attn = dynamic_cast<AttnBlockImpl*>(m.get())) {
        EXPECT_EQ(attn->options.fused(), want);
        ++blocks;
      }
  EXPECT_GE(blocks, 2);
}

}  // namespace
}  // namespace scorch::models
