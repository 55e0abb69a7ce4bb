// The FID Inception as `scorch fid` runs it: weights, preprocessing, device and precision, and the
// communicators that every extraction of one run shares.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/dist/communicator.h"
#include "eval/extract.h"
#include "eval/inception_weights.h"

namespace scorch::eval {

struct ExtractorSettings {
  std::string preprocessing = "tf";  // tf (TTUR / score_sde / EDM numbers) | pytorch-fid
  std::string inception;             // weights file; empty: default_weights_path()
  std::string device = "auto";       // auto | cpu | cuda | cuda:N
  std::string precision = "fp32";    // fp32 (TF32 off) | tf32
  int64_t batch_size = 50;           // images per Inception batch (global batches, fixed over ranks)
  int64_t input_size = 299;          // the network's input; smaller (>= 75) only in tests
};

class FidExtractor {
 public:
  // Loads the weights and makes the communicators: collective over the ranks.
  explicit FidExtractor(const ExtractorSettings& settings);

  // Features of the images at `path` (a folder or a dataset dir), with the (N, 1008) logits for IS and
  // the (N, 2048) per-image features for KID when asked. Collective; every rank gets the result.
  Extracted run(const std::string& path, bool logits, bool features);
  // What a result was computed with: feature extractor, preprocessing, precision, device, ranks.
  nlohmann::json identity() const;
  // Refuses the Inception Score with feature-only weights, before any slow work starts.
  void check_can_score_is() const;

  Preprocessing mode() const { return options_.mode; }
  const WeightsInfo& weights() const { return weights_; }
  // Host collectives (broadcasts, barriers) go over the CPU communicator, whatever the device.
  dist::Communicator& cpu_comm() { return *cpu_comm_; }

 private:
  // Threads, determinism and TF32 as this extractor wants them, process-wide.
  void apply_runtime() const;

  InceptionV3 model_;
  WeightsInfo weights_;
  ExtractOptions options_;
  std::string precision_;
  std::shared_ptr<dist::Communicator> comm_, cpu_comm_;
};

}  // namespace scorch::eval
