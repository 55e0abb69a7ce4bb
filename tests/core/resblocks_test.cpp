// The residual blocks' model.fold_time_bias and model.fused_skip_join: the convolutions they take the bias of run
// without it in every block, and the networks' outputs and gradients equal those without the switch in float64.
#include "core/models/resblocks.h"

#include <ATen/record_function.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>

#include "core/autocast.h"
#include "core/config.h"
#include "core/models/attention.h"
#include "core/models/group_norm.h"
#include "core/models/score_model.h"
#include "support/checks.h"
#include "support/run.h"

namespace scorch::models {
namespace {

std::atomic<int> convolutions_without_bias{0};

// Counts the convolutions called without a bias while alive (aten::convolution's third argument is None).
class CountConvolutionsWithoutBias {
 public:
  CountConvolutionsWithoutBias() {
    convolutions_without_bias = 0;
    handle_ = at::addThreadLocalCallback(
        at::RecordFunctionCallback([](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
          const auto inputs = fn.inputs();
          if (std::string(fn.name()) == "aten::convolution" && inputs.size() > 2 &&
              (inputs[2].isNone() || (inputs[2].isTensor() && !inputs[2].toTensor().defined())))
            ++convolutions_without_bias;
          return nullptr;
        }).needsInputs(true));
  }
  ~CountConvolutionsWithoutBias() { at::removeCallback(handle_); }
  CountConvolutionsWithoutBias(const CountConvolutionsWithoutBias&) = delete;
  CountConvolutionsWithoutBias& operator=(const CountConvolutionsWithoutBias&) = delete;

 private:
  at::CallbackHandle handle_;
};

struct NetworkCase {
  const char* what;
  std::vector<std::string> sets;
  torch::ScalarType dtype;
  double tol_output, tol_grads;
};

// In float64, the same sums in another order agree to rounding. The DDPM U-Net runs in float32, since its
// timestep embedding is float32 as the reference's is; there one rounding of the folded sum moves the output by
// about 1e-7 of its scale and gradients a little more.
const NetworkCase kNetworks[] = {
    {"ncsnpp, biggan blocks", {}, torch::kFloat64, 1e-12, 1e-10},
    {"ncsnpp, ddpm blocks", {"model.resblock_type=ddpm"}, torch::kFloat64, 1e-12, 1e-10},
    {"ddpm", {"model.name=ddpm", "model.nf=32", "model.scale_by_sigma=false"}, torch::kFloat32, 1e-5, 1e-4},
};

// The residual blocks with a time embedding, counted from the network's modules.
int blocks_with_time(torch::nn::Module& model) {
  int n = 0;
  for (const auto& m : model.modules()) {
    if (const auto* b = dynamic_cast<ResnetBlockBigGANImpl*>(m.get())) n += b->Dense_0.is_empty() ? 0 : 1;
    if (const auto* b = dynamic_cast<ResnetBlockDDPMImpl*>(m.get())) n += b->Dense_0.is_empty() ? 0 : 1;
  }
  return n;
}

// The convolutions before a join, counted from the network's modules: every residual block's Conv_1 and its skip's
// Conv_2 or NIN_0, every attention block's NIN_3.
int convolutions_before_joins(torch::nn::Module& model) {
  int n = 0;
  for (const auto& m : model.modules()) {
    if (const auto* b = dynamic_cast<ResnetBlockBigGANImpl*>(m.get())) n += b->Conv_2.is_empty() ? 1 : 2;
    if (const auto* b = dynamic_cast<ResnetBlockDDPMImpl*>(m.get())) n += b->NIN_0.is_empty() ? 1 : 2;
    if (dynamic_cast<AttnBlockImpl*>(m.get()) != nullptr) n += 1;
  }
  return n;
}

// The networks with `option` off and on: the convolutions that lose their bias are `expected(model)`, output and
// gradients as without it. Its default, auto, leaves every bias in place on the CPU (it means on CUDA only).
void expect_unchanged_without_biases(const std::string& option, int (*expected)(torch::nn::Module&)) {
  for (const auto& net : kNetworks) {
    SCOPED_TRACE(net.what);
    std::vector<torch::Tensor> outputs, grads;
    int without_bias[3] = {0, 0, 0};  // off, on, auto: the FIR blurs' depthwise convolutions have none either
    int convolutions = 0;
    for (int on : {0, 1, 2}) {
      auto sets = net.sets;
      if (on < 2) sets.push_back(option + (on ? "=true" : "=false"));
      const auto config = Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml", sets);
      torch::manual_seed(3);
      auto model = make_model(config);
      model->to(net.dtype);
      convolutions = expected(*model);
      torch::manual_seed(4);
      for (auto& p : model->parameters()) p.data().add_(torch::randn_like(p) * 0.05);  // non-zero biases
      const auto x = torch::rand({2, 3, 16, 16}, net.dtype);
      const auto t = torch::full({2}, 0.5, net.dtype);
      torch::Tensor y;
      {
        CountConvolutionsWithoutBias count;
        y = model->forward(x, t);
        without_bias[on] = convolutions_without_bias.load();
      }
      y.pow(2).sum().backward();
      outputs.push_back(y.detach());
      std::vector<torch::Tensor> g;
      for (const auto& p : model->parameters())
        if (p.grad().defined()) g.push_back(p.grad().flatten());
      grads.push_back(torch::cat(g));
    }
    EXPECT_GE(convolutions, 8);
    EXPECT_EQ(without_bias[1] - without_bias[0], convolutions);
    EXPECT_EQ(without_bias[2], without_bias[0]);
    EXPECT_TRUE(torch::equal(outputs[2], outputs[0]));
    EXPECT_LE(test::max_rel(outputs[1], outputs[0]), net.tol_output);
    EXPECT_LE(test::max_rel(grads[1], grads[0]), net.tol_grads);
  }
}

TEST(FoldTimeBias, EveryBlocksConv0RunsWithoutBiasAndTheNetworkIsUnchanged) {
  expect_unchanged_without_biases("model.fold_time_bias", &blocks_with_time);
}

TEST(FusedSkipJoin, ConvolutionsBeforeEveryJoinRunWithoutBiasAndTheNetworkIsUnchanged) {
  expect_unchanged_without_biases("model.fused_skip_join", &convolutions_before_joins);
}

// Where autograd adds gradients: the inputs of the graph's nodes that more than one edge leads to, counted once per
// extra edge, over the graph that reaches `root`.
int gradient_accumulations(const torch::Tensor& root) {
  std::map<std::pair<const torch::autograd::Node*, uint32_t>, int> edges_into;
  std::set<const torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> stack = {root.grad_fn().get()};
  while (!stack.empty()) {
    auto* node = stack.back();
    stack.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    for (const auto& edge : node->next_edges()) {
      if (!edge.is_valid()) continue;
      ++edges_into[{edge.function.get(), edge.input_nr}];
      stack.push_back(edge.function.get());
    }
  }
  int extra = 0;
  for (const auto& [input, n] : edges_into) extra += n - 1;
  return extra;
}

// The blocks whose input feeds both GroupNorm_0 and the skip: every residual and attention block.
int blocks(torch::nn::Module& model) {
  int n = 0;
  for (const auto& m : model.modules())
    n += dynamic_cast<ResnetBlockBigGANImpl*>(m.get()) != nullptr || dynamic_cast<ResnetBlockDDPMImpl*>(m.get()) ||
         dynamic_cast<AttnBlockImpl*>(m.get());
  return n;
}

// model.fused_input_grad (with model.fused_group_norm's CPU loop, float32, as the switch needs): autograd adds one
// gradient fewer per block, each block's GroupNorm_0 adding its skip's instead, and the networks' outputs and
// gradients are as without it, with gradient checkpointing too (its recompute takes the switch's path, its first
// forward, without gradients, the plain one). Outputs agree to the bit; gradients to float32 rounding, since where
// an input has three or more uses its additions are grouped otherwise (4e-8 to 8e-8 here), within 1e-6. auto leaves
// the CPU as it was.
TEST(FusedInputGrad, EveryBlockAddsItsSkipsGradientAndTheNetworkIsUnchanged) {
  for (const auto& net : kNetworks) {
    SCOPED_TRACE(net.what);
    std::vector<torch::Tensor> outputs, grads;
    int accumulations[4] = {0, 0, 0, 0};  // off, on, auto, on with checkpointing
    int count = 0;
    for (int on : {0, 1, 2, 3}) {
      auto sets = net.sets;
      sets.push_back("model.fused_group_norm=true");
      sets.push_back(std::string("model.fused_input_grad=") + (on == 0 ? "false" : on == 2 ? "auto" : "true"));
      if (on == 3) sets.push_back("model.grad_checkpointing=true");
      const auto config = Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml", sets);
      torch::manual_seed(3);
      auto model = make_model(config);
      count = blocks(*model);
      torch::manual_seed(4);
      for (auto& p : model->parameters()) p.data().add_(torch::randn_like(p) * 0.05);
      const auto x = torch::rand({2, 3, 16, 16}).requires_grad_(true);
      const auto t = torch::full({2}, 0.5);
      const auto y = model->forward(x, t);
      accumulations[on] = gradient_accumulations(y);
      y.pow(2).sum().backward();
      outputs.push_back(y.detach());
      std::vector<torch::Tensor> g = {x.grad().flatten()};
      for (const auto& p : model->parameters())
        if (p.grad().defined()) g.push_back(p.grad().flatten());
      grads.push_back(torch::cat(g));
    }
    EXPECT_GE(count, 8);
    EXPECT_EQ(accumulations[0] - accumulations[1], count);
    EXPECT_EQ(accumulations[2], accumulations[0]);
    EXPECT_TRUE(torch::equal(outputs[1], outputs[0]));
    EXPECT_TRUE(torch::equal(outputs[2], outputs[0]));
    EXPECT_TRUE(torch::equal(outputs[3], outputs[0]));
    EXPECT_LE(test::max_rel(grads[1], grads[0]), 1e-6);
    EXPECT_LE(test::max_rel(grads[3], grads[0]), 1e-6);
  }
}

// Under bf16 autocast the folded shift is added in the activations' dtype (a float32 shift would promote them to
// float32 up to the next convolution), and a block stays within bf16 rounding of the unfolded block.
TEST(FoldTimeBias, KeepsTheActivationsDtypeUnderAutocast) {
  {
    GroupNorm norm(4, 16, 1e-6);
    const auto x = torch::randn({2, 16, 4, 4}).to(torch::kBFloat16), pre = torch::randn({2, 16});
    AutocastGuard autocast(c10::DeviceType::CPU, true, at::kBFloat16);
    EXPECT_EQ(norm->forward_shifted(x, pre, /*silu=*/true).scalar_type(), torch::kBFloat16);
    EXPECT_EQ(norm->forward_shifted(x, pre, /*silu=*/false).scalar_type(), torch::kBFloat16);
  }
  std::vector<torch::Tensor> outputs;
  for (bool on : {false, true}) {
    torch::manual_seed(5);
    ResnetBlockBigGAN block(
        ResBlockOptions(8, 16).temb_dim(12).dropout(0.0).fold_time_bias(on ? Switch::On : Switch::Off));
    torch::manual_seed(6);
    for (auto& p : block->parameters()) p.data().add_(torch::randn_like(p) * 0.05);
    const auto x = torch::randn({2, 8, 8, 8}), temb = torch::randn({2, 12});
    torch::Tensor h;
    {
      AutocastGuard autocast(c10::DeviceType::CPU, true, at::kBFloat16);
      h = block->forward(x, temb);
    }
    EXPECT_EQ(h.scalar_type(), torch::kBFloat16);
    outputs.push_back(h.to(torch::kFloat32));
  }
  EXPECT_LE(test::max_rel(outputs[1], outputs[0]), 1.0 / 64);
}

// Under bf16 autocast the fused join keeps the blocks' bf16 output and stays within bf16 rounding of the unfused
// join (both block types and attention).
TEST(FusedSkipJoin, KeepsTheActivationsDtypeUnderAutocast) {
  const std::function<std::shared_ptr<TimedBlockImpl>(bool)> blocks[] = {
      [](bool on) {
        return ResnetBlockBigGAN(ResBlockOptions(8, 16).temb_dim(12).dropout(0.0).skip_rescale(true).fused_skip_join(
                                     on ? Switch::On : Switch::Off))
            .ptr();
      },
      [](bool on) {
        return ResnetBlockDDPM(
                   ResBlockOptions(8, 16).temb_dim(12).dropout(0.0).fused_skip_join(on ? Switch::On : Switch::Off))
            .ptr();
      },
      [](bool on) {
        return AttnBlock(AttnBlockOptions(8).skip_rescale(true).fused_skip_join(on ? Switch::On : Switch::Off)).ptr();
      },
  };
  for (const auto& make : blocks) {
    std::vector<torch::Tensor> outputs;
    for (bool on : {false, true}) {
      torch::manual_seed(5);
      auto block = make(on);
      torch::manual_seed(6);
      for (auto& p : block->parameters()) p.data().add_(torch::randn_like(p) * 0.05);
      const auto x = torch::randn({2, 8, 8, 8}).to(torch::kBFloat16), temb = torch::randn({2, 12});
      torch::Tensor h;
      {
        AutocastGuard autocast(c10::DeviceType::CPU, true, at::kBFloat16);
        h = block->forward(x, temb);
      }
      EXPECT_EQ(h.scalar_type(), torch::kBFloat16);
      outputs.push_back(h.to(torch::kFloat32));
    }
    EXPECT_LE(test::max_rel(outputs[1], outputs[0]), 1.0 / 64);
  }
}

}  // namespace
}  // namespace scorch::models
