// The data-parallel training loop: one rank per device, bucketed gradient averaging, Adam + EMA, mixed
// precision, non-finite step skipping, atomic checkpoints with exact resume, stop on preemption signals.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/dist/communicator.h"
#include "core/dist/watchdog.h"
#include "core/error.h"
#include "core/io/checkpoint_store.h"
#include "core/io/image_io.h"
#include "core/models/score_model.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "trainer/adam.h"
#include "trainer/ema.h"
#include "trainer/grad_reducer.h"
#include "trainer/losses.h"
#include "trainer/metrics_log.h"
#include "trainer/precision.h"
#include "trainer/step_graph.h"
#include "trainer/training_options.h"

namespace scorch::trainer {

// A checkpoint written for a different network or objective: not a damaged file, so no older checkpoint is
// tried in its place.
class ResumeMismatch : public Error {
 public:
  using Error::Error;
};

struct TrainerHooks {
  // Rank 0, every training.snapshot_freq steps when training.snapshot_sampling is on: the model holds the
  // EMA weights and is in eval mode for the duration of the call (the sampler draws a grid with it). The grid
  // it returns goes to TensorBoard as the "samples" image.
  std::function<io::Image(int64_t step, models::ScoreModelImpl& ema_model)> on_snapshot;
  // After each step's gradient reduction, before the skip decision, clipping and the update; `params` hold the
  // averaged gradients (benches mark steps here, tests corrupt a gradient).
  // With a CUDA-graphed step this hook cannot run inside it: setting it keeps the steps eager.
  std::function<void(int64_t step, const std::vector<torch::Tensor>& params)> on_gradients;
  // Before each step, eager or graphed (benches open and close their timing windows here).
  std::function<void(int64_t step)> on_step;
  // Every rank, at each evaluation after its loss, with the EMA weights in the model (tests make it throw there).
  std::function<void(int64_t step, models::ScoreModelImpl& ema_model)> on_evaluate;
};

struct TrainResult {
  int64_t step = 0;        // completed steps
  bool preempted = false;  // stopped early on a signal, after checkpointing
  int64_t skipped_steps = 0;
};

// The checks a run makes on its config when it starts, without data, run dir or device: the trainer's and
// Adam's option ranges (data.path aside), the batch's split over `world` ranks, the SDE, the loss and the
// network it builds (on the CPU). `scorch train --dry-run` runs them before printing the config.
void check_config(const Config& config, int world);
// The checks a run makes on its data when it starts: data.path (and data.eval_path when training.eval_freq > 0)
// opens, holds images of data.image_size and data.num_channels (or points of that dimension, without image
// transforms), and labels where the task needs them. Nothing when data.path is unset. `scorch train --dry-run`
// runs them after check_config.
void check_data(const Config& config);
// Every rank of `comm` holds rank 0's config, or every rank throws (the differing ones naming the keys and both
// values): a rank with another network would broadcast and all-reduce tensors of other sizes, which MPI does not
// detect (rank 1's heap was overwritten in an MPMD launch with `--set model.nf=32` on one side). A collective:
// `scorch train` calls it on every rank before the Trainer, whose set-up broadcasts rank 0's state.
void check_ranks_agree(const Config& config, dist::Communicator& comm);

class Trainer {
 public:
  // Builds the model, optimizer, EMA and data stream, and resumes from the newest complete checkpoint in
  // <workdir>/checkpoints when there is one (all ranks of `comm` must construct together).
  Trainer(Config config, std::string workdir, std::shared_ptr<dist::Communicator> comm, torch::Device device,
          TrainerHooks hooks = {});
  ~Trainer();

  // Trains until training.n_iters steps are done or a stop signal arrives; checkpoints on the way and at the end.
  TrainResult run();

  int64_t step() const { return step_; }
  // Device-to-host reads the train loop has made (every one is a host synchronisation on CUDA).
  int64_t host_reads() const { return host_reads_; }
  // Whether steps run without host reads (training.sync_free, and its conditions met).
  bool sync_free() const { return sync_free_; }
  // Steps this run replayed from a captured CUDA graph (training.cuda_graph).
  int64_t graphed_steps() const { return graphed_steps_; }
  // Whether the steps after the warm-up are to be replayed from a CUDA graph (training.cuda_graph on CUDA, and
  // the step allows it); from construction until a capture fails.
  bool graph_wanted() const { return graph_wanted_; }
  models::ScoreModelImpl& model() { return *model_; }
  const Ema& ema() const { return *ema_; }
  const Adam& optimizer() const { return *adam_; }
  // The step this run resumed from, if it did.
  std::optional<int64_t> resumed_from() const { return resumed_from_; }

 private:
  // Set-up, in the constructor's order (trainer_setup.cpp).
  void build_model();
  void resume_newest();
  void open_data();
  // Checkpoints (trainer_state.cpp).
  void resume(const std::string& ckpt_dir);
  void broadcast_state();
  // Synchronised (training.sync_free off, or fp16, or optim.fused off): waits on the host for the gradient
  // reduction (under the watchdog, so that an NCCL error surfaces), copies the gradient norm and loss to the
  // host, and agrees with the other ranks over MPI whether the step is skipped. Sync-free: the same decision
  // is a device flag every rank computes alike, the update is masked by it, and run() reads the
  // interval's sums once. run() adds one host all-reduce per step either way: the stop-signal check (MPI).
  void train_step();
  void eager_step(const torch::Tensor& images, const torch::Tensor& labels, double lr);
  // The batch's labels on the device when the objective reads them (the classifier task), checked against
  // model.num_classes; undefined otherwise.
  torch::Tensor labels_for_loss(const data::Batch& batch) const;
  // training.cuda_graph: after kGraphWarmupSteps eager steps, the step is captured once and replayed.
  void graph_step(const torch::Tensor& images, double lr);
  // The step inside the graph: one micro-batch, sync-free, the learning rate read from `lr` on the device.
  void graph_body(const torch::Tensor& images, LossNoise& noise, const torch::Tensor& lr);
  // Seeds dropout for micro-batch `j` of the current step.
  void seed_dropout(int64_t j, int64_t chunks) const;
  // Forward and backward of one micro-batch; its per-example losses summed, (), float64, detached.
  torch::Tensor backward_micro_batch(const torch::Tensor& chunk, const torch::Tensor& labels, LossNoise& noise,
                                     bool last);
  void finish_step_synced(const torch::Tensor& norm, const torch::Tensor& loss_sum, double lr);
  // `lr_device`, when given, replaces `lr` (a float32 scalar a CUDA graph reads at each replay).
  void finish_step_sync_free(const torch::Tensor& norm, const torch::Tensor& loss_sum, double lr,
                             const torch::Tensor& lr_device = {});
  // Sync-free: folds the device sums of the interval into the host figures, checks the non-finite streak.
  void read_device_interval();
  // Ends the run when `streak` non-finite steps in a row reach training.max_nonfinite_steps.
  void check_nonfinite_streak(int64_t streak, const std::string& when) const;
  torch::Tensor read_host(const torch::Tensor& t);
  void log_interval(double seconds, double eta_s);
  void evaluate();
  void save_checkpoint();
  void snapshot();
  void check_weights_agree();
  bool agree_any(bool mine, const std::string& what);

  Config config_;
  std::string workdir_;
  std::shared_ptr<dist::Communicator> comm_;
  torch::Device device_;
  TrainerHooks hooks_;
  TrainingOptions o_;
  bool channels_last_ = false;  // training.channels_last as it applies to this device
  int64_t local_batch_, micro_batch_;

  // Stream ids under the run seed, so the loss noise, dropout and evaluation never share random numbers.
  static constexpr uint64_t kLossStream = 1, kDropoutStream = 2, kEvalStream = 3;

  std::shared_ptr<models::ScoreModelImpl> model_;
  std::vector<torch::Tensor> params_;  // trainable, registration order
  std::shared_ptr<sdes::Sde> sde_;
  std::unique_ptr<Loss> loss_;
  std::unique_ptr<Adam> adam_;
  std::unique_ptr<Ema> ema_;
  std::unique_ptr<GradReducer> reducer_;
  std::unique_ptr<StepGraph> step_graph_;
  bool graph_wanted_ = false;  // training.cuda_graph, and its conditions met
  static constexpr int64_t kGraphWarmupSteps = 3;
  int64_t steps_this_run_ = 0, graphed_steps_ = 0;
  LossScaler scaler_;
  std::unique_ptr<io::CheckpointStore> store_;
  std::unique_ptr<dist::Watchdog> watchdog_;
  std::unique_ptr<MetricsLog> metrics_;

  std::shared_ptr<const data::Dataset> dataset_, eval_dataset_;
  std::unique_ptr<data::Loader> loader_, eval_loader_;
  data::SamplerState data_state_;

  int64_t step_ = 0;
  int64_t images_seen_ = 0;  // not step_ × batch_size: the batch size may change on a resume
  std::optional<int64_t> resumed_from_;
  bool sync_free_ = false;
  int64_t host_reads_ = 0;
  // Sync-free sums over the current log interval, on the device (float64, 0-dim): loss, images, skipped
  // steps, the current and the longest non-finite streak, the last applied gradient norm; evaluation sums.
  struct DeviceInterval {
    torch::Tensor loss_sum, images, skipped, streak, max_streak, grad_norm;
    torch::Tensor eval_sum, eval_count;  // evaluation-loss sums over all ranks, since the last read
  } dev_;
  int64_t nonfinite_streak_ = 0, skipped_total_ = 0;

  // Accumulated over the current log interval.
  int64_t interval_steps_ = 0, interval_images_ = 0;
  double interval_loss_sum_ = 0, interval_data_s_ = 0, interval_comm_s_ = 0, last_grad_norm_ = 0, last_lr_ = 0;
  std::optional<double> pending_eval_loss_;
  // The classifier task's evaluation: correct then total per noise band, summed over the ranks.
  static constexpr int64_t kAccuracyBands = 4;
  std::vector<double> pending_eval_accuracy_;
};

}  // namespace scorch::trainer
