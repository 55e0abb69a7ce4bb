// One optimizer step of the Trainer: micro-batched backward, gradient averaging, and the update finished on
// the host (synced) or on the device (sync-free), eagerly or replayed from the step's CUDA graph.
#include <spdlog/spdlog.h>

#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "trainer/loss_noise.h"
#include "trainer/trainer.h"

namespace scorch::trainer {

void Trainer::seed_dropout(int64_t j, int64_t chunks) const {
  // Dropout masks come from a stream fixed by (seed, step, rank, micro-batch), so a resumed run repeats them.
  torch::manual_seed(mix_seed(mix_seed(mix_seed(o_.seed, kDropoutStream), static_cast<uint64_t>(step_)),
                              static_cast<uint64_t>(comm_->rank() * chunks + j)));
}

torch::Tensor Trainer::labels_for_loss(const data::Batch& batch) const {
  if (!loss_->needs_labels()) return {};
  SCORCH_CHECK(batch.labels.defined(), "the batch has no labels, which training.task = classifier needs");
  const int64_t classes = config_.get_int("model.num_classes");
  SCORCH_CHECK_HINT(batch.labels.numel() == 0 ||
                        (batch.labels.min().item<int64_t>() >= 0 && batch.labels.max().item<int64_t>() < classes),
                    "set model.num_classes to the dataset's number of classes (scorch data info lists them)",
                    "a label of the batch lies outside [0, model.num_classes = {})", classes);
  return batch.labels.to(device_, /*non_blocking=*/true);  // (B_local,)
}

torch::Tensor Trainer::backward_micro_batch(const torch::Tensor& chunk, const torch::Tensor& labels, LossNoise& noise,
                                            bool last) {
  sdes::ModelFn model_fn = [this](const torch::Tensor& x, const torch::Tensor& labels) {
    return model_->forward(x, labels);
  };
  reducer_->arm(last);
  torch::Tensor per_example;
  {
    AutocastScope autocast(o_.precision, device_);
    per_example = loss_->per_example(model_fn, chunk, labels, noise).to(torch::kFloat32);  // (b,)
  }
  // Sum over micro-batches of sum/B_local is the rank's batch mean; the reducer then averages over ranks.
  auto objective = per_example.sum() / static_cast<double>(local_batch_);
  if (scaler_.enabled()) objective = objective * scaler_.scale();
  objective.backward();
  return per_example.detach().sum().to(torch::kFloat64);
}

void Trainer::eager_step(const torch::Tensor& images, const torch::Tensor& labels, double lr) {
  adam_->zero_grad();
  const int64_t chunks = local_batch_ / micro_batch_;
  torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions(torch::kFloat64).device(device_));
  for (int64_t j = 0; j < chunks; ++j) {
    seed_dropout(j, chunks);
    auto chunk = images.narrow(0, j * micro_batch_, micro_batch_);  // (b, C, H, W)
    PerExampleNoise noise(mix_seed(o_.seed, kLossStream), step_, comm_->rank() * local_batch_ + j * micro_batch_,
                          micro_batch_);
    const auto chunk_labels = labels.defined() ? labels.narrow(0, j * micro_batch_, micro_batch_) : labels;  // (b,)
    loss_sum += backward_micro_batch(chunk, chunk_labels, noise, j == chunks - 1);
  }
  {
    // Under the watchdog: with MPI the reduction blocks in finish(). NCCL only queues it; the synced step
    // waits for it here, polling NCCL's own errors, rather than in the first blocking call below, where a
    // dead peer would hang this rank forever; the sync-free step waits at the log interval instead.
    auto guard = watchdog_->guard(fmt::format("step {}: gradient all-reduce", step_));
    reducer_->finish();
    if (!sync_free_) comm_->synchronize();
  }
  interval_comm_s_ += reducer_->last_wait_seconds();
  if (scaler_.enabled()) {
    std::vector<torch::Tensor> grads;
    for (auto& p : params_)
      if (p.grad().defined()) grads.push_back(p.grad());
    at::_foreach_mul_(grads, 1.0 / scaler_.scale());
  }
  if (hooks_.on_gradients) hooks_.on_gradients(step_, params_);
  auto norm = grad_norm(params_);  // ()
  if (sync_free_)
    finish_step_sync_free(norm, loss_sum, lr);
  else
    finish_step_synced(norm, loss_sum, lr);
}

void Trainer::graph_body(const torch::Tensor& images, LossNoise& noise, const torch::Tensor& lr) {
  reducer_->reattach_on_current_stream();  // the capture's stream (host-side bookkeeping only)
  auto loss_sum = backward_micro_batch(images, {}, noise, /*last=*/true);  // (), float64
  reducer_->finish();
  finish_step_sync_free(grad_norm(params_), loss_sum, 0.0, lr);
}

void Trainer::graph_step(const torch::Tensor& images, double lr) {
  seed_dropout(0, 1);  // before capture and each replay: the graph reads the generator's seed when replayed
  PerExampleNoise noise(mix_seed(o_.seed, kLossStream), step_, comm_->rank() * local_batch_, local_batch_);
  if (!step_graph_) {
    auto graph = std::make_unique<StepGraph>();
    std::string failure;
    try {
      // Under the watchdog: should NCCL set up a connection inside the capture, that waits for the peers.
      auto guard = watchdog_->guard(fmt::format("step {}: capturing the training step as a CUDA graph", step_));
      graph->capture([this](const torch::Tensor& x, LossNoise& n, const torch::Tensor& l) { graph_body(x, n, l); },
                     images, params_);
    } catch (const std::exception& e) {  // also LibTorch's own errors (out of memory while preparing)
      failure = e.what();
    }
    // All ranks replay or none: the gradient all-reduces are inside the graph, and a rank that stepped eagerly
    // beside graphed peers would rest on NCCL matching captured and eager collectives after a failed capture.
    const bool failed_somewhere = agree_any(!failure.empty(), "CUDA graph capture");
    if (failed_somewhere) {
      reducer_->reattach_on_current_stream();  // back from the capture's stream, for the eager steps
      spdlog::warn("{}; training goes on with eager steps (training.cuda_graph=false skips the attempt)",
                   failure.empty() ? "the training step's CUDA graph capture failed on another rank" : failure);
      graph_wanted_ = false;
      eager_step(images, {}, lr);
      return;
    }
    spdlog::info("step {}: the training step is captured as one CUDA graph and replayed from now on", step_);
    step_graph_ = std::move(graph);
  }
  step_graph_->replay(images, noise, lr, params_);
  ++graphed_steps_;
}

torch::Tensor Trainer::read_host(const torch::Tensor& t) {
  ++host_reads_;
  return t.cpu();
}

void Trainer::finish_step_synced(const torch::Tensor& norm, const torch::Tensor& loss_sum, double lr) {
  // Whether to skip is decided on the host, alike on every rank: one device-to-host copy for both values.
  const auto host = read_host(torch::stack({norm.to(torch::kFloat64), loss_sum}));  // (2,): |g|, loss sum
  const double norm_value = host[0].item<double>(), loss_value = host[1].item<double>();
  const bool nonfinite = agree_any(!(std::isfinite(norm_value) && std::isfinite(loss_value)), "non-finite check");
  scaler_.update(!nonfinite);
  if (nonfinite) {
    ++skipped_total_;
    adam_->zero_grad();
    // With fp16 an overflow is the loss scale's business; only non-finite losses at any scale count.
    const bool counts = !scaler_.enabled() || !std::isfinite(loss_value);
    nonfinite_streak_ = counts ? nonfinite_streak_ + 1 : 0;
    if (counts)
      spdlog::warn("step {}: non-finite loss or gradients, step skipped on every rank ({} in a row)", step_,
                   nonfinite_streak_);
    else
      spdlog::info("step {}: fp16 gradients overflowed, step skipped on every rank; loss scale now {:g}", step_,
                   scaler_.scale());
    check_nonfinite_streak(nonfinite_streak_, fmt::format("at step {}", step_));
    return;
  }
  nonfinite_streak_ = 0;
  last_grad_norm_ = norm_value;
  const double clip = adam_->options().grad_clip;
  if (clip >= 0) clip_grads(params_, norm, clip);
  adam_->step(lr);
  ema_->update(*model_);
  interval_loss_sum_ += loss_value;
  interval_images_ += local_batch_;
}

void Trainer::finish_step_sync_free(const torch::Tensor& norm, const torch::Tensor& loss_sum, double lr,
                                    const torch::Tensor& lr_device) {
  // The gradients are already averaged, so their norm is the same on every rank; the loss is the rank's own,
  // so its verdict is summed over the ranks (on the device, as the gradients were).
  auto found_inf = torch::logical_not(torch::isfinite(norm) & torch::isfinite(loss_sum)).to(torch::kFloat32);  // ()
  if (comm_->world() > 1) {
    auto guard = watchdog_->guard(fmt::format("step {}: non-finite check", step_));
    comm_->all_reduce_sum(found_inf);
    found_inf = found_inf.clamp_max(1.0);
  }
  const double clip = adam_->options().grad_clip;
  if (clip >= 0) clip_grads(params_, norm, clip);  // a non-finite norm poisons only gradients the update ignores
  if (lr_device.defined())
    adam_->step(lr_device, found_inf);
  else
    adam_->step(lr, found_inf);
  ema_->update(*model_, found_inf);
  const auto skipped = found_inf.to(torch::kFloat64), applied = 1.0 - skipped;  // ()
  dev_.loss_sum.add_(torch::where(skipped > 0, torch::zeros_like(loss_sum), loss_sum));
  dev_.images.add_(applied * static_cast<double>(local_batch_));
  dev_.skipped.add_(skipped);
  dev_.streak.add_(1.0).mul_(skipped);
  torch::maximum_out(dev_.max_streak, dev_.max_streak, dev_.streak);
  dev_.grad_norm.copy_(torch::where(skipped > 0, dev_.grad_norm, norm.to(torch::kFloat64)));
}

}  // namespace scorch::trainer
