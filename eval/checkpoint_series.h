// FID over a series of checkpoints (`scorch fid --ckpts`): each matching checkpoint, in step order, is
// sampled with the farm into OUT/samples/step-N (a complete set is reused, a partial one resumed), scored
// against the reference, and added to the FidTable in OUT; checkpoints already in the table are skipped.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "eval/fid.h"

namespace scorch::eval {

// What the series did with one checkpoint (told on rank 0): its row of the table, and whether the row was
// there already, in which case nothing was sampled or scored.
struct CheckpointScored {
  nlohmann::json row;
  bool skipped = false;
  std::string table;  // the fid.json holding the row
};

struct CheckpointSeriesOptions {
  // A glob over step-N dirs ('runs/NAME/checkpoints/step-*'), or one checkpoint without wildcards (a step-N
  // dir, `latest`, a checkpoints/ or run dir).
  std::string pattern;
  std::string ref;  // a statistics .npz or an image folder / dataset dir
  std::string out;  // table and samples; empty: RUN/fid beside RUN/checkpoints
  FidOptions fid;
  std::string weights = "ema";  // ema | model
  // Images per checkpoint and the sampling batch; absent: each checkpoint config's eval.num_samples and
  // eval.batch_size.
  std::optional<int64_t> num, batch;
  bool delete_samples = false;  // remove OUT/samples/step-N once scored
  // The config overrides. Those that decide the samples are recorded in every row's settings (rows with other
  // such overrides are not comparable) and name the sample set's directory; speed and runtime ones are not.
  std::vector<std::string> overrides;
  // The sampling config of a checkpoint from the one it was trained with (`trained`): the CLI layers its
  // flags here, as every command layers its config, and refuses network changes. Its `seed` seeds the farm
  // and its `device` places the sampler. Called for every matching checkpoint before any work starts; unset,
  // the trained config is used as it is.
  std::function<Config(const Config& trained)> sampling_config;
  std::function<void(const CheckpointScored&)> on_checkpoint;  // optional, rank 0
};

struct CheckpointSeriesReport {
  int64_t checkpoints = 0, scored = 0, skipped = 0;
  std::string table_json, table_csv, plot;
};

// Collective over the ranks: each checkpoint is sampled by all of them, then extracted by all of them.
CheckpointSeriesReport evaluate_checkpoint_series(const CheckpointSeriesOptions& o);

}  // namespace scorch::eval
