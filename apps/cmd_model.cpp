// `scorch model summary|forward`: inspect a network, and run it on reference-named weights (parity checks).
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstdio>
#include <memory>

#include "apps/commands.h"
#include "apps/config_args.h"
#include "core/error.h"
#include "core/io/safetensors.h"
#include "core/models/model_weights.h"
#include "core/models/score_model.h"
#include "core/sdes/score_fn.h"
#include "core/sdes/sde.h"

namespace scorch::apps {

namespace {

struct ForwardArgs {
  ConfigArgs config;
  std::string weights, inputs, out;
};

int run_summary(const ConfigArgs& args) {
  Config config = resolve_config(args);
  if (dry_run(args, config)) return 0;
  torch::NoGradGuard no_grad;
  auto model = models::make_model(config);
  std::printf("%-6s %-60s %12s\n", "index", "module", "parameters");
  for (const auto& item : model->named_children()) {
    for (const auto& sub : item.value()->named_children()) {
      const std::string name = item.key() + "." + sub.key();
      std::printf("%-6s %-60s %12lld\n", sub.key().c_str(), (name + " (" + sub.value()->name() + ")").c_str(),
                  static_cast<long long>(models::count_parameters(*sub.value())));
    }
  }
  int64_t trainable = 0;
  for (const auto& p : model->parameters())
    if (p.requires_grad()) trainable += p.numel();
  const auto total = models::count_parameters(*model);
  std::printf("network %s: %lld parameters (%lld trainable, %lld frozen)\n", config.get_string("model.name").c_str(),
              static_cast<long long>(total), static_cast<long long>(trainable),
              static_cast<long long>(total - trainable));
  return 0;
}

int run_forward(const ForwardArgs& args) {
  Config config = resolve_config(args.config);
  if (dry_run(args.config, config)) return 0;
  torch::NoGradGuard no_grad;
  auto model = models::make_model(config);
  auto weights = io::read_safetensors(args.weights);
  models::load_reference_weights(*model, weights.tensors, args.weights);
  model->eval();

  auto inputs = io::read_safetensors(args.inputs);
  auto find = [&](const std::string& name) -> torch::Tensor {
    auto it = inputs.tensors.find(name);
    return it == inputs.tensors.end() ? torch::Tensor() : it->second;
  };
  const auto x = find("input/x");  // (B, C, H, W)
  SCORCH_CHECK(x.defined(), "model forward: {} has no tensor input/x", args.inputs);
  const auto t = find("input/t");  // (B,)
  auto time_cond = find("input/time_cond");
  // Named here: the network's own check (a convolution's) would name neither the file nor the tensor.
  const int64_t size = config.get_int("data.image_size"), channels = config.get_int("data.num_channels");
  SCORCH_CHECK(x.dim() >= 2, "model forward: {}'s input/x has shape {}, expected a batch (B, ...)", args.inputs,
               c10::str(x.sizes()));
  if (size > 1)
    SCORCH_CHECK(x.dim() == 4 && x.size(1) == channels && x.size(2) == size && x.size(3) == size,
                 "model forward: {}'s input/x has shape {}, expected (B, {}, {}, {}) (data.num_channels, "
                 "data.image_size)",
                 args.inputs, c10::str(x.sizes()), channels, size, size);
  for (const auto& [name, v] : {std::pair{"input/t", t}, std::pair{"input/time_cond", time_cond}})
    SCORCH_CHECK(!v.defined() || (v.dim() == 1 && v.size(0) == x.size(0)),
                 "model forward: {}'s {} has shape {}, expected ({},): one per image of input/x", args.inputs, name,
                 c10::str(v.sizes()), x.size(0));
  // Dtypes and ranges too: numpy's default float64, or a label past the network's levels, ended in a LibTorch
  // message without the file or the tensor (or in NaN outputs).
  for (const auto& [name, v] : {std::pair{"input/x", x}, std::pair{"input/t", t}})
    SCORCH_CHECK_HINT(!v.defined() || v.scalar_type() == torch::kFloat32, "write it as float32 (numpy: .astype('f4'))",
                      "model forward: {}'s {} is {}; the network computes in float32", args.inputs, name,
                      c10::toString(v.scalar_type()));
  if (t.defined())
    SCORCH_CHECK(((t >= 0) & (t <= 1)).all().item<bool>(),
                 "model forward: {}'s input/t holds times outside the SDE's [0, 1] (min {}, max {})", args.inputs,
                 t.min().item<double>(), t.max().item<double>());
  const bool continuous = config.get_bool("training.continuous");
  if (time_cond.defined()) {
    SCORCH_CHECK(time_cond.is_floating_point() || !continuous,
                 "model forward: {}'s input/time_cond is {}; a continuous-time network takes float32 labels",
                 args.inputs, c10::toString(time_cond.scalar_type()));
    const auto tc = time_cond.to(torch::kFloat64);
    if (continuous) {
      SCORCH_CHECK((tc >= 0).all().item<bool>(), "model forward: {}'s input/time_cond holds a negative label ({})",
                   args.inputs, tc.min().item<double>());
      time_cond = time_cond.to(torch::kFloat32);
    } else {
      const int64_t levels = config.get_int("model.num_scales");
      SCORCH_CHECK((tc == tc.round()).all().item<bool>() && (tc >= 0).all().item<bool>() &&
                       (tc < static_cast<double>(levels)).all().item<bool>(),
                   "model forward: {}'s input/time_cond must hold level indices 0 to {} (model.num_scales {}) of a "
                   "network trained on discrete levels; got {} to {}",
                   args.inputs, levels - 1, levels, tc.min().item<double>(), tc.max().item<double>());
    }
  }
  auto sde = sdes::make_sde(config);
  if (!time_cond.defined()) {
    SCORCH_CHECK(t.defined(), "model forward: {} has neither input/time_cond nor input/t", args.inputs);
    time_cond = sdes::model_labels(*sde, t, continuous);
  }
  std::map<std::string, torch::Tensor> out;
  out["output/model"] = model->forward(x, time_cond);
  if (t.defined()) {
    sdes::ModelFn model_fn = [&](const torch::Tensor& xx, const torch::Tensor& labels) {
      return model->forward(xx, labels);
    };
    out["output/score"] = sdes::make_score_fn(sde, model_fn, continuous)(x, t);
  } else {
    spdlog::warn("model forward: {} has no input/t, so output/score is not written", args.inputs);
  }
  io::write_safetensors(args.out, out, {{"config", args.config.file}, {"weights", args.weights}});
  spdlog::info("wrote {}", args.out);
  return 0;
}

}  // namespace

void add_model_command(CLI::App& app, Action& action) {
  auto* model = app.add_subcommand("model", "inspect a score network, or run it on given weights and inputs");
  model->require_subcommand(1);

  auto summary_args = std::make_shared<ConfigArgs>();
  auto* summary = model->add_subcommand("summary", "print the module table and the parameter count");
  add_config_args(summary, *summary_args);
  summary->callback([&action, summary_args]() { action = [summary_args]() { return run_summary(*summary_args); }; });

  auto fwd = std::make_shared<ForwardArgs>();
  auto* forward = model->add_subcommand(
      "forward", "run the network (eval mode) and its score function on input/x, input/t [, input/time_cond]");
  add_config_args(forward, fwd->config);
  forward
      ->add_option("--weights", fwd->weights,
                   "safetensors with reference state_dict names (a param/ prefix is accepted)")
      ->required();
  forward->add_option("--inputs", fwd->inputs, "safetensors with input/x, and input/t and/or input/time_cond")
      ->required();
  forward->add_option("--out", fwd->out, "safetensors to write output/model and output/score to")->required();
  forward->callback([&action, fwd]() { action = [fwd]() { return run_forward(*fwd); }; });
}

}  // namespace scorch::apps
