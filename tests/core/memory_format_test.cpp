// Memory layout through whole networks: channels_last gives NCHW's output, and a channels_last training step (the
// weights as models::to_channels_last leaves them) keeps its activations and gradients in that layout.
#include "core/models/memory_format.h"

#include <ATen/record_function.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>

#include "core/config.h"
#include "core/models/attention.h"
#include "core/models/score_model.h"
#include "support/checks.h"
#include "support/run.h"

namespace scorch::models {
namespace {

using test::max_rel;

// float32 convolutions summed in different orders: a few ulps relative to the output scale.
constexpr double kLayoutTol = 1e-5;

Config ve_tiny(std::vector<std::string> sets = {}) {
  sets.push_back("model.dropout=0.3");
  return Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml", sets);
}

TEST(Layout, ChannelsLastInputGivesTheSameOutput) {
  torch::NoGradGuard no_grad;
  auto model = models::make_model(ve_tiny());
  model->eval();
  auto x = torch::rand({2, 3, 16, 16});
  auto sigma = torch::tensor({0.5f, 3.0f});
  auto a = model->forward(x, sigma);
  auto b = model->forward(x.contiguous(torch::MemoryFormat::ChannelsLast), sigma);
  EXPECT_LE(max_rel(b, a), kLayoutTol);
}

// A RecordFunction observer's record of the ops that take two 4-D tensors of one shape, one channels_last and one
// NCHW (neither ambiguous): on CUDA such an op cannot run a vectorized kernel, its output takes one of the two
// layouts, and a fused kernel that needs one layout (the residual join) falls back to LibTorch's ops.
struct MixedLayouts {
  static std::vector<std::string>& seen() {
    static std::vector<std::string> ops;
    return ops;
  }
  // Only operators called from outside any other: inside one, layouts are its backend's business (LibTorch's CPU
  // convolutions copy between them internally).
  static bool is_op(const at::RecordFunction& fn) { return std::string_view(fn.name()).substr(0, 6) == "aten::"; }
  static int& depth() {
    static int ops = 0;
    return ops;
  }
  static void end(const at::RecordFunction& fn, at::ObserverContext*) { depth() -= is_op(fn); }
  static std::unique_ptr<at::ObserverContext> start(const at::RecordFunction& fn) {
    if (!is_op(fn) || depth()++ > 0) return nullptr;
    std::vector<at::Tensor> cl, nchw;
    const auto add = [&](const at::Tensor& t) {
      if (!t.defined() || t.dim() != 4) return;
      const bool is_cl = t.is_contiguous(at::MemoryFormat::ChannelsLast), is_nchw = t.is_contiguous();
      if (is_cl != is_nchw) (is_cl ? cl : nchw).push_back(t);
    };
    for (const auto& v : fn.inputs()) {
      if (v.isTensor()) add(v.toTensor());
      if (v.isTensorList())
        for (const auto& t : v.toTensorVector()) add(t);
    }
    for (const auto& a : cl)
      for (const auto& b : nchw)
        if (a.sizes() == b.sizes()) {
          seen().push_back(fmt::format("{} on {}", fn.name(), c10::str(a.sizes())));
          return nullptr;
        }
    return nullptr;
  }
};

// Ops seen with a channels_last training forward and backward of `model` (weights and input channels_last, as
// training.channels_last makes them) that mix layouts.
std::vector<std::string> mixed_layout_ops(const std::shared_ptr<ScoreModelImpl>& model) {
  models::to_channels_last(*model);
  model->train();
  const auto x = torch::rand({2, 3, 16, 16}).contiguous(torch::MemoryFormat::ChannelsLast);  // (B, C, H, W)
  MixedLayouts::seen().clear();
  const auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(&MixedLayouts::start, &MixedLayouts::end).needsInputs(true));
  const auto y = model->forward(x, torch::tensor({0.5f, 3.0f}));
  y.square().sum().backward();
  at::removeCallback(handle);
  EXPECT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast));
  return MixedLayouts::seen();
}

// The mixed-layout ops of a channels_last training step but one per attention block on the bmm path: its key
// projection's convolution backward, which gets bmm's gradient for its second operand, contiguous as (B, C, N),
// i.e. NCHW (the GPU converts it: one copy of a 16² tensor per block; scaled_dot_product_attention's gradients
// keep the tokens' layout). All attention of the tiny networks is at 8².
std::vector<std::string> unexpected_mixed_layout_ops(const std::shared_ptr<ScoreModelImpl>& model) {
  std::vector<std::string> expected;
  for (const auto& m : model->modules(false))
    if (const auto* block = dynamic_cast<AttnBlockImpl*>(m.get()); block && !block->options.fused())
      expected.push_back(fmt::format("aten::convolution_backward on [2, {}, 8, 8]", block->options.channels()));
  auto mixed = mixed_layout_ops(model);
  for (const auto& key : expected) {
    const auto at = std::find(mixed.begin(), mixed.end(), key);
    EXPECT_NE(at, mixed.end()) << "no " << key << " (attention's key projection)";
    if (at != mixed.end()) mixed.erase(at);
  }
  return mixed;
}

// With scorch's kernels forced on (their CPU loops), and GroupNorm_0 handing on the blocks' inputs, a channels_last
// training step keeps every other activation and gradient in one layout, for NCSN++'s arrangements of pyramids and
// blocks, both attention paths and the DDPM U-Net. It caught attention's bmm path handing NIN_3 an NCHW product (its
// join then fell back to LibTorch's ops and added NCHW to channels_last).
TEST(Layout, ChannelsLastTrainingStepNeverMixesLayouts) {
  const std::vector<std::vector<std::string>> arrangements = {
      {},
      {"model.fused_attention=true"},
      {"model.progressive=output_skip", "model.progressive_input=input_skip", "model.progressive_combine=cat"},
      {"model.resblock_type=ddpm", "model.fir=false", "model.progressive=residual"},
      {"model.name=ddpm", "model.nf=32"}};
  for (auto sets : arrangements) {
    SCOPED_TRACE(fmt::format("{}", fmt::join(sets, " ")));
    for (const char* key : {"model.fused_group_norm", "model.fused_fir", "model.fold_time_bias",
                            "model.fused_skip_join", "model.fused_input_grad"})
      sets.push_back(std::string(key) + "=true");
    torch::manual_seed(3);
    const auto mixed = unexpected_mixed_layout_ops(models::make_model(ve_tiny(sets)));
    EXPECT_TRUE(mixed.empty()) << fmt::format("{}", fmt::join(mixed, "\n"));
  }
}

// Attention's output reaches the fused join in the activations' layout on both paths.
TEST(Layout, ChannelsLastAttentionTakesTheFusedJoin) {
  for (const bool fused : {false, true}) {
    SCOPED_TRACE(fused ? "scaled_dot_product_attention" : "bmm + softmax + bmm");
    AttnBlock block(AttnBlockOptions(16).skip_rescale(true).fused(fused).fused_skip_join(Switch::On));
    const auto y = block->forward(torch::randn({2, 16, 8, 8}).contiguous(torch::MemoryFormat::ChannelsLast), {});
    EXPECT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast));
    ASSERT_TRUE(y.grad_fn());
    EXPECT_NE(y.grad_fn()->name().find("FusedSkipJoin"), std::string::npos) << y.grad_fn()->name();
  }
}

}  // namespace
}  // namespace scorch::models
