// Writing CheckpointTensors as the dict score_sde_pytorch's restore_checkpoint loads.
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/error.h"
#include "core/io/score_sde_checkpoint.h"

namespace scorch::io {

namespace {

torch::Tensor take(const std::map<std::string, torch::Tensor>& from, const std::string& key, const torch::Tensor& like,
                   const std::string& source, const char* file) {
  auto it = from.find(key);
  SCORCH_CHECK(it != from.end(), "checkpoint '{}': {} has no tensor '{}'", source, file, key);
  SCORCH_CHECK(it->second.sizes() == like.sizes(),
               "checkpoint '{}': {} tensor '{}' has shape [{}], the network of its "
               "config has [{}]",
               source, file, key, fmt::join(it->second.sizes(), ", "), fmt::join(like.sizes(), ", "));
  SCORCH_CHECK(it->second.scalar_type() == like.scalar_type(),
               "checkpoint '{}': {} tensor '{}' is {}, the network "
               "has {}",
               source, file, key, py::dtype_name(it->second.scalar_type()), py::dtype_name(like.scalar_type()));
  return it->second;
}

}  // namespace

py::Ref to_score_sde(const CheckpointTensors& t, const Config& config, int64_t step, const std::string& source) {
  auto model = models::make_model(config);
  const auto params = model->named_parameters();
  const auto buffers = model->named_buffers();

  auto state_dict = py::dict(/*ordered=*/true);  // nn.DataParallel's keys
  for (const auto* items : {&params, &buffers})
    for (const auto& p : *items)
      state_dict->set(py::str("module." + p.key()), py::tensor(take(t.model, p.key(), p.value(), source, kModelFile)));
  SCORCH_CHECK(t.model.size() == params.size() + buffers.size(),
               "checkpoint '{}': {} holds {} tensors, the network of its config has {}", source, kModelFile,
               t.model.size(), params.size() + buffers.size());

  std::vector<py::Ref> shadow;
  auto adam_state = py::dict();
  const bool has_adam = !t.optimizer.empty();
  const bool amsgrad = config.get_bool("optim.amsgrad");
  if (!has_adam) spdlog::warn("checkpoint '{}' has no optimizer state; the export holds an empty Adam state", source);
  std::vector<py::Ref> ids;
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& p = params[i];
    ids.push_back(py::integer(static_cast<int64_t>(i)));
    if (!p.value().requires_grad()) continue;
    shadow.push_back(py::tensor(take(t.ema, p.key(), p.value(), source, kEmaFile)));
    if (!has_adam) continue;
    // An int step: torch < 1.12 needs one, newer torch turns it into a tensor on load_state_dict.
    auto s = py::dict();
    s->set(py::str("step"), py::integer(t.optimizer_step));
    for (const char* m : {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}) {
      if (std::string(m) == "max_exp_avg_sq" && !amsgrad) continue;
      s->set(py::str(m),
             py::tensor(take(t.optimizer, std::string(m) + "." + p.key(), p.value(), source, kOptimizerFile)));
    }
    adam_state->set(py::integer(static_cast<int64_t>(i)), s);
  }
  SCORCH_CHECK(t.ema.size() == shadow.size(),
               "checkpoint '{}': {} holds {} tensors, the network has {} trainable "
               "parameters",
               source, kEmaFile, t.ema.size(), shadow.size());
  const size_t moments = amsgrad ? 3 : 2;
  SCORCH_CHECK(!has_adam || t.optimizer.size() == moments * shadow.size(),
               "checkpoint '{}': {} holds {} tensors, expected {} ({} per trainable parameter)", source, kOptimizerFile,
               t.optimizer.size(), moments * shadow.size(), moments);

  auto ema = py::dict();
  ema->set(py::str("decay"), py::real(t.ema_rate));
  ema->set(py::str("num_updates"), py::integer(t.ema_num_updates));
  ema->set(py::str("shadow_params"), py::list(std::move(shadow)));

  // score_sde's optimize_fn rewrites lr before every update (linear warm-up); this is the value it last set.
  const auto warmup = config.get_int("optim.warmup");
  const double lr = config.get_float("optim.lr") *
                    (warmup > 0 ? std::min(static_cast<double>(std::max<int64_t>(step - 1, 0)) / warmup, 1.0) : 1.0);
  auto group = py::dict();
  group->set(py::str("lr"), py::real(lr));
  group->set(py::str("betas"),
             py::tuple({py::real(config.get_float("optim.beta1")), py::real(config.get_float("optim.beta2"))}));
  group->set(py::str("eps"), py::real(config.get_float("optim.eps")));
  group->set(py::str("weight_decay"), py::real(config.get_float("optim.weight_decay")));
  group->set(py::str("amsgrad"), py::boolean(amsgrad));
  group->set(py::str("params"), py::list(std::move(ids)));
  auto optimizer = py::dict();
  optimizer->set(py::str("state"), adam_state);
  optimizer->set(py::str("param_groups"), py::list({group}));

  auto root = py::dict();
  root->set(py::str("optimizer"), optimizer);
  root->set(py::str("model"), state_dict);
  root->set(py::str("ema"), ema);
  root->set(py::str("step"), py::integer(step));
  return root;
}

}  // namespace scorch::io
