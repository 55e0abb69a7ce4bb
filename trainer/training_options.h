// The settings the train loop reads (training.* and the few seed, model., data. and dist. keys it needs),
// resolved and checked once from a Config.
#pragma once
#include <cstdint>
#include <string>

#include "core/config.h"
#include "trainer/precision.h"

namespace scorch::trainer {

struct TrainingOptions {
  uint64_t seed = 42;
  int64_t batch_size = 128;  // global, split over the ranks
  int64_t micro_batch = 0;   // per rank; 0: the rank's whole share at once
  int64_t n_iters = 0;
  Precision precision = Precision::FP32;
  bool tf32 = false;                    // CUDA only
  Switch channels_last = Switch::Auto;  // auto: on CUDA
  double ema_rate = 0.9999;
  double grad_bucket_mb = 25;
  int64_t max_nonfinite_steps = 20;
  bool sync_free = true;         // training.sync_free: no device-to-host read between log intervals
  bool cuda_graph = true;        // training.cuda_graph: the whole step replayed from one CUDA graph
  bool cudnn_benchmark = false;  // training.cudnn_benchmark: cuDNN times its algorithms per shape (CUDA only)

  int64_t log_freq = 50;                                                // >= 1
  int64_t eval_freq = 100;                                              // <= 0: never
  int64_t snapshot_freq = 50000, snapshot_freq_for_preemption = 10000;  // <= 0: never
  bool snapshot_sampling = true;
  bool tensorboard = true;
  int64_t keep_last = 3;

  std::string data_path, eval_path;  // eval_path empty: no evaluation loss
  int64_t image_size = 32, num_channels = 3;
  double timeout_s = 600;
  bool check_weights = false;

  // Fails naming the key when a value is out of range (a batch that does not split over the ranks is
  // caught by local_batch, which knows the world size).
  // `need_data` false skips the data.path check (a dry run's config may be printed for editing without one).
  static TrainingOptions from(const Config& config, bool need_data = true);

  // This rank's share of batch_size over `world` ranks, and its micro-batch; fail with a hint when they do
  // not divide.
  int64_t local_batch(int world) const;
  int64_t local_micro_batch(int world) const;
};

}  // namespace scorch::trainer
