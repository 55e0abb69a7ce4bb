// `scorch fid`: FID (and IS, KID) of a folder of samples against reference statistics; `scorch fid stats`.
#include <ATen/Context.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "core/device.h"
#include "core/dist/communicator.h"
#include "core/dist/process.h"
#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/npz.h"
#include "eval/extract.h"
#include "eval/inception_weights.h"
#include "eval/scores.h"

namespace scorch::apps {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct FidArgs {
  std::string samples, ref, data, out, weights, ckpts;
  std::string preprocessing = "tf", device = "auto", precision = "fp32";
  bool is = false, kid = false;
  int64_t batch_size = 50, is_splits = 10, kid_subsets = 100, kid_subset_size = 1000;
};

// The model, its weights and the communicators every stage shares.
struct Extractor {
  eval::InceptionV3 model;
  eval::WeightsInfo weights;
  eval::ExtractOptions options;
  std::shared_ptr<dist::Communicator> comm, cpu_comm;

  explicit Extractor(const FidArgs& a) {
    options.mode = eval::parse_preprocessing(a.preprocessing);
    options.batch_size = a.batch_size;
    options.device = select_device(a.device, dist::info().local_rank);
    SCORCH_CHECK(a.precision == "fp32" || a.precision == "tf32", "--precision must be fp32 or tf32, got '{}'",
                 a.precision);
    // FID moves by more than its run-to-run noise under TF32 convolutions: off unless asked for.
    at::globalContext().setAllowTF32CuBLAS(a.precision == "tf32");
    at::globalContext().setAllowTF32CuDNN(a.precision == "tf32");
    weights = eval::load_weights(model, a.weights.empty() ? eval::default_weights_path() : a.weights);
    spdlog::info("FID Inception weights: {} [{}], preprocessing {}, {} on {}", weights.identity, weights.format,
                 a.preprocessing, a.precision, options.device.str());
    comm = dist::make_communicator("auto", options.device);
    cpu_comm = options.device.is_cpu() ? comm : dist::make_communicator("auto", torch::Device(torch::kCPU));
  }

  eval::Extracted run(const std::string& dir, bool logits, bool features) {
    auto source = eval::open_image_source(dir);
    spdlog::info("FID: extracting features of {} on {} rank(s)", source->describe(), comm->world());
    auto o = options;
    o.logits = logits;
    o.keep_features = features;
    return eval::extract(*source, model, o, *comm, *cpu_comm);
  }

  json identity(const FidArgs& a) const {
    return {{"feature_extractor", {{"weights", weights.identity}, {"path", weights.path}, {"format", weights.format}}},
            {"preprocessing", eval::to_string(options.mode)},
            {"precision", a.precision},
            {"device", options.device.str()},
            {"ranks", comm->world()}};
  }
};

void write_json(const std::string& path, const json& j) { write_file_atomic(path, j.dump(2) + "\n"); }

// Reference statistics from an .npz: pytorch-fid/TTUR/clean-fid/EDM keys mu + sigma, or score_sde's raw
// activations under pool_3 (then also usable for KID).
eval::Extracted read_reference(const std::string& path, const std::string& mode) {
  const auto arrays = npz::read_npz(path);
  const fs::path sidecar = path + ".json";
  if (fs::exists(sidecar)) {
    const auto meta = json::parse(read_file(sidecar.string()));
    SCORCH_CHECK_HINT(meta.value("preprocessing", mode) == mode, "pass --preprocessing " + meta.value("preprocessing", ""),
                      "{} was computed with preprocessing '{}', this run uses '{}': the FID would mix two pipelines",
                      path, meta.value("preprocessing", ""), mode);
  }
  eval::Extracted out;
  if (arrays.count("mu") && arrays.count("sigma")) {
    out.stats = eval::checked_stats(arrays.at("mu"), arrays.at("sigma"), 0, path);
  } else if (arrays.count("pool_3")) {
    auto act = arrays.at("pool_3").to(torch::kDouble);
    if (act.dim() == 4) act = act.flatten(1);  // (N, 1, 1, 2048) as TF writes it
    SCORCH_CHECK(act.dim() == 2 && act.size(0) >= 2, "{}: pool_3 must be (N, 2048) activations, got {}", path,
                 c10::str(act.sizes()));
    out.stats = eval::checked_stats(act.mean(0), torch::cov(act.t()), act.size(0), path);
    out.features = act;
  } else {
    std::string keys;
    for (const auto& [k, v] : arrays) keys += " " + k;
    SCORCH_FAIL("{}: expected keys mu + sigma (pytorch-fid) or pool_3 (score_sde), found:{}", path, keys);
  }
  SCORCH_CHECK(out.stats.mu.size(0) == 2048, "{}: statistics are {}-d, the FID Inception pool features are 2048-d",
               path, out.stats.mu.size(0));
  return out;
}

int run_stats(const FidArgs& a) {
  SCORCH_CHECK(!a.data.empty(), "scorch fid stats needs --data DIR (a folder of images)");
  Extractor ex(a);
  const std::string out = a.out.empty() ? fmt::format("{}-fid-stats-{}.npz", fs::path(a.data).filename().string(),
                                                      eval::to_string(ex.options.mode))
                                        : a.out;
  auto e = ex.run(a.data, false, false);
  if (ex.comm->rank() == 0) {
    npz::write_npz(out, {{"mu", e.stats.mu}, {"sigma", e.stats.sigma}});
    auto meta = ex.identity(a);
    meta["images"] = e.stats.count;
    meta["source"] = a.data;
    write_json(out + ".json", meta);
    std::printf("wrote %s (%lld images, preprocessing %s) and %s.json\n", out.c_str(),
                static_cast<long long>(e.stats.count), eval::to_string(ex.options.mode).c_str(), out.c_str());
  }
  return 0;
}

int run_fid(const FidArgs& a) {
  SCORCH_CHECK_HINT(a.ckpts.empty(), "sample each checkpoint with `scorch sample`, then run `scorch fid --samples`",
                    "--ckpts (checkpoint series) is not implemented yet: it needs the sampler farm");
  SCORCH_CHECK(!a.samples.empty() && !a.ref.empty(), "scorch fid needs --samples DIR and --ref ref.npz|DIR");
  // A reference file is checked before the (slow) extraction starts.
  const bool ref_is_dir = fs::is_directory(a.ref);
  eval::Extracted ref = ref_is_dir ? eval::Extracted{} : read_reference(a.ref, a.preprocessing);
  Extractor ex(a);
  SCORCH_CHECK_HINT(!a.is || ex.weights.has_logits,
                    "use pytorch-fid's pt_inception-2015-12-05-6726825d.pth or NVIDIA's inception-2015-12-05.pt",
                    "--is needs the 1008-class output layer, which {} does not contain (feature-only weights)",
                    ex.weights.path);
  const std::string mode = eval::to_string(ex.options.mode);
  auto samples = ex.run(a.samples, a.is, a.kid);
  if (ref_is_dir) ref = ex.run(a.ref, false, a.kid);
  SCORCH_CHECK(!a.kid || ref.features.defined(),
               "--kid needs per-image features of the reference: pass an image folder or a pool_3 npz, not {} (mu/sigma only)",
               a.ref);
  if (ex.comm->rank() != 0) return 0;

  const auto fd = eval::frechet_distance(samples.stats, ref.stats);
  json result = ex.identity(a);
  result["fid"] = fd.fid;
  result["frechet"] = {{"route", fd.route}, {"rank_deficient", fd.rank_deficient}, {"clamped_eigenvalues", fd.clamped}};
  result["samples"] = {{"path", a.samples}, {"images", samples.stats.count}};
  result["ref"] = {{"path", a.ref}, {"images", ref.stats.count > 0 ? json(ref.stats.count) : json(nullptr)}};
  std::printf("FID %.6f (%lld samples vs %s, preprocessing %s)\n", fd.fid, static_cast<long long>(samples.stats.count),
              a.ref.c_str(), mode.c_str());
  if (a.is) {
    const auto is = eval::inception_score(samples.logits, a.is_splits);
    result["is"] = {{"mean", is.mean}, {"std", is.std}, {"splits", a.is_splits}};
    std::printf("IS  %.6f +- %.6f (%lld splits)\n", is.mean, is.std, static_cast<long long>(a.is_splits));
  }
  if (a.kid) {
    const auto kid = eval::kernel_inception_distance(samples.features, ref.features,
                                                     {.subsets = a.kid_subsets, .subset_size = a.kid_subset_size});
    result["kid"] = {{"mean", kid.mean}, {"std", kid.std}, {"subsets", a.kid_subsets},
                     {"subset_size", std::min({a.kid_subset_size, samples.stats.count, ref.features.size(0)})}};
    std::printf("KID %.6e +- %.6e\n", kid.mean, kid.std);
  }
  const std::string out = a.out.empty() ? (fs::path(a.samples) / ("fid-" + mode + ".json")).string() : a.out;
  write_json(out, result);
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

void add_extractor_flags(CLI::App* cmd, FidArgs& a) {
  cmd->add_option("--preprocessing", a.preprocessing, "tf (TTUR/score_sde/EDM numbers) | pytorch-fid")
      ->check(CLI::IsMember({"tf", "pytorch-fid"}));
  cmd->add_option("--weights", a.weights, "FID Inception weights (.pth of pytorch-fid or TorchScript .pt)");
  cmd->add_option("--device", a.device, "auto | cpu | cuda | cuda:N");
  cmd->add_option("--precision", a.precision, "fp32 (default, TF32 off) | tf32");
  cmd->add_option("--batch-size", a.batch_size, "images per Inception batch (global batches, fixed over ranks)");
}

}  // namespace

void add_fid_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<FidArgs>();
  auto* cmd = app.add_subcommand("fid", "FID / IS / KID of samples against reference statistics");
  cmd->add_option("--samples", a->samples, "folder of sample images");
  cmd->add_option("--ref", a->ref, "reference: stats .npz (mu/sigma or pool_3) or a folder of images");
  cmd->add_flag("--is", a->is, "also the Inception Score (needs weights with the 1008-class layer)");
  cmd->add_flag("--kid", a->kid, "also the Kernel Inception Distance");
  cmd->add_option("--is-splits", a->is_splits, "IS splits (10 as in Salimans et al.; score_sde used 1)");
  cmd->add_option("--kid-subsets", a->kid_subsets, "KID subsets");
  cmd->add_option("--kid-subset-size", a->kid_subset_size, "KID subset size (clamped to the smaller set)");
  cmd->add_option("--out", a->out, "result JSON (default: SAMPLES/fid-<preprocessing>.json)");
  cmd->add_option("--ckpts", a->ckpts, "checkpoint glob (not implemented yet: needs the sampler farm)");
  add_extractor_flags(cmd, *a);
  auto* stats = cmd->add_subcommand("stats", "reference statistics (pytorch-fid .npz) of a folder of images");
  stats->add_option("--data", a->data, "folder of images")->required();
  stats->add_option("--out", a->out, "output .npz (default: <folder name>-fid-stats-<preprocessing>.npz)");
  add_extractor_flags(stats, *a);
  cmd->callback([&action, a, stats]() {
    action = [a, stats]() {
      dist::check_world_size();
      return stats->parsed() ? run_stats(*a) : run_fid(*a);
    };
  });
}

}  // namespace scorch::apps
