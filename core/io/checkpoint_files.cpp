// Checkpoint tensors and meta.json in the layout design.md fixes, and inference loading from them.
#include "core/io/checkpoint_files.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/checkpoint_store.h"
#include "core/io/safetensors.h"
#include "core/json_numbers.h"
#include "core/models/model_weights.h"
#include "core/sha256.h"

namespace scorch::io {

namespace fs = std::filesystem;

namespace {

int64_t metadata_int(const SafetensorsFile& f, const std::string& key, const std::string& path) {
  auto it = f.metadata.find(key);
  SCORCH_CHECK(it != f.metadata.end(), "{}: metadata key '{}' is missing", path, key);
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    SCORCH_FAIL("{}: metadata '{}' = '{}' is not an integer", path, key, it->second);
  }
}

std::map<std::string, torch::Tensor> to_cpu(const std::map<std::string, torch::Tensor>& in) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [k, v] : in) out[k] = v.detach().to(torch::kCPU);
  return out;
}

// The model's state with `ema` substituted for the trainable parameters it covers, in the model's dtypes.
std::map<std::string, torch::Tensor> with_ema(const std::map<std::string, torch::Tensor>& model,
                                              const std::map<std::string, torch::Tensor>& ema,
                                              const std::string& source) {
  auto out = model;
  for (const auto& [name, avg] : ema) {
    auto it = out.find(name);
    SCORCH_CHECK(it != out.end(), "{}: EMA tensor '{}' is not a model parameter", source, name);
    SCORCH_CHECK(it->second.sizes() == avg.sizes(), "{}: EMA tensor '{}' has shape {}, the model's is {}", source, name,
                 fmt::join(avg.sizes(), "x"), fmt::join(it->second.sizes(), "x"));
    it->second = avg.to(it->second.scalar_type());
  }
  return out;
}

}  // namespace

void write_checkpoint_tensors(const std::string& dir, const CheckpointTensors& t) {
  write_safetensors((fs::path(dir) / kModelFile).string(), to_cpu(t.model), {{"scorch.format", kCheckpointFormat}});
  write_safetensors((fs::path(dir) / kEmaFile).string(), to_cpu(t.ema),
                    {{"num_updates", std::to_string(t.ema_num_updates)}, {"rate", fmt::format("{:.17g}", t.ema_rate)}});
  write_safetensors((fs::path(dir) / kOptimizerFile).string(), to_cpu(t.optimizer),
                    {{"optimizer", "adam"}, {"step", std::to_string(t.optimizer_step)}});
}

CheckpointTensors read_checkpoint_tensors(const std::string& dir, bool need_optimizer) {
  CheckpointTensors t;
  const auto model_path = (fs::path(dir) / kModelFile).string();
  const auto ema_path = (fs::path(dir) / kEmaFile).string();
  const auto opt_path = (fs::path(dir) / kOptimizerFile).string();
  SCORCH_CHECK(fs::exists(model_path), "checkpoint '{}' has no {}", dir, kModelFile);
  t.model = read_safetensors(model_path).tensors;
  if (fs::exists(ema_path)) {
    auto ema = read_safetensors(ema_path);
    t.ema = std::move(ema.tensors);
    t.ema_num_updates = metadata_int(ema, "num_updates", ema_path);
    auto rate = ema.metadata.find("rate");
    SCORCH_CHECK(rate != ema.metadata.end(), "{}: metadata key 'rate' is missing", ema_path);
    t.ema_rate = std::stod(rate->second);
  } else {
    SCORCH_FAIL("checkpoint '{}' has no {}", dir, kEmaFile);
  }
  if (fs::exists(opt_path)) {
    auto opt = read_safetensors(opt_path);
    t.optimizer = std::move(opt.tensors);
    t.optimizer_step = metadata_int(opt, "step", opt_path);
  } else {
    SCORCH_CHECK(!need_optimizer, "checkpoint '{}' has no {}", dir, kOptimizerFile);
  }
  return t;
}

nlohmann::json checkpoint_meta(const Config& config, int64_t step) {
  return {{"format", kCheckpointFormat}, {"version", kCheckpointVersion}, {"step", step}, {"config", config.to_yaml()}};
}

Config checkpoint_config(const nlohmann::json& meta, const std::string& source) {
  SCORCH_CHECK(meta.contains("config") && meta["config"].is_string(), "{}: no 'config' (YAML text) in its metadata",
               source);
  Config config = Config::defaults();
  YAML::Node root;
  try {
    root = YAML::Load(meta["config"].get<std::string>());
  } catch (const YAML::Exception& e) {
    SCORCH_FAIL("{}: the stored config does not parse as YAML: {}", source, e.what());
  }
  config.merge_yaml(root, source);
  return config;
}

std::string resolve_checkpoint_dir(const std::string& path) {
  SCORCH_CHECK_HINT(fs::exists(path),
                    "pass a checkpoint dir (run/checkpoints/step-N or run/checkpoints/latest) or a run dir",
                    "checkpoint path '{}' does not exist", path);
  if (fs::exists(fs::path(path) / "meta.json")) {
    const auto dir = fs::canonical(path).string();
    CheckpointStore::validate(dir, CheckpointStore::Check::Sizes);
    return dir;
  }
  for (const auto& candidate : {fs::path(path) / "checkpoints", fs::path(path)}) {
    if (!fs::is_directory(candidate)) continue;
    CheckpointStore store(candidate.string());
    if (store.list().empty()) continue;
    std::vector<std::string> why_not;
    auto found = store.latest_complete(&why_not);
    SCORCH_CHECK(found, "no complete checkpoint in '{}' ({} incomplete: {})", candidate.string(), why_not.size(),
                 why_not.empty() ? "" : why_not.front());
    return fs::canonical(*found).string();
  }
  SCORCH_CHECK_HINT(!fs::is_regular_file(path),
                    "a score_sde_pytorch or NCSN checkpoint becomes a scorch one with `scorch convert import FILE "
                    "--config CONFIG --out RUN`; an EMA export is sampled, not exported again",
                    "'{}' is a file, not a checkpoint dir or run dir", path);
  SCORCH_FAIL("'{}' is neither a checkpoint dir (no meta.json) nor a run dir with checkpoints/step-N", path);
}

std::string weights_sha256(torch::nn::Module& model) {
  Sha256 h;
  const auto add = [&](const std::string& name, const torch::Tensor& t) {
    const auto v = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    h.update(name.data(), name.size() + 1);  // with its NUL: names and bytes cannot run into each other
    h.update(v.data_ptr(), static_cast<size_t>(v.numel()) * sizeof(float));
  };
  for (const auto& p : model.named_parameters()) add(p.key(), p.value());
  for (const auto& b : model.named_buffers()) add(b.key(), b.value());
  return h.hex_digest();
}

InferenceModel load_inference_model(const std::string& path, const std::string& weights, const torch::Device& device) {
  SCORCH_CHECK(weights == "ema" || weights == "model", "weights must be 'ema' or 'model', got '{}'", weights);
  InferenceModel out;
  out.weights = weights;
  std::map<std::string, torch::Tensor> state;
  if (fs::is_regular_file(path)) {
    auto file = read_safetensors(path);
    auto cfg = file.metadata.find("scorch.config");
    SCORCH_CHECK_HINT(cfg != file.metadata.end(), "export one with `scorch convert export-ema`",
                      "'{}' is a safetensors file without scorch.config metadata: not a scorch EMA export", path);
    out.config = checkpoint_config(nlohmann::json{{"config", cfg->second}}, path);
    out.step = metadata_int(file, "scorch.step", path);
    SCORCH_CHECK(weights == "ema", "'{}' is an EMA-only export; it has no raw model weights", path);
    state = std::move(file.tensors);
    out.source = path;
  } else {
    out.source = resolve_checkpoint_dir(path);
    const auto meta = CheckpointStore::validate(out.source);
    out.config = checkpoint_config(meta, (fs::path(out.source) / "meta.json").string());
    out.step = json_int64(meta["step"], out.source + ": meta.json step");
    auto t = read_checkpoint_tensors(out.source, /*need_optimizer=*/false);
    state = weights == "ema" ? with_ema(t.model, t.ema, out.source) : std::move(t.model);
  }
  out.model = models::make_model(out.config);
  // An export may hold bf16/fp16 weights; the network computes in its own dtypes.
  auto reference = models::state_dict(*out.model);
  for (auto& [name, tensor] : state) {
    auto it = reference.find(name);
    if (it != reference.end() && tensor.is_floating_point()) tensor = tensor.to(it->second.scalar_type());
  }
  torch::NoGradGuard no_grad;
  models::load_reference_weights(*out.model, state, out.source);
  out.model->to(device);
  out.model->eval();
  spdlog::info("loaded {} weights of step {} from {}", weights, out.step, out.source);
  return out;
}

void write_ema_export(const std::string& path, const Config& config, int64_t step, const CheckpointTensors& t,
                      torch::ScalarType dtype) {
  auto state = with_ema(t.model, t.ema, path);
  // Only the trained weights are rounded. What training never changes keeps its dtype: the float64 sigmas, and
  // the Fourier embedding's frozen W, drawn N(0, 16^2) by score_sde, where bf16's rounding of |W| ~ 30 turned the
  // noise level's phase by up to 1.8 rad and moved the output by a quarter of its range at small sigma.
  for (auto& [name, tensor] : state)
    if (t.ema.count(name) && tensor.is_floating_point() && tensor.scalar_type() != torch::kFloat64)
      tensor = tensor.to(dtype);
  write_safetensors(path, to_cpu(state),
                    {{"scorch.format", "scorch-ema-export"},
                     {"scorch.config", config.to_yaml()},
                     {"scorch.step", std::to_string(step)},
                     {"scorch.dtype", std::string(c10::toString(dtype))}});
}

}  // namespace scorch::io
