// TrainingOptions::from: one place that reads and checks the trainer's keys.
#include "trainer/training_options.h"

#include <algorithm>

#include "core/error.h"

namespace scorch::trainer {

TrainingOptions TrainingOptions::from(const Config& config, bool need_data) {
  TrainingOptions o;
  o.seed = static_cast<uint64_t>(config.get_int("seed"));
  o.batch_size = config.get_int("training.batch_size");
  o.micro_batch = config.get_int("training.micro_batch");
  o.n_iters = config.get_int("training.n_iters");
  o.precision = parse_precision(config.get_string("training.precision"), "training.precision");
  o.tf32 = config.get_bool("training.tf32");
  o.channels_last = config.get_switch("training.channels_last");
  o.ema_rate = config.get_float("model.ema_rate");
  o.grad_bucket_mb = config.get_float("training.grad_bucket_mb");
  o.max_nonfinite_steps = config.get_int("training.max_nonfinite_steps");
  o.sync_free = config.get_bool("training.sync_free");
  o.cuda_graph = config.get_bool("training.cuda_graph");
  o.cudnn_benchmark = config.get_bool("training.cudnn_benchmark");
  // A log line every step at the least: 0 or less would divide by zero in the loop's schedule.
  o.log_freq = std::max<int64_t>(config.get_int("training.log_freq"), 1);
  o.eval_freq = config.get_int("training.eval_freq");
  o.snapshot_freq = config.get_int("training.snapshot_freq");
  o.snapshot_freq_for_preemption = config.get_int("training.snapshot_freq_for_preemption");
  o.snapshot_sampling = config.get_bool("training.snapshot_sampling");
  o.tensorboard = config.get_bool("training.tensorboard");
  o.keep_last = config.get_int("training.keep_last");
  o.data_path = config.get_string("data.path");
  o.eval_path = config.get_string("data.eval_path");
  o.image_size = config.get_int("data.image_size");
  o.num_channels = config.get_int("data.num_channels");
  o.timeout_s = config.get_float("dist.timeout_s");
  o.check_weights = config.get_bool("dist.check_weights");

  SCORCH_CHECK_HINT(o.batch_size > 0, "choose a positive global batch", "training.batch_size must be > 0, got {}",
                    o.batch_size);
  SCORCH_CHECK(o.micro_batch >= 0, "training.micro_batch must be >= 0 (0: the whole share), got {}", o.micro_batch);
  SCORCH_CHECK(o.n_iters >= 0, "training.n_iters must be >= 0, got {}", o.n_iters);
  SCORCH_CHECK(o.ema_rate >= 0.0 && o.ema_rate <= 1.0, "model.ema_rate must lie in [0, 1], got {}", o.ema_rate);
  SCORCH_CHECK(o.keep_last >= 0, "training.keep_last must be >= 0 (rolling checkpoints kept), got {}", o.keep_last);
  SCORCH_CHECK_HINT(!need_data || !o.data_path.empty(),
                    "pack a dataset with `scorch data pack` and pass --set data.path=DIR",
                    "data.path is empty: the trainer needs a dataset dir");
  return o;
}

int64_t TrainingOptions::local_batch(int world) const {
  SCORCH_CHECK_HINT(batch_size % world == 0, "choose a training.batch_size that is a multiple of the number of ranks",
                    "training.batch_size = {} does not split over {} ranks", batch_size, world);
  return batch_size / world;
}

int64_t TrainingOptions::local_micro_batch(int world) const {
  const int64_t share = local_batch(world);
  if (micro_batch == 0) return share;
  SCORCH_CHECK_HINT(share % micro_batch == 0, "pick a divisor of the per-rank batch, or 0 for the whole share",
                    "training.micro_batch = {} does not divide the per-rank batch {} (batch_size {} over {} ranks)",
                    micro_batch, share, batch_size, world);
  return micro_batch;
}

}  // namespace scorch::trainer
