// What `scorch fid` and `scorch fid --ckpts` share: the options, the Inception extractor with its
// communicators, and reading reference statistics.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/dist/communicator.h"
#include "eval/extract.h"
#include "eval/inception_weights.h"

namespace scorch::apps {

struct FidArgs {
  std::string samples, ref, data, out, inception, ckpts;
  std::string preprocessing = "tf", device = "auto", precision = "fp32";
  bool is = false, kid = false;
  int64_t batch_size = 50, is_splits = 10, kid_subsets = 100, kid_subset_size = 1000;
  // Checkpoint series (--ckpts): sampling settings; 0 / -1 take the checkpoint config's eval.* and seed.
  std::string weights = "ema";
  int64_t num = 0, batch = 0, seed = -1;
  bool delete_samples = false;
  std::vector<std::string> sets;  // KEY=VALUE config overrides for sampling
};

// The Inception model, its weights and the communicators every stage shares.
struct Extractor {
  eval::InceptionV3 model;
  eval::WeightsInfo weights;
  eval::ExtractOptions options;
  std::shared_ptr<dist::Communicator> comm, cpu_comm;

  explicit Extractor(const FidArgs& a);
  eval::Extracted run(const std::string& dir, bool logits, bool features);
  nlohmann::json identity(const FidArgs& a) const;
  // Refuses --is with feature-only weights (before any slow work starts).
  void check_can_score_is(const FidArgs& a) const;
};

void write_json(const std::string& path, const nlohmann::json& j);

// Reference statistics from an .npz: pytorch-fid/TTUR/clean-fid/EDM keys mu + sigma, or score_sde's raw
// activations under pool_3 (then also usable for KID). `mode` is the preprocessing of this run.
eval::Extracted read_reference(const std::string& path, const std::string& mode);

// FID (and IS / KID when asked) of extracted samples against the reference: {"fid", "frechet", "is", "kid"}.
nlohmann::json score(const FidArgs& a, const eval::Extracted& samples, const eval::Extracted& ref);

// `scorch fid --ckpts PATTERN`: sample, score and tabulate every matching checkpoint (apps/fid_ckpts.cpp).
int run_fid_ckpts(const FidArgs& a);

}  // namespace scorch::apps
