// `scorch convert import|export|export-ema|export-diffusers|inspect|inception`: score_sde_pytorch checkpoints <->
// scorch checkpoint dirs, EMA-only inference exports, diffusers pipeline folders, and a listing of what a weights
// file holds.
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <limits>
#include <set>

#include "apps/commands.h"
#include "apps/config_args.h"
#include "apps/convert_inception.h"
#include "apps/convert_inspect.h"
#include "core/dir_lock.h"
#include "core/error.h"
#include "core/io/checkpoint_files.h"
#include "core/io/checkpoint_store.h"
#include "core/io/diffusers_export.h"
#include "core/io/flax_checkpoint.h"
#include "core/io/ncsn_checkpoint.h"
#include "core/io/score_sde_checkpoint.h"
#include "core/io/torch_file.h"
#include "core/sha256.h"
#include "core/version.h"

namespace scorch::apps {

namespace {

namespace fs = std::filesystem;

struct ImportArgs {
  ConfigArgs config;
  std::string src, out;
  bool force = false;
};

struct InceptionArgs {
  std::string src, out;
  bool force = false;
};

struct CkptExportArgs {
  std::string ckpt, out, dtype = "fp32", layout = "score_sde";
  bool force = false;
};

// An export replaces a file only when asked: a score_sde user exporting into their old workdir would lose the
// original checkpoint_N.pth without a word.
void check_export_target(const CkptExportArgs& a) {
  SCORCH_CHECK_HINT(!fs::is_directory(a.out), "pass --out FILE", "--out '{}' is a directory; the export is one file",
                    a.out);
  SCORCH_CHECK_HINT(a.force || !fs::exists(a.out), "pass --force to replace it, or choose another --out",
                    "'{}' already exists", a.out);
}

struct DiffusersArgs {
  std::string ckpt, out, weights = "ema";
  bool force = false;
};

// The folder is new or empty, or --force lets the export replace its own four files in it; files it does not
// write (a README, another variant's weights) stay as they are.
void check_diffusers_target(const DiffusersArgs& a) {
  SCORCH_CHECK_HINT(!fs::exists(a.out) || fs::is_directory(a.out), "pass --out DIR",
                    "--out '{}' is a file; export-diffusers writes a folder", a.out);
  SCORCH_CHECK_HINT(a.force || !fs::exists(a.out) || fs::is_empty(a.out),
                    "pass --force to replace the pipeline's files in it, or choose another --out", "'{}' is not empty",
                    a.out);
}

int run_import(const ImportArgs& a) {
  Config config = resolve_config(a.config);
  if (dry_run(a.config, config)) return 0;
  SCORCH_CHECK_HINT(
      !a.config.file.empty(),
      "name the config the checkpoint was trained with, e.g. --config configs/ve/cifar10_ncsnpp_continuous.yaml",
      "scorch convert import needs --config: it builds that network to check every tensor against");
  check_output_dir(a.out, "--out");  // before the file is read and checked, not after
  torch::NoGradGuard no_grad;
  io::ScoreSdeCheckpoint ck;
  std::string container;
  if (io::looks_like_flax_msgpack(a.src)) {
    ck = io::from_flax(io::read_flax_msgpack(a.src), config, a.src);
    container = "flax msgpack";
  } else {
    const auto file = io::read_torch_file(a.src);
    ck = io::is_ncsn_checkpoint(file.root) ? io::from_ncsn(file.root, config, a.src)
                                           : io::from_score_sde(file.root, config, a.src);
    container = io::torch_file_kind_name(file.kind);
  }

  // A run dir gets checkpoints/step-N; a path that is already a checkpoints/ dir is used as it is.
  const fs::path out(a.out);
  const auto store_dir = out.filename() == "checkpoints" ? out : out / "checkpoints";
  const auto target = store_dir / io::CheckpointStore::step_name(ck.step);
  SCORCH_CHECK_HINT(a.force || !fs::exists(target), "pass --force to replace it", "'{}' already exists",
                    target.string());
  ck.source["file"] = fs::absolute(a.src).string();
  ck.source["container"] = container;
  ck.source["bytes"] = static_cast<int64_t>(fs::file_size(a.src));
  ck.source["sha256"] = sha256_file(a.src);
  ck.source["imported_by"] = fmt::format("scorch {} ({})", version_string(), git_commit());
  auto meta = io::checkpoint_meta(config, ck.step);
  meta["source"] = ck.source;
  // What `scorch train` reads to resume. score_sde's tf.data position is not in its checkpoints, so the data
  // stream starts afresh at the imported step.
  const auto batch = config.get_int("training.batch_size");
  meta["images_seen"] = ck.step * batch;
  meta["data"] = {{"epoch", 0}, {"consumed", 0}, {"global_batch", batch}};
  // Kept whatever the snapshot interval of a run that trains on from it: it is where that run came from.
  meta["snapshot"] = true;
  // Imports never prune: other checkpoints already in the dir stay.
  io::CheckpointStore store(store_dir.string(), {std::numeric_limits<int64_t>::max(), 0});
  const auto dir =
      store.save(ck.step, meta, [&](const std::string& tmp) { io::write_checkpoint_tensors(tmp, ck.tensors); });
  std::printf("imported step %lld: %zu model tensors, %zu EMA tensors, %zu Adam moments (Adam step %lld)\n -> %s\n",
              static_cast<long long>(ck.step), ck.tensors.model.size(), ck.tensors.ema.size(),
              ck.tensors.optimizer.size(), static_cast<long long>(ck.tensors.optimizer_step), dir.c_str());
  return 0;
}

struct Loaded {
  std::string dir;
  Config config;
  int64_t step = 0;
  io::CheckpointTensors tensors;
};

Loaded load_checkpoint(const std::string& path) {
  Loaded l;
  l.dir = io::resolve_checkpoint_dir(path);
  const auto meta = io::CheckpointStore::validate(l.dir);
  l.config = io::checkpoint_config(meta, (fs::path(l.dir) / "meta.json").string());
  l.step = meta["step"].get<int64_t>();
  l.tensors = io::read_checkpoint_tensors(l.dir, /*need_optimizer=*/false);
  return l;
}

int run_score_sde_export(const CkptExportArgs& a) {
  check_export_target(a);
  torch::NoGradGuard no_grad;
  const auto ck = load_checkpoint(a.ckpt);
  SCORCH_CHECK(a.layout == "score_sde" || a.layout == "ncsn", "--layout must be score_sde or ncsn, got '{}'", a.layout);
  if (a.layout == "ncsn") {
    // An imported original keeps its epoch in the meta's source; a scorch run has none to give.
    const auto meta = io::CheckpointStore::validate(ck.dir);
    const int64_t epoch = meta.contains("source") ? meta["source"].value("epoch", int64_t{0}) : 0;
    io::write_torch_file(a.out, io::to_ncsn(ck.tensors, ck.config, ck.step, epoch, ck.dir));
  } else {
    io::write_torch_file(a.out, io::to_score_sde(ck.tensors, ck.config, ck.step, ck.dir));
  }
  std::printf("exported step %lld of %s\n -> %s (%s format)\n", static_cast<long long>(ck.step), ck.dir.c_str(),
              a.out.c_str(), a.layout == "ncsn" ? "NCSN/NCSNv2" : "score_sde_pytorch");
  return 0;
}

torch::ScalarType parse_dtype(const std::string& s) {
  if (s == "fp32" || s == "float32") return torch::kFloat32;
  if (s == "bf16" || s == "bfloat16") return torch::kBFloat16;
  if (s == "fp16" || s == "float16") return torch::kFloat16;
  SCORCH_FAIL("--dtype '{}': expected fp32, bf16 or fp16", s);
}

int run_export_ema(const CkptExportArgs& a) {
  check_export_target(a);
  const auto dtype = parse_dtype(a.dtype);
  const auto ck = load_checkpoint(a.ckpt);
  io::write_ema_export(a.out, ck.config, ck.step, ck.tensors, dtype);
  std::printf("exported the EMA weights of step %lld of %s as %s\n -> %s\n", static_cast<long long>(ck.step),
              ck.dir.c_str(), io::py::dtype_name(dtype).c_str(), a.out.c_str());
  return 0;
}

// Another export's files (an fp16 variant's weights, say) are loaded by diffusers when asked for: say they stayed.
void warn_about_other_files(const std::string& out) {
  const std::set<std::string> ours = {"model_index.json", "unet/config.json",
                                      "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json"};
  std::vector<std::string> others;
  for (const auto& e : fs::recursive_directory_iterator(out))
    if (!e.is_directory() && !ours.count(fs::relative(e.path(), out).string()))
      others.push_back(fs::relative(e.path(), out).string());
  std::sort(others.begin(), others.end());
  if (!others.empty())
    spdlog::warn("export-diffusers: {} file(s) in {} that this export did not write stay as they were: {}",
                 others.size(), out, fmt::join(others, ", "));
}

int run_export_diffusers(const DiffusersArgs& a) {
  check_diffusers_target(a);
  const auto e = io::export_diffusers_pipeline(a.ckpt, a.weights, a.out);
  if (a.force) warn_about_other_files(a.out);
  std::printf(
      "exported the %s weights of step %lld of %s as a diffusers ScoreSdeVePipeline (%zu UNet tensors)\n -> %s\n",
      e.weights.c_str(), static_cast<long long>(e.step), e.source.c_str(), e.tensors, a.out.c_str());
  return 0;
}

}  // namespace

void add_convert_command(CLI::App& app, Action& action) {
  auto* convert = app.add_subcommand("convert", "convert checkpoints (score_sde_pytorch <-> scorch, EMA export)");
  convert->require_subcommand(1);

  auto im = std::make_shared<ImportArgs>();
  auto* imp = convert->add_subcommand(
      "import",
      "import a score_sde_pytorch or NCSN/NCSNv2 checkpoint (.pth), or a Flax one of score_sde (JAX), into a "
      "checkpoint dir");
  imp->add_option("src", im->src,
                  "torch.save file, or a Flax checkpoint_N (msgpack): score_sde's training state or a params tree")
      ->required()
      ->check(CLI::ExistingFile);
  imp->add_option("--out", im->out, "run dir (gets checkpoints/step-N) or a checkpoints/ dir")->required();
  imp->add_flag("--force", im->force, "replace an existing checkpoint of the same step");
  add_config_args(imp, im->config);
  imp->callback([&action, im]() { action = [im]() { return run_import(*im); }; });

  auto ex = std::make_shared<CkptExportArgs>();
  auto* exp = convert->add_subcommand("export", "export a scorch checkpoint as a score_sde_pytorch .pth");
  exp->add_option("ckpt", ex->ckpt, "checkpoint dir, checkpoints/latest or run dir")->required();
  exp->add_option("--out", ex->out, "the .pth file to write")->required();
  exp->add_option("--layout", ex->layout,
                  "score_sde (a dict, score_sde_pytorch's restore_checkpoint) | ncsn (the list ermongroup/ncsn and "
                  "ncsnv2 save; NCSN/NCSNv2 networks only)")
      ->capture_default_str();
  exp->add_flag("--force", ex->force, "replace an existing --out file");
  exp->callback([&action, ex]() { action = [ex]() { return run_score_sde_export(*ex); }; });

  auto ee = std::make_shared<CkptExportArgs>();
  auto* ema = convert->add_subcommand("export-ema", "export the EMA weights and config as one .safetensors file");
  ema->add_option("ckpt", ee->ckpt, "checkpoint dir, checkpoints/latest or run dir")->required();
  ema->add_option("--out", ee->out, "the .safetensors file to write")->required();
  ema->add_option("--dtype", ee->dtype, "fp32 | bf16 | fp16 (float64 buffers such as sigmas stay float64)")
      ->capture_default_str();
  ema->add_flag("--force", ee->force, "replace an existing --out file");
  ema->callback([&action, ee]() { action = [ee]() { return run_export_ema(*ee); }; });

  auto di = std::make_shared<DiffusersArgs>();
  auto* diff = convert->add_subcommand(
      "export-diffusers", "export an NCSN++ VE network as a diffusers ScoreSdeVePipeline folder (unet/, scheduler/)");
  diff->add_option("ckpt", di->ckpt, "checkpoint dir, checkpoints/latest, run dir or export-ema file")->required();
  diff->add_option("--out", di->out, "the folder to write (ScoreSdeVePipeline.from_pretrained loads it)")->required();
  diff->add_option("--weights", di->weights, "ema (the averaged weights score_sde samples with) | model (raw)")
      ->check(CLI::IsMember({"ema", "model"}))
      ->capture_default_str();
  diff->add_flag("--force", di->force, "write into a non-empty --out folder, replacing the pipeline's files");
  diff->callback([&action, di]() { action = [di]() { return run_export_diffusers(*di); }; });

  auto path = std::make_shared<std::string>();
  auto* inspect = convert->add_subcommand("inspect", "list the tensors of a .pth, .safetensors or checkpoint dir");
  inspect->add_option("file", *path, "torch.save file, safetensors file, checkpoint dir or run dir")->required();
  inspect->callback([&action, path]() { action = [path]() { return run_convert_inspect(*path); }; });

  auto inc = std::make_shared<InceptionArgs>();
  auto* inception = convert->add_subcommand(
      "inception",
      "FID Inception weights (pytorch-fid .pth, NVIDIA .pt, fid-helper .pt) -> the .safetensors scorch fid uses");
  inception->add_option("src", inc->src, "pt_inception-2015-12-05-6726825d.pth, inception-2015-12-05.pt, ...")
      ->required()
      ->check(CLI::ExistingFile);
  inception->add_option("--out", inc->out, "file to write (default ~/.cache/scorch/fid/inception.safetensors)");
  inception->add_flag("--force", inc->force, "replace an existing --out file");
  inception->callback(
      [&action, inc]() { action = [inc]() { return run_convert_inception(inc->src, inc->out, inc->force); }; });
}

}  // namespace scorch::apps
