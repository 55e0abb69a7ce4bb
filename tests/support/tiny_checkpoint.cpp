// write_tiny_run: models::make_model + CheckpointStore + write_checkpoint_tensors.
#include "support/tiny_checkpoint.h"

#include <torch/torch.h>

#include "core/io/checkpoint_files.h"
#include "core/io/checkpoint_store.h"
#include "core/models/model_weights.h"
#include "support/run.h"

namespace scorch::test {

std::string write_tiny_run(const std::string& run, const std::string& config_name,
                           const std::vector<std::string>& overrides, int64_t step, uint64_t init_seed) {
  auto config = Config::resolve(source_dir() + "/configs/small/" + config_name, overrides);
  torch::manual_seed(init_seed);
  auto model = models::make_model(config);
  io::CheckpointTensors t;
  t.model = models::state_dict(*model);
  for (const auto& p : model->named_parameters())
    if (p.value().requires_grad()) t.ema[p.key()] = p.value().detach() * 1.01;
  for (const auto& [name, avg] : t.ema) {
    t.optimizer["exp_avg." + name] = torch::zeros_like(avg);
    t.optimizer["exp_avg_sq." + name] = torch::zeros_like(avg);
  }
  io::CheckpointStore store(run + "/checkpoints");
  store.save(step, io::checkpoint_meta(config, step),
             [&](const std::string& d) { io::write_checkpoint_tensors(d, t); });
  return run;
}

}  // namespace scorch::test
