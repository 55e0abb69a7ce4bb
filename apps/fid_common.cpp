// The Inception extractor of `scorch fid` (weights, device, precision, communicators) and reference reading.
#include "apps/fid_common.h"

#include <ATen/Context.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "core/dist/device.h"
#include "core/dist/process.h"
#include "core/error.h"
#include "core/atomic_file.h"
#include "core/io/npz.h"
#include "eval/scores.h"

namespace scorch::apps {

namespace fs = std::filesystem;
using nlohmann::json;

Extractor::Extractor(const FidArgs& a) {
  options.mode = eval::parse_preprocessing(a.preprocessing);
  options.batch_size = a.batch_size;
  options.device = dist::select_device(a.device, dist::info().local_rank);
  if (options.device.is_cpu()) dist::configure_cpu_threads(dist::info().local_world);
  SCORCH_CHECK(a.precision == "fp32" || a.precision == "tf32", "--precision must be fp32 or tf32, got '{}'",
               a.precision);
  // FID moves by more than its run-to-run noise under TF32 convolutions: off unless asked for.
  dist::set_tf32(a.precision == "tf32");
  weights = eval::load_weights(model, a.inception.empty() ? eval::default_weights_path() : a.inception);
  spdlog::info("FID Inception weights: {} [{}], preprocessing {}, {} on {}", weights.identity, weights.format,
               a.preprocessing, a.precision, options.device.str());
  comm = dist::make_communicator("auto", options.device);
  cpu_comm = options.device.is_cpu() ? comm : dist::make_communicator("auto", torch::Device(torch::kCPU));
}

eval::Extracted Extractor::run(const std::string& dir, bool logits, bool features) {
  auto source = eval::open_image_source(dir);
  spdlog::info("FID: extracting features of {} on {} rank(s)", source->describe(), comm->world());
  auto o = options;
  o.logits = logits;
  o.keep_features = features;
  return eval::extract(*source, model, o, *comm, *cpu_comm);
}

json Extractor::identity(const FidArgs& a) const {
  return {{"feature_extractor", {{"weights", weights.identity}, {"path", weights.path}, {"format", weights.format}}},
          {"preprocessing", eval::to_string(options.mode)},
          {"precision", a.precision},
          {"device", options.device.str()},
          {"ranks", comm->world()}};
}

void Extractor::check_can_score_is(const FidArgs& a) const {
  SCORCH_CHECK_HINT(!a.is || weights.has_logits,
                    "use pytorch-fid's pt_inception-2015-12-05-6726825d.pth or NVIDIA's inception-2015-12-05.pt",
                    "--is needs the 1008-class output layer, which {} does not contain (feature-only weights)",
                    weights.path);
}

void write_json(const std::string& path, const json& j) { write_file_atomic(path, j.dump(2) + "\n"); }

eval::Extracted read_reference(const std::string& path, const std::string& mode) {
  const auto arrays = io::npz::read_npz(path);
  const fs::path sidecar = path + ".json";
  int64_t count = 0;  // pytorch-fid's .npz does not say how many images it summarises; scorch's sidecar does
  if (fs::exists(sidecar)) {
    const auto meta = json::parse(read_file(sidecar.string()));
    SCORCH_CHECK_HINT(meta.value("preprocessing", mode) == mode, "pass --preprocessing " + meta.value("preprocessing", ""),
                      "{} was computed with preprocessing '{}', this run uses '{}': the FID would mix two pipelines",
                      path, meta.value("preprocessing", ""), mode);
    count = meta.value("images", int64_t{0});
  }
  eval::Extracted out;
  if (arrays.count("mu") && arrays.count("sigma")) {
    out.stats = eval::checked_stats(arrays.at("mu"), arrays.at("sigma"), count, path);
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

json score(const FidArgs& a, const eval::Extracted& samples, const eval::Extracted& ref) {
  SCORCH_CHECK(!a.kid || ref.features.defined(),
               "--kid needs per-image features of the reference: pass an image folder or a pool_3 npz, not {} (mu/sigma only)",
               a.ref);
  const auto fd = eval::frechet_distance(samples.stats, ref.stats);
  json r;
  r["fid"] = fd.fid;
  r["frechet"] = {{"route", fd.route}, {"rank_deficient", fd.rank_deficient}, {"clamped_eigenvalues", fd.clamped}};
  if (a.is) {
    const auto is = eval::inception_score(samples.logits, a.is_splits);
    r["is"] = {{"mean", is.mean}, {"std", is.std}, {"splits", a.is_splits}};
  }
  if (a.kid) {
    const auto kid = eval::kernel_inception_distance(samples.features, ref.features,
                                                     {.subsets = a.kid_subsets, .subset_size = a.kid_subset_size});
    r["kid"] = {{"mean", kid.mean}, {"std", kid.std}, {"subsets", a.kid_subsets},
                {"subset_size", std::min({a.kid_subset_size, samples.stats.count, ref.features.size(0)})}};
  }
  return r;
}

}  // namespace scorch::apps
