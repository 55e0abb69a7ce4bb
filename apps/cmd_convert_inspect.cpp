// `scorch convert inspect`: lists tensors, shapes and dtypes of torch.save files, safetensors files, Flax
// msgpack checkpoints and checkpoint dirs, and says what it recognised (score_sde checkpoint, state_dict, scorch EMA
// export, ...).
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "apps/convert_inspect.h"
#include "core/error.h"
#include "core/io/checkpoint_files.h"
#include "core/io/checkpoint_store.h"
#include "core/io/flax_msgpack.h"
#include "core/io/safetensors.h"
#include "core/io/torch_file.h"

namespace scorch::apps {

namespace {

namespace fs = std::filesystem;

void print_tensors(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  size_t width = 4;
  int64_t elements = 0;
  for (const auto& [name, t] : tensors) {
    width = std::max(width, name.size());
    elements += t.numel();
  }
  std::printf("tensors: %zu (%lld elements)\n", tensors.size(), static_cast<long long>(elements));
  if (tensors.empty()) return;
  std::printf("  %-*s  %-9s %s\n", static_cast<int>(width), "name", "dtype", "shape");
  for (const auto& [name, t] : tensors)
    std::printf("  %-*s  %-9s [%s]\n", static_cast<int>(width), name.c_str(),
                io::py::dtype_name(t.scalar_type()).c_str(), fmt::format("{}", fmt::join(t.sizes(), ", ")).c_str());
}

// One line saying what the unpickled object is.
std::string recognise(const io::py::Ref& root) {
  if (root->is_dict() && root->get("model") && root->get("ema") && root->get("optimizer") && root->get("step")) {
    const auto model = root->get("model");
    const auto ema = root->get("ema");
    const auto shadow = ema->is_dict() ? ema->get("shadow_params") : nullptr;
    const auto opt = root->get("optimizer");
    const auto state = opt->is_dict() ? opt->get("state") : nullptr;
    bool prefixed = model->is_dict() && !model->entries.empty();
    if (prefixed)
      for (const auto& [k, v] : model->entries)
        prefixed = prefixed && k->kind == io::py::Kind::Str && k->s.rfind("module.", 0) == 0;
    return fmt::format(
        "score_sde_pytorch checkpoint: step {}, model {} entries{}, EMA {} shadow params, Adam state "
        "for {} parameters",
        root->get("step")->repr(), model->is_dict() ? model->entries.size() : 0,
        prefixed ? " (DataParallel 'module.' prefix)" : "", shadow ? shadow->items.size() : 0,
        state && state->is_dict() ? state->entries.size() : 0);
  }
  if (root->is_dict() && !root->entries.empty()) {
    bool all_tensors = true;
    for (const auto& [k, v] : root->entries)
      all_tensors = all_tensors && k->kind == io::py::Kind::Str && v->kind == io::py::Kind::Tensor;
    if (all_tensors) return fmt::format("state_dict of {} tensors", root->entries.size());
  }
  return "pickled " + root->describe();
}

void inspect_torch(const std::string& path, io::TorchFileKind kind) {
  std::printf("format:  %s\n", io::torch_file_kind_name(kind));
  if (kind == io::TorchFileKind::TorchScript) {
    std::printf("content: a scripted module; scorch reads its tensors only for FID Inception weights\n");
    return;
  }
  const auto file = io::read_torch_file(path);
  std::printf("content: %s\n", recognise(file.root).c_str());
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  std::vector<std::pair<std::string, std::string>> values;
  for (const auto& [name, v] : io::py::leaves(file.root, path)) {
    if (v->kind == io::py::Kind::Tensor)
      tensors.emplace_back(name, v->tensor);
    else
      values.emplace_back(name, v->repr());
  }
  print_tensors(tensors);
  if (values.empty()) return;
  std::printf("values:\n");
  for (const auto& [name, text] : values) std::printf("  %s = %s\n", name.c_str(), text.c_str());
}

std::string one_line(std::string s) {
  const auto lines = std::count(s.begin(), s.end(), '\n');
  if (lines > 1) return fmt::format("({} lines of text)", lines);
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s.size() > 100 ? s.substr(0, 100) + "..." : s;
}

void inspect_safetensors(const std::string& path) {
  const auto file = io::read_safetensors(path);
  const auto meta = [&](const char* k) {
    auto it = file.metadata.find(k);
    return it == file.metadata.end() ? std::string() : it->second;
  };
  std::string what = "safetensors";
  if (meta("scorch.format") == "scorch-ema-export")
    what = fmt::format("scorch EMA export (step {}, {}), loadable by scorch sample / fid", meta("scorch.step"),
                       meta("scorch.dtype"));
  else if (meta("scorch.format") == io::kCheckpointFormat)
    what = "the model file of a scorch checkpoint";
  std::printf("format:  %s\n", what.c_str());
  print_tensors({file.tensors.begin(), file.tensors.end()});
  if (file.metadata.empty()) return;
  std::printf("metadata:\n");
  for (const auto& [k, v] : file.metadata) std::printf("  %s = %s\n", k.c_str(), one_line(v).c_str());
}

void inspect_checkpoint_dir(const std::string& path) {
  const auto dir = io::resolve_checkpoint_dir(path);
  const auto meta = io::CheckpointStore::validate(dir);
  const auto config = io::checkpoint_config(meta, (fs::path(dir) / "meta.json").string());
  std::printf("format:  scorch checkpoint dir %s (format version %s)\n", dir.c_str(),
              meta.value("version", nlohmann::json()).dump().c_str());
  std::printf("content: step %lld, model.name %s, image %lldx%lld\n",
              static_cast<long long>(meta["step"].get<int64_t>()), config.get_string("model.name").c_str(),
              static_cast<long long>(config.get_int("data.image_size")),
              static_cast<long long>(config.get_int("data.image_size")));
  if (meta.contains("source")) std::printf("source:  %s\n", meta["source"].dump().c_str());
  const auto t = io::read_checkpoint_tensors(dir, /*need_optimizer=*/false);
  std::printf("ema:     num_updates %lld, rate %g\n", static_cast<long long>(t.ema_num_updates), t.ema_rate);
  if (!t.optimizer.empty()) std::printf("adam:    step %lld\n", static_cast<long long>(t.optimizer_step));
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& [file, part] :
       {std::pair<const char*, const std::map<std::string, torch::Tensor>*>{"model", &t.model},
        {"ema", &t.ema},
        {"optimizer", &t.optimizer}})
    for (const auto& [name, tensor] : *part) tensors.emplace_back(std::string(file) + "/" + name, tensor);
  print_tensors(tensors);
}

void inspect_flax(const std::string& path) {
  const auto tree = io::read_flax_msgpack(path);
  const bool classifier = tree.arrays.count("WideResnetGroup_0.WideResnetBlock_0.Dense_0.kernel") ||
                          tree.arrays.count("params.WideResnetGroup_0.WideResnetBlock_0.Dense_0.kernel");
  const bool state = std::any_of(tree.arrays.begin(), tree.arrays.end(),
                                 [](const auto& a) { return a.first.rfind("params_ema.", 0) == 0; });
  std::printf("format:  Flax msgpack (flax.serialization)\n");
  std::printf("content: %s\n",
              state        ? "score_sde's Flax training state (params, params_ema, Adam moments): scorch convert "
                             "import --config CONFIG_IT_WAS_TRAINED_WITH (docs/convert.md)"
              : classifier ? "a params tree with score_sde's classifier names: scorch convert import "
                             "--config configs/ve/cifar10_classifier.yaml (docs/convert.md)"
                           : "a Flax state dict (Flax layouts: Dense kernels (in, out), conv HWIO)");
  print_tensors({tree.arrays.begin(), tree.arrays.end()});
  if (tree.values.empty()) return;
  std::printf("values:\n");
  for (const auto& [name, v] : tree.values)
    std::printf("  %s = %s\n", name.c_str(),
                one_line(v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)).c_str());
}

bool looks_like_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[9] = {};
  in.read(head, 9);
  return in.gcount() == 9 && head[8] == '{';
}

}  // namespace

int run_convert_inspect(const std::string& path) {
  SCORCH_CHECK(fs::exists(path), "'{}' does not exist", path);
  std::printf("file:    %s\n", path.c_str());
  if (fs::is_directory(path)) {
    inspect_checkpoint_dir(path);
    return 0;
  }
  const auto kind = io::sniff_torch_file(path);
  if (kind != io::TorchFileKind::NotTorch) {
    inspect_torch(path, kind);
    return 0;
  }
  if (!looks_like_safetensors(path) && io::looks_like_flax_msgpack(path)) {
    inspect_flax(path);
    return 0;
  }
  SCORCH_CHECK_HINT(looks_like_safetensors(path),
                    "inspect reads torch.save files, safetensors files, Flax msgpack checkpoints and checkpoint dirs",
                    "'{}' is not a torch.save file, a safetensors file, a Flax checkpoint or a checkpoint dir", path);
  inspect_safetensors(path);
  return 0;
}

}  // namespace scorch::apps
