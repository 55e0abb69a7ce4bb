// The training loop: steps, logging, evaluation and snapshots (set-up: trainer_setup.cpp, the step's body:
// train_step.cpp, checkpoints: trainer_state.cpp).
#include "trainer/trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "core/dist/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/signals.h"
#include "trainer/classifier_loss.h"
#include "trainer/loss_noise.h"

namespace scorch::trainer {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string duration_text(double s) {
  if (s >= 3600) return fmt::format("{}h{:02d}m", static_cast<int>(s / 3600), static_cast<int>(s / 60) % 60);
  if (s >= 60) return fmt::format("{}m{:02d}s", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  return fmt::format("{:.0f}s", s);
}

// A loader batch as the model takes it: images (B, C, H, W) as they are, points (B, D) as (B, D, 1, 1).
torch::Tensor to_device(const torch::Tensor& batch, const torch::Device& device, bool channels_last) {
  const auto x = batch.dim() == 2 ? batch.view({batch.size(0), batch.size(1), 1, 1}) : batch;
  auto y = x.to(device, /*non_blocking=*/true);
  return channels_last ? y.contiguous(torch::MemoryFormat::ChannelsLast) : y;
}

}  // namespace

bool Trainer::agree_any(bool mine, const std::string& what) {
  auto guard = watchdog_->guard(fmt::format("step {}: {}", step_, what));
  return comm_->all_reduce_max(static_cast<int64_t>(mine)) != 0;
}

TrainResult Trainer::run() {
  TrainResult result;
  const int64_t log_freq = o_.log_freq, eval_freq = o_.eval_freq;
  const int64_t ckpt_freq = o_.snapshot_freq_for_preemption, snap_freq = o_.snapshot_freq;
  const int64_t start = step_;
  if (step_ >= o_.n_iters)
    spdlog::info("step {} already reaches training.n_iters = {}: nothing to train", step_, o_.n_iters);
  auto interval_start = std::chrono::steady_clock::now(), run_start = interval_start;
  while (step_ < o_.n_iters) {
    train_step();
    const bool log_now = step_ % log_freq == 0 || step_ == o_.n_iters;
    if (eval_loader_ && eval_freq > 0 && step_ % eval_freq == 0) evaluate();
    if (log_now) {
      // The interval's one wait for the device comes first, so that its time counts in the interval: a
      // sync-free or graphed host runs ahead of the GPU by up to the whole interval.
      if (sync_free_) read_device_interval();
      const double per_step = seconds_since(run_start) / static_cast<double>(step_ - start);
      log_interval(seconds_since(interval_start), per_step * static_cast<double>(o_.n_iters - step_));
      interval_start = std::chrono::steady_clock::now();
    }
    const bool stop = agree_any(stop_requested(), "stop-signal check");
    const bool snapshot_due = snap_freq > 0 && step_ % snap_freq == 0;
    if (stop || step_ == o_.n_iters || snapshot_due || (ckpt_freq > 0 && step_ % ckpt_freq == 0)) save_checkpoint();
    if (snapshot_due && o_.snapshot_sampling) snapshot();
    if (stop) {
      spdlog::warn("stopping at step {} on signal {} after checkpointing; run the same command again to resume", step_,
                   stop_signal());
      result.preempted = true;
      break;
    }
  }
  metrics_->plot();
  result.step = step_;
  result.skipped_steps = skipped_total_;
  return result;
}

void Trainer::train_step() {
  if (hooks_.on_step) hooks_.on_step(step_);
  const double lr = warmup_lr(adam_->options(), step_);
  data::Batch batch;
  {
    auto guard = watchdog_->guard(fmt::format("step {}: waiting for data", step_));
    batch = loader_->next();
  }
  interval_data_s_ += loader_->take_wait_seconds();
  data_state_ = batch.state;
  auto images = to_device(batch.images, device_, channels_last_);  // (B_local, C, H, W)
  SCORCH_CHECK(images.size(0) == local_batch_, "loader returned {} images, expected {}", images.size(0), local_batch_);
  if (graph_wanted_ && steps_this_run_ >= kGraphWarmupSteps)
    graph_step(images, lr);
  else
    eager_step(images, labels_for_loss(batch), lr);
  last_lr_ = lr;
  ++interval_steps_;
  ++step_;
  images_seen_ += o_.batch_size;
  ++steps_this_run_;
}

void Trainer::read_device_interval() {
  std::vector<torch::Tensor> sums = {dev_.loss_sum,  dev_.images,   dev_.skipped,   dev_.max_streak,
                                     dev_.grad_norm, dev_.eval_sum, dev_.eval_count};
  torch::Tensor host;
  {
    // The one wait of the interval: under the watchdog, polling NCCL's errors, as the synced step's.
    // A graphed step's collectives are the graph's: should they ever hang, the message says how to step eagerly.
    auto guard = watchdog_->guard(fmt::format(
        "step {}: reading the interval's sums{}", step_,
        step_graph_ ? " (the steps replay a CUDA graph; training.cuda_graph=false runs them eagerly)" : ""));
    comm_->synchronize();
    host = read_host(torch::stack(sums));  // (7,)
  }
  const auto* v = host.data_ptr<double>();
  interval_loss_sum_ += v[0];
  interval_images_ += static_cast<int64_t>(v[1]);
  const auto skipped = static_cast<int64_t>(v[2]), longest = static_cast<int64_t>(v[3]);
  if (interval_images_ > 0) last_grad_norm_ = v[4];
  skipped_total_ += skipped;
  if (v[6] > 0) pending_eval_loss_ = v[5] / v[6];
  for (const auto& t : {dev_.loss_sum, dev_.images, dev_.skipped, dev_.max_streak, dev_.eval_sum, dev_.eval_count})
    t.zero_();
  if (skipped > 0)
    spdlog::warn("steps up to {}: {} with non-finite loss or gradients skipped on every rank (longest run {})", step_,
                 skipped, longest);
  check_nonfinite_streak(longest, fmt::format("before step {}", step_));
}

void Trainer::check_nonfinite_streak(int64_t streak, const std::string& when) const {
  const int64_t limit = o_.max_nonfinite_steps;
  SCORCH_CHECK_HINT(streak < limit, "lower optim.lr, raise optim.warmup, or try training.precision=fp32",
                    "{} non-finite steps in a row (training.max_nonfinite_steps = {}) {}; none of them was "
                    "checkpointed, so the newest checkpoint in {} is as it was{}",
                    streak, limit, when, store_->dir(),
                    resumed_from_ && step_ - *resumed_from_ <= streak
                        ? fmt::format(" (this run resumed from step {} and took no finite step since: that "
                                      "checkpoint may itself hold non-finite or damaged values)",
                                      *resumed_from_)
                        : "");
}

void Trainer::log_interval(double seconds, double eta_s) {
  double totals[2] = {interval_loss_sum_, static_cast<double>(interval_images_)};
  {
    auto guard = watchdog_->guard(fmt::format("step {}: loss all-reduce", step_));
    totals[0] = comm_->all_reduce_sum(totals[0]);
    totals[1] = comm_->all_reduce_sum(totals[1]);
  }
  const double loss = totals[1] > 0 ? totals[0] / totals[1] : std::nan("");
  const double images_per_s = static_cast<double>(interval_steps_ * o_.batch_size) / seconds;
  const double step_ms = 1000.0 * seconds / static_cast<double>(std::max<int64_t>(interval_steps_, 1));
  nlohmann::json row = {{"step", step_},
                        {"loss", std::isfinite(loss) ? nlohmann::json(loss) : nlohmann::json(nullptr)},
                        {"lr", last_lr_},
                        {"grad_norm", last_grad_norm_},
                        {"images_per_s", images_per_s},
                        {"step_ms", step_ms},
                        {"data_wait_share", interval_data_s_ / seconds},
                        {"comm_wait_share", interval_comm_s_ / seconds},
                        {"skipped_steps", skipped_total_},
                        {"images_seen", images_seen_},
                        {"elapsed_s", elapsed_seconds()}};
  if (scaler_.enabled()) row["loss_scale"] = scaler_.scale();
  const double mem = dist::memory_peak_gib(device_);
  if (device_.is_cuda()) row["peak_mem_gib"] = mem;
  if (pending_eval_loss_) row["eval_loss"] = *pending_eval_loss_;
  if (!pending_eval_accuracy_.empty()) {
    double right = 0, total = 0;
    for (int64_t b = 0; b < kAccuracyBands; ++b) {
      const double r = pending_eval_accuracy_[b], n = pending_eval_accuracy_[kAccuracyBands + b];
      row[fmt::format("eval_acc_band{}", b)] = n > 0 ? nlohmann::json(r / n) : nlohmann::json(nullptr);
      right += r, total += n;
    }
    row["eval_acc"] = total > 0 ? nlohmann::json(right / total) : nlohmann::json(nullptr);
    spdlog::info("step {}: eval accuracy {:.3f} (by noise band, lowest first: {})", step_, right / total, [&] {
      std::string s;
      for (int64_t b = 0; b < kAccuracyBands; ++b) {
        const double n = pending_eval_accuracy_[kAccuracyBands + b];
        // A band no image of this batch fell in has no accuracy (null in metrics.jsonl), not 0.
        s += (b ? ", " : "") + (n > 0 ? fmt::format("{:.3f}", pending_eval_accuracy_[b] / n) : std::string("-"));
      }
      return s;
    }());
    pending_eval_accuracy_.clear();
  }
  metrics_->append(row);
  spdlog::info(
      "step {}/{} loss {:.5g} lr {:.2e} |g| {:.3g} {:.0f} img/s {:.1f} ms/step data {:.0f}% comm {:.0f}%{}{} ETA {}",
      step_, o_.n_iters, loss, last_lr_, last_grad_norm_, images_per_s, step_ms, 100.0 * interval_data_s_ / seconds,
      100.0 * interval_comm_s_ / seconds, device_.is_cuda() ? fmt::format(" mem {:.1f} GiB", mem) : "",
      pending_eval_loss_ ? fmt::format(" eval {:.5g}", *pending_eval_loss_) : "", duration_text(eta_s));
  interval_steps_ = interval_images_ = 0;
  interval_loss_sum_ = interval_data_s_ = interval_comm_s_ = 0;
  pending_eval_loss_.reset();
}

void Trainer::evaluate() {
  torch::NoGradGuard no_grad;
  auto batch = eval_loader_->next();
  auto images = to_device(batch.images, device_, channels_last_);  // (B_local, C, H, W)
  sdes::ModelFn model_fn = [this](const torch::Tensor& x, const torch::Tensor& labels) {
    return model_->forward(x, labels);
  };
  PerExampleNoise noise(mix_seed(o_.seed, kEvalStream), step_, comm_->rank() * local_batch_, images.size(0));
  const auto labels = labels_for_loss(batch);  // (B_local,), or undefined for a score model
  torch::Tensor sum;                           // (), float64
  {
    EmaSwap ema_weights(*ema_, *model_);
    AutocastScope autocast(o_.precision, device_);
    sum = loss_->per_example(model_fn, images, labels, noise).to(torch::kFloat64).sum();
    if (const auto* classifier = dynamic_cast<const ClassifierLoss*>(loss_.get())) {
      // One host read per evaluation: the accuracy by noise band, summed over the ranks.
      auto [right, total] = classifier->band_accuracy(model_fn, images, labels, noise, kAccuracyBands);
      const auto host = read_host(torch::cat({right, total}));  // (2 bands,) float64
      std::vector<double> sums(host.data_ptr<double>(), host.data_ptr<double>() + host.numel());
      auto guard = watchdog_->guard(fmt::format("step {}: eval accuracy all-reduce", step_));
      for (auto& v : sums) v = comm_->all_reduce_sum(v);
      pending_eval_accuracy_ = sums;
    }
    if (hooks_.on_evaluate) hooks_.on_evaluate(step_, *model_);
  }
  if (sync_free_) {
    // Summed over the ranks on the device; read with the interval's other sums at the next log.
    if (comm_->world() > 1) {
      auto guard = watchdog_->guard(fmt::format("step {}: eval loss all-reduce", step_));
      comm_->all_reduce_sum(sum);
    }
    dev_.eval_sum.add_(sum);
    dev_.eval_count.add_(static_cast<double>(images.size(0) * comm_->world()));
    return;
  }
  const double mine = read_host(sum).item<double>(), count = static_cast<double>(images.size(0));
  auto guard = watchdog_->guard(fmt::format("step {}: eval loss all-reduce", step_));
  pending_eval_loss_ = comm_->all_reduce_sum(mine) / comm_->all_reduce_sum(count);
}

void Trainer::snapshot() {
  if (comm_->rank() != 0 || !hooks_.on_snapshot) return;
  EmaSwap ema_weights(*ema_, *model_);
  metrics_->image("samples", step_, hooks_.on_snapshot(step_, *model_));
}

}  // namespace scorch::trainer
