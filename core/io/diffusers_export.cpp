// The ScoreSdeVePipeline folder: model_index.json naming the two parts, the UNet (diffusers_unet.h) and
// ScoreSdeVeScheduler's config taken from the scorch config.
#include "core/io/diffusers_export.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/io/checkpoint_files.h"
#include "core/io/diffusers_unet.h"
#include "core/io/safetensors.h"
#include "core/models/model_weights.h"
#include "core/version.h"

namespace scorch::io {

namespace {

namespace fs = std::filesystem;

void write_json(const fs::path& path, const nlohmann::json& j) { write_file_atomic(path.string(), j.dump(2) + "\n"); }

// ScoreSdeVeScheduler runs one fixed sampler: score_sde's PC with the reverse-diffusion predictor and the
// Langevin corrector, ending on the predictor's mean. Say which sampling settings the folder does not carry.
void warn_about_sampler(const Config& config) {
  const std::pair<const char*, const char*> fixed[] = {{"sampling.method", "pc"},
                                                       {"sampling.predictor", "reverse_diffusion"},
                                                       {"sampling.probability_flow", "false"},
                                                       {"sampling.noise_removal", "true"}};
  for (const auto& [key, value] : fixed)
    if (config.value_text(key) != value)
      spdlog::warn("export-diffusers: {} = {} is not carried: ScoreSdeVePipeline always samples with {} = {}", key,
                   config.value_text(key), key, value);
  const auto corrector = config.value_text("sampling.corrector");
  if (corrector != "langevin" && corrector != "none")
    spdlog::warn(
        "export-diffusers: sampling.corrector = {} is not carried: ScoreSdeVePipeline corrects with "
        "Langevin steps (or none)",
        corrector);
}

}  // namespace

nlohmann::json diffusers_scheduler_config(const Config& config) {
  return {
      {"_class_name", "ScoreSdeVeScheduler"},
      {"_diffusers_version", kDiffusersVersion},
      // The number of discrete noise levels the network was trained on (the pipeline's step count is its own
      // num_inference_steps argument).
      {"num_train_timesteps", config.get_int("model.num_scales")},
      {"sigma_min", config.get_float("model.sigma_min")},
      {"sigma_max", config.get_float("model.sigma_max")},
      {"snr", config.get_float("sampling.snr")},
      {"sampling_eps", config.get_float("sampling.eps")},
      // The pipeline runs correct_steps Langevin steps per level: none is 0 of them.
      {"correct_steps",
       config.value_text("sampling.corrector") == "none" ? 0 : config.get_int("sampling.n_steps_each")},
  };
}

DiffusersExport export_diffusers_pipeline(const std::string& ckpt, const std::string& weights, const std::string& out) {
  torch::NoGradGuard no_grad;
  // Loading builds the network and checks every tensor's name and shape against it, so the renaming below
  // only has to place them.
  const auto loaded = load_inference_model(ckpt, weights, torch::kCPU);
  check_diffusers_expressible(loaded.config);
  warn_about_sampler(loaded.config);

  const auto tensors = to_diffusers_unet(models::state_dict(*loaded.model), loaded.config, loaded.source);
  const fs::path dir(out);
  write_json(dir / "unet" / "config.json", diffusers_unet_config(loaded.config));
  write_safetensors((dir / "unet" / "diffusion_pytorch_model.safetensors").string(), tensors,
                    // No source path: the folder is meant to be published.
                    {{"format", "pt"},
                     {"scorch.step", std::to_string(loaded.step)},
                     {"scorch.weights", weights},
                     {"scorch.version", version_string()}});
  write_json(dir / "scheduler" / "scheduler_config.json", diffusers_scheduler_config(loaded.config));
  // Last: diffusers reads model_index.json first, so an export cut short leaves no loadable folder behind.
  write_json(dir / "model_index.json", {{"_class_name", "ScoreSdeVePipeline"},
                                        {"_diffusers_version", kDiffusersVersion},
                                        {"unet", {"diffusers", "UNet2DModel"}},
                                        {"scheduler", {"diffusers", "ScoreSdeVeScheduler"}}});
  return {loaded.source, weights, loaded.step, tensors.size()};
}

}  // namespace scorch::io
