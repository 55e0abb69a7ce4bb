// eval::fid: reference first (a bad file fails fast), weights, samples, then the scores on rank 0.
#include "eval/fid.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/fid_reference.h"
#include "eval/frechet.h"
#include "eval/scores.h"

namespace scorch::eval {

using nlohmann::json;

FidReference::FidReference(std::string path, const std::string& preprocessing) : path_(std::move(path)) {
  if (std::filesystem::is_directory(path_)) return;
  extracted_ = read_reference_stats(path_, preprocessing);
  have_ = true;
  const auto sidecar = path_ + ".json";
  if (!std::filesystem::exists(sidecar)) return;
  const auto meta = json::parse(read_file(sidecar), nullptr, /*allow_exceptions=*/false);
  if (meta.is_object() && meta.contains("feature_extractor") && meta["feature_extractor"].is_object() &&
      meta["feature_extractor"].contains("weights") && meta["feature_extractor"]["weights"].is_string())
    weights_ = meta["feature_extractor"]["weights"].get<std::string>();
}

void FidReference::warn_if_other_weights(FidExtractor& extractor) const {
  if (weights_.empty() || extractor.cpu_comm().rank() != 0) return;
  const std::string now = extractor.identity()["feature_extractor"]["weights"].get<std::string>();
  // "NAME (BYTES bytes, crc32 X)": the same file under another name is the same network.
  const auto digest = [](const std::string& id) { return id.substr(std::min(id.rfind(" ("), id.size())); };
  if (digest(now) != digest(weights_))
    spdlog::warn(
        "{} was computed with the Inception weights {}, this run extracts with {}: the FID compares the "
        "features of two networks (make the statistics again with `scorch fid stats`)",
        path_, weights_, now);
}

const Extracted& FidReference::get(FidExtractor& extractor, bool features) {
  if (!have_) extracted_ = extractor.run(path_, false, features), have_ = true;
  return extracted_;
}

namespace {

void check_kid_reference(bool kid, const Extracted& ref, const std::string& ref_path) {
  SCORCH_CHECK(!kid || ref.features.defined(),
               "--kid needs per-image features of the reference: pass an image folder or a pool_3 npz, not {} "
               "(mu/sigma only)",
               ref_path);
}

}  // namespace

void FidReference::check_can_score_kid(bool kid) const {
  if (have_) check_kid_reference(kid, extracted_, path_);
}

json score_samples(const Extracted& samples, const Extracted& ref, const ScoreOptions& o, const std::string& ref_path) {
  check_kid_reference(o.kid, ref, ref_path);
  const auto fd = frechet_distance(samples.stats, ref.stats);
  json r;
  r["fid"] = fd.fid;
  r["frechet"] = {{"route", fd.route}, {"rank_deficient", fd.rank_deficient}, {"clamped_eigenvalues", fd.clamped}};
  if (o.is) {
    const auto is = inception_score(samples.logits, o.is_splits);
    r["is"] = {{"mean", is.mean}, {"std", is.std}, {"splits", o.is_splits}};
  }
  if (o.kid) {
    KidOptions ko;
    ko.subsets = o.kid_subsets;
    ko.subset_size = o.kid_subset_size;
    const int64_t smaller = std::min(samples.stats.count, ref.features.size(0));
    if (smaller < o.kid_subset_size)
      spdlog::warn(
          "KID: subsets of {} images asked, but the smaller set has {}: every subset takes {} of them, so the "
          "subsets overlap and the KID std understates the uncertainty (0 when both sets have {} images); use "
          "at least {} images per set for a meaningful std (torch-fidelity refuses fewer)",
          o.kid_subset_size, smaller, smaller, smaller, o.kid_subset_size);
    const auto kid = kernel_inception_distance(samples.features, ref.features, ko);
    r["kid"] = {{"mean", kid.mean},
                {"std", kid.std},
                {"subsets", o.kid_subsets},
                {"subset_size", std::min({o.kid_subset_size, samples.stats.count, ref.features.size(0)})}};
  }
  return r;
}

json fid(const std::string& samples, const std::string& ref, const FidOptions& o) {
  FidReference reference(ref, o.extractor.preprocessing);
  reference.check_can_score_kid(o.scores.kid);  // before the samples' extraction, not after
  FidExtractor extractor(o.extractor);
  if (o.scores.is) extractor.check_can_score_is();
  reference.warn_if_other_weights(extractor);
  const auto s = extractor.run(samples, o.scores.is, o.scores.kid);
  const auto& r = reference.get(extractor, o.scores.kid);
  if (extractor.cpu_comm().rank() != 0) return nullptr;
  json result = extractor.identity();
  result.update(score_samples(s, r, o.scores, ref));
  result["samples"] = {{"path", samples}, {"images", s.stats.count}};
  result["ref"] = {{"path", ref}, {"images", r.stats.count > 0 ? json(r.stats.count) : json(nullptr)}};
  return result;
}

}  // namespace scorch::eval
