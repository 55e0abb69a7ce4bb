// `scorch lab mixture`: score matching on Song & Ermon's 2-D Gaussian mixture, where every answer is known.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace scorch::lab {

struct MixtureLabOptions {
  std::string out;  // the lab's directory: data/, run/, the plots and the table
  std::string config = "configs/small/mixture_mlp.yaml";
  std::vector<std::string> sets;  // config overrides (key=value), applied last
  int64_t steps = -1;             // training steps; < 0: the config's training.n_iters
  std::string loss;               // training.loss; empty: the config's
  int64_t points = 1000;          // samples per sampler, and exact draws to compare them with
  uint64_t seed = 0;
};

// One sampler's result on one score: the (5, 5) mode's share with its standard error, each mode's mean,
// MMD^2 against exact draws, score evaluations and seconds.
struct LabRow {
  std::string score, sampler;
  double weight = 0, weight_se = 0;
  double mean_hi[2] = {0, 0}, mean_lo[2] = {0, 0};
  double mmd2 = 0;
  int64_t nfe = 0;
  double seconds = 0;
};

struct MixtureLabReport {
  std::vector<LabRow> rows;
  std::vector<std::pair<double, double>> score_error;  // (sigma, relative MSE of the learned score)
  double mmd2_baseline = 0;                            // two independent exact sets of the same size
  double train_seconds = 0;
  int64_t trained_steps = 0;  // of the network the "learned" rows use (a run resumed in OUT may hold more than asked)
  nlohmann::json to_json() const;
  std::string to_markdown() const;
};

// Writes the mixture to OUT/data, trains the config's model on it in OUT/run (resuming what is there), then
// samples with plain Langevin dynamics at one noise level, annealed Langevin, PC and the probability-flow ODE,
// each driven by the exact score and by the learned one (EMA weights), and writes OUT/samples.png,
// OUT/scores.png (true and learned score fields), OUT/table.md and OUT/table.json.
MixtureLabReport run_mixture_lab(const MixtureLabOptions& o);

}  // namespace scorch::lab
