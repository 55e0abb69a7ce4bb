// Gradient checkpointing as a custom autograd function (LibTorch has no torch.utils.checkpoint).
#include "core/models/grad_checkpoint.h"

#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mutex>

#include "core/autocast.h"

namespace scorch::models {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What backward needs besides tensors, carried through the context as a capsule.
struct Replay : torch::CustomClassHolder {
  BlockFn fn;
  size_t num_inputs = 0;
  std::vector<bool> input_defined;
  std::vector<torch::Tensor> params;
  torch::Device device{torch::kCPU};
  torch::Tensor rng_state;
  bool autocast = false;
  at::ScalarType autocast_dtype = at::kBFloat16;
};

at::Generator generator_for(const torch::Device& device) { return at::globalContext().defaultGenerator(device); }

torch::Tensor get_rng_state(const torch::Device& device) {
  auto gen = generator_for(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_rng_state(const torch::Device& device, const torch::Tensor& state) {
  auto gen = generator_for(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// The block's inputs with undefined ones put back; `defined` holds only the defined inputs, in order
// (autograd cannot carry undefined tensors as function arguments).
std::vector<torch::Tensor> unpack_inputs(const Replay& r, at::TensorList defined) {
  std::vector<torch::Tensor> inputs;
  size_t next = 0;
  for (size_t i = 0; i < r.num_inputs; ++i) inputs.push_back(r.input_defined[i] ? defined[next++] : torch::Tensor());
  return inputs;
}

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
  static variable_list forward(AutogradContext* ctx, c10::intrusive_ptr<Replay> replay, at::TensorList all) {
    const auto n_defined = all.size() - replay->params.size();
    ctx->save_for_backward(std::vector<torch::Tensor>(all.begin(), all.begin() + n_defined));
    auto out = replay->fn(unpack_inputs(*replay, all));
    ctx->saved_data["replay"] = c10::IValue::make_capsule(replay);
    return {out};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    auto replay = c10::static_intrusive_pointer_cast<Replay>(ctx->saved_data["replay"].toCapsule());
    auto saved = ctx->get_saved_variables();
    const auto& params = replay->params;
    std::vector<torch::Tensor> detached, wrt;
    std::vector<int64_t> wrt_slot;  // position in the forward's tensor list of each entry of wrt
    for (size_t i = 0; i < saved.size(); ++i) {
      auto t = saved[i].detach().requires_grad_(saved[i].requires_grad());
      if (t.requires_grad()) {
        wrt.push_back(t);
        wrt_slot.push_back(static_cast<int64_t>(i));
      }
      detached.push_back(t);
    }
    const auto inputs = unpack_inputs(*replay, detached);
    for (size_t j = 0; j < params.size(); ++j) {
      const auto& p = params[j];
      if (p.requires_grad()) {
        wrt.push_back(p);
        wrt_slot.push_back(static_cast<int64_t>(saved.size() + j));
      }
    }
    torch::Tensor out;
    {
      const auto current = get_rng_state(replay->device);
      set_rng_state(replay->device, replay->rng_state);
      // Backward usually runs after the forward's autocast scope has ended: this guard is then the only
      // scope around the recompute's weight casts, and drops them when it ends.
      AutocastGuard autocast(replay->device.type(), replay->autocast, replay->autocast_dtype);
      torch::AutoGradMode grad_on(true);
      out = replay->fn(inputs);
      set_rng_state(replay->device, current);
    }
    variable_list grads(1 + saved.size() + params.size());  // slot 0: the capsule argument
    if (!wrt.empty() && out.requires_grad()) {
      auto g = torch::autograd::grad({out}, wrt, {grad_out[0]}, /*retain_graph=*/false, /*create_graph=*/false,
                                     /*allow_unused=*/true);
      for (size_t k = 0; k < wrt.size(); ++k) grads[1 + wrt_slot[k]] = g[k];
    }
    return grads;
  }
};

}  // namespace

torch::Tensor checkpoint(const BlockFn& fn, const std::vector<torch::Tensor>& inputs,
                         const std::vector<torch::Tensor>& params) {
  if (!torch::GradMode::is_enabled()) return fn(inputs);
  auto replay = c10::make_intrusive<Replay>();
  replay->fn = fn;
  replay->num_inputs = inputs.size();
  std::vector<torch::Tensor> all;
  for (const auto& t : inputs) {
    replay->input_defined.push_back(t.defined());
    if (t.defined()) all.push_back(t);
  }
  for (const auto& t : inputs)
    if (t.defined()) {
      replay->device = t.device();
      break;
    }
  replay->rng_state = get_rng_state(replay->device);
  replay->autocast = at::autocast::is_autocast_enabled(replay->device.type());
  replay->autocast_dtype = at::autocast::get_autocast_dtype(replay->device.type());
  replay->params = params;
  all.insert(all.end(), params.begin(), params.end());
  return CheckpointFunction::apply(replay, at::TensorList(all))[0];
}

}  // namespace scorch::models

namespace scorch::models {

torch::Tensor run_block(const std::shared_ptr<TimedBlockImpl>& block, const torch::Tensor& x, const torch::Tensor& temb,
                        bool checkpointing) {
  if (!checkpointing || !block->is_training() || !torch::GradMode::is_enabled()) return block->forward(x, temb);
  // temb is undefined for an unconditional network; checkpoint() passes it through as undefined.
  auto fn = [block](const std::vector<torch::Tensor>& in) { return block->forward(in[0], in[1]); };
  return checkpoint(fn, {x, temb}, block->parameters());
}

torch::Tensor run_block_cat(const std::shared_ptr<TimedBlockImpl>& block, const torch::Tensor& h,
                            const torch::Tensor& skip, const torch::Tensor& temb, bool checkpointing) {
  if (!checkpointing || !block->is_training() || !torch::GradMode::is_enabled())
    return block->forward(torch::cat({h, skip}, 1), temb);
  auto fn = [block](const std::vector<torch::Tensor>& in) {
    return block->forward(torch::cat({in[0], in[1]}, 1), in[2]);
  };
  return checkpoint(fn, {h, skip, temb}, block->parameters());
}

torch::Tensor run_norm_act_conv(GroupNormImpl& norm, const Activation& act, torch::nn::Conv2dImpl& conv,
                                const torch::Tensor& h, bool checkpointing) {
  if (!checkpointing || !torch::GradMode::is_enabled()) return conv.forward(norm_act(norm, act, h));
  auto fn = [&norm, act, &conv](const std::vector<torch::Tensor>& in) {
    return conv.forward(norm_act(norm, act, in[0]));
  };
  auto params = norm.parameters();
  for (const auto& p : conv.parameters()) params.push_back(p);
  return checkpoint(fn, {h}, params);
}

}  // namespace scorch::models
