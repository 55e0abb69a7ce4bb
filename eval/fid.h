// FID of generated images against a reference, with the Inception Score and KID when asked: eval::fid() is
// the one call behind `scorch fid`; the reference and the scoring are shared with the checkpoint series.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "eval/extract.h"
#include "eval/fid_extractor.h"

namespace scorch::eval {

struct ScoreOptions {
  bool is = false;         // Inception Score of the samples (needs weights with the 1008-class layer)
  bool kid = false;        // Kernel Inception Distance (needs per-image features of the reference)
  int64_t is_splits = 10;  // 10 as in Salimans et al.; score_sde used 1
  int64_t kid_subsets = 100;
  int64_t kid_subset_size = 1000;  // clamped to the smaller set
};

struct FidOptions {
  ExtractorSettings extractor;
  ScoreOptions scores;
};

// The reference of a run: a statistics .npz (read_reference_stats) is read at construction, so that a bad
// file fails before the slow extraction of the samples; an image folder or dataset dir is extracted on first
// use, and only then (a series whose rows are all in its table never needs it).
class FidReference {
 public:
  FidReference(std::string path, const std::string& preprocessing);
  // The reference's statistics, and its per-image features when `features` (for KID) and the reference has them.
  const Extracted& get(FidExtractor& extractor, bool features);
  const std::string& path() const { return path_; }
  // Refuses KID (`kid`) against statistics without per-image features before any sampling or extraction: found only
  // after a checkpoint's samples and their features, it cost the whole set's time.
  void check_can_score_kid(bool kid) const;
  // Warns (on rank 0) when the statistics were computed with other Inception weights than `extractor` runs (their
  // sidecar says which): the FID would compare features of two networks. Files without a sidecar pass.
  void warn_if_other_weights(FidExtractor& extractor) const;

 private:
  std::string path_;
  bool have_ = false;
  Extracted extracted_;
  std::string weights_;  // the feature extractor's weights the sidecar records; empty: not known
};

// FID of the extracted samples against the reference, plus IS and KID as `o` asks:
// {"fid", "frechet": {route, rank_deficient, clamped_eigenvalues}, "is": {mean, std, splits},
//  "kid": {mean, std, subsets, subset_size}}. `ref_path` names the reference in errors.
nlohmann::json score_samples(const Extracted& samples, const Extracted& ref, const ScoreOptions& o,
                             const std::string& ref_path);

// FID (IS, KID) of the images at `samples` (a folder or a dataset dir) against `ref` (a statistics .npz or a
// folder / dataset dir). Collective over the ranks. Rank 0 returns the extractor's identity and the scores
// with {"samples": {path, images}, "ref": {path, images or null when the .npz does not say}}; other ranks null.
nlohmann::json fid(const std::string& samples, const std::string& ref, const FidOptions& o);

}  // namespace scorch::eval
