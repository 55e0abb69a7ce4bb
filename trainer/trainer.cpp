// The training loop: set-up, one data-parallel step, logging and evaluation (checkpoints: trainer_state.cpp).
#include "trainer/trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <sstream>

#include "core/device.h"
#include "core/error.h"
#include "core/io/checkpoint_files.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/signals.h"
#include "core/sde/sde.h"
#include "trainer/loss_noise.h"

#if SCORCH_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace scorch {

namespace fs = std::filesystem;

namespace {

// Stream ids under the run seed, so the loss noise, dropout and evaluation never share random numbers.
constexpr uint64_t kLossStream = 1, kDropoutStream = 2, kEvalStream = 3;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string duration_text(double s) {
  if (s >= 3600) return fmt::format("{}h{:02d}m", static_cast<int>(s / 3600), static_cast<int>(s / 60) % 60);
  if (s >= 60) return fmt::format("{}m{:02d}s", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  return fmt::format("{:.0f}s", s);
}

double device_peak_gib(const torch::Device& device) {
#if SCORCH_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return static_cast<double>(stats.reserved_bytes[0].peak) / (1024.0 * 1024.0 * 1024.0);
  }
#endif
  (void)device;
  return 0.0;
}

torch::Tensor to_device(const torch::Tensor& x, const torch::Device& device, bool channels_last) {
  auto y = x.to(device, /*non_blocking=*/true);
  return channels_last ? y.contiguous(torch::MemoryFormat::ChannelsLast) : y;
}

}  // namespace

Trainer::Trainer(Config config, std::string workdir, std::shared_ptr<dist::Communicator> comm, torch::Device device,
                 TrainerHooks hooks)
    : config_(std::move(config)),
      workdir_(std::move(workdir)),
      comm_(std::move(comm)),
      device_(device),
      hooks_(std::move(hooks)),
      precision_(parse_precision(config_.get_string("training.precision"), "training.precision")),
      seed_(static_cast<uint64_t>(config_.get_int("seed"))),
      scaler_(precision_ == Precision::FP16) {
  global_batch_ = config_.get_int("training.batch_size");
  n_iters_ = config_.get_int("training.n_iters");
  const int world = comm_->world();
  SCORCH_CHECK_HINT(global_batch_ > 0 && global_batch_ % world == 0,
                    "choose a training.batch_size that is a multiple of the number of ranks",
                    "training.batch_size = {} does not split over {} ranks", global_batch_, world);
  local_batch_ = global_batch_ / world;
  micro_batch_ = config_.get_int("training.micro_batch");
  if (micro_batch_ <= 0) micro_batch_ = local_batch_;
  SCORCH_CHECK_HINT(local_batch_ % micro_batch_ == 0, "pick a divisor of the per-rank batch, or 0 for the whole share",
                    "training.micro_batch = {} does not divide the per-rank batch {} (batch_size {} over {} ranks)",
                    micro_batch_, local_batch_, global_batch_, world);
  SCORCH_CHECK(n_iters_ >= 0, "training.n_iters must be >= 0, got {}", n_iters_);
  channels_last_ = config_.get_bool("training.channels_last") && device_.is_cuda();
  if (device_.is_cuda()) set_tf32(config_.get_bool("training.tf32"));

  fs::create_directories(workdir_);
  // Every rank builds the same initial weights from the seed; rank 0's are broadcast anyway.
  torch::manual_seed(seed_);
  model_ = make_model(config_);
  model_->set_grad_checkpointing(config_.get_bool("model.grad_checkpointing"));
  model_->to(device_);
  if (channels_last_) {
    torch::NoGradGuard no_grad;
    for (auto& p : model_->parameters())
      if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
  model_->train();
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& p : model_->named_parameters())
    if (p.value().requires_grad()) {
      named.emplace_back(p.key(), p.value());
      params_.push_back(p.value());
    }
  sde_ = make_sde(config_);
  sde_->to(device_);
  loss_ = make_loss(config_, sde_);
  adam_ = std::make_unique<Adam>(named, AdamOptions::from(config_));
  ema_ = std::make_unique<Ema>(*model_, config_.get_float("model.ema_rate"));

  CheckpointRetention retention;
  retention.keep_last = config_.get_int("training.keep_last");
  retention.snapshot_every = config_.get_int("training.snapshot_freq");
  store_ = std::make_unique<CheckpointStore>((fs::path(workdir_) / "checkpoints").string(), retention);
  watchdog_ = std::make_unique<dist::Watchdog>(config_.get_float("dist.timeout_s"));

  // Rank 0 lists the checkpoints, so ranks never disagree over a half-visible write. Newest first; one that
  // fails to load (missing file, wrong shape) is reported and the next older one is tried, on all ranks alike.
  std::string listing;
  if (comm_->rank() == 0)
    for (const auto& d : store_->list()) listing = d + "\n" + listing;
  comm_->broadcast(listing, 0);
  std::istringstream candidates(listing);
  for (std::string dir; std::getline(candidates, dir);) {
    std::string error;
    try {
      resume(dir);
    } catch (const ResumeMismatch&) {
      throw;
    } catch (const Error& e) {
      error = e.message();
    }
    if (!agree_any(!error.empty(), "resume")) break;
    if (!error.empty()) spdlog::warn("cannot resume from {}: {}", dir, error);
    step_ = 0;
    resumed_from_.reset();
  }
  // Starting over would soon prune those checkpoints: refuse rather than lose them.
  SCORCH_CHECK_HINT(resumed_from_ || listing.empty(),
                    "repair or move the checkpoints (see the warnings above), or start in a new --workdir",
                    "none of the checkpoints in {} can be loaded", store_->dir());
  broadcast_state();

  const std::string data_path = config_.get_string("data.path");
  SCORCH_CHECK_HINT(!data_path.empty(), "pack a dataset with `scorch data pack` and pass --set data.path=DIR",
                    "data.path is empty: the trainer needs a dataset dir");
  dataset_ = std::make_shared<data::Dataset>(data_path);
  const auto& shape = dataset_->manifest().shape;  // (H, W, C)
  const int64_t size = config_.get_int("data.image_size"), channels = config_.get_int("data.num_channels");
  SCORCH_CHECK_HINT(shape.size() == 3 && shape[0] == size && shape[1] == size && shape[2] == channels,
                    "repack the data at the model's size (scorch data pack --resolution/--pad) or change data.image_size",
                    "dataset {} holds {}x{}x{} images, the config wants {}x{}x{} (data.image_size, data.num_channels)",
                    data_path, shape.size() > 0 ? shape[0] : 0, shape.size() > 1 ? shape[1] : 0,
                    shape.size() > 2 ? shape[2] : 0, size, size, channels);
  loader_ = std::make_unique<data::Loader>(
      dataset_, data::loader_options(config_, global_batch_, comm_->rank(), comm_->world(), device_), data_state_);
  const std::string eval_path = config_.get_string("data.eval_path");
  if (!eval_path.empty() && config_.get_int("training.eval_freq") > 0) {
    eval_dataset_ = std::make_shared<data::Dataset>(eval_path);
    auto opts = data::loader_options(config_, global_batch_, comm_->rank(), comm_->world(), device_);
    opts.transform.random_flip = false;
    opts.seed = mix_seed(seed_, kEvalStream);
    eval_loader_ = std::make_unique<data::Loader>(eval_dataset_, opts);
  }
  reducer_ = std::make_unique<GradReducer>(comm_, params_, config_.get_float("training.grad_bucket_mb"));
  metrics_ = std::make_unique<MetricsLog>(workdir_, step_, comm_->rank() == 0);
  spdlog::info("model {}: {} parameters; {} ranks x {} images ({} per micro-batch), {} on {}, {} loss",
               config_.get_string("model.name"), models::count_parameters(*model_), comm_->world(), local_batch_,
               micro_batch_, precision_name(precision_), device_.str(), config_.get_string("training.sde"));
}

Trainer::~Trainer() = default;

bool Trainer::agree_any(bool mine, const std::string& what) {
  auto guard = watchdog_->guard(fmt::format("step {}: {}", step_, what));
  return comm_->all_reduce_max(static_cast<int64_t>(mine)) != 0;
}

TrainResult Trainer::run() {
  TrainResult result;
  const int64_t log_freq = std::max<int64_t>(config_.get_int("training.log_freq"), 1);
  const int64_t eval_freq = config_.get_int("training.eval_freq");
  const int64_t ckpt_freq = config_.get_int("training.snapshot_freq_for_preemption");
  const int64_t snap_freq = config_.get_int("training.snapshot_freq");
  const int64_t start = step_;
  if (step_ >= n_iters_) spdlog::info("step {} already reaches training.n_iters = {}: nothing to train", step_, n_iters_);
  auto interval_start = std::chrono::steady_clock::now(), run_start = interval_start;
  while (step_ < n_iters_) {
    train_step();
    const bool log_now = step_ % log_freq == 0 || step_ == n_iters_;
    if (eval_loader_ && eval_freq > 0 && step_ % eval_freq == 0) evaluate();
    if (log_now) {
      const double per_step = seconds_since(run_start) / static_cast<double>(step_ - start);
      log_interval(seconds_since(interval_start), per_step * static_cast<double>(n_iters_ - step_));
      interval_start = std::chrono::steady_clock::now();
    }
    const bool stop = agree_any(stop_requested(), "stop-signal check");
    const bool snapshot_due = snap_freq > 0 && step_ % snap_freq == 0;
    if (stop || step_ == n_iters_ || snapshot_due || (ckpt_freq > 0 && step_ % ckpt_freq == 0)) save_checkpoint();
    if (snapshot_due && config_.get_bool("training.snapshot_sampling")) snapshot();
    if (stop) {
      spdlog::warn("stopping at step {} on signal {} after checkpointing; run the same command again to resume",
                   step_, stop_signal());
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

  ModelFn model_fn = [this](const torch::Tensor& x, const torch::Tensor& labels) { return model_->forward(x, labels); };
  adam_->zero_grad();
  const int64_t chunks = local_batch_ / micro_batch_;
  torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions(torch::kFloat64).device(device_));
  for (int64_t j = 0; j < chunks; ++j) {
    // Dropout masks come from a stream fixed by (seed, step, rank, micro-batch), so a resumed run repeats them.
    torch::manual_seed(mix_seed(mix_seed(mix_seed(seed_, kDropoutStream), static_cast<uint64_t>(step_)),
                                static_cast<uint64_t>(comm_->rank() * chunks + j)));
    auto chunk = images.narrow(0, j * micro_batch_, micro_batch_);  // (b, C, H, W)
    PerExampleNoise noise(mix_seed(seed_, kLossStream), step_, comm_->rank() * local_batch_ + j * micro_batch_,
                          micro_batch_);
    reducer_->arm(j == chunks - 1);
    torch::Tensor per_example;
    {
      AutocastScope autocast(precision_, device_);
      per_example = loss_->per_example(model_fn, chunk, noise).to(torch::kFloat32);  // (b,)
    }
    // Sum over micro-batches of sum/B_local is the rank's batch mean; the reducer then averages over ranks.
    auto objective = per_example.sum() / static_cast<double>(local_batch_);
    if (scaler_.enabled()) objective = objective * scaler_.scale();
    objective.backward();
    loss_sum += per_example.detach().sum().to(torch::kFloat64);
  }
  {
    // NCCL queues the reduction on the GPU: wait for it here, under the watchdog and polling NCCL's own
    // errors, rather than in the first blocking call below, where a dead peer would hang this rank forever.
    auto guard = watchdog_->guard(fmt::format("step {}: gradient all-reduce", step_));
    reducer_->finish();
    comm_->synchronize();
  }
  interval_comm_s_ += reducer_->last_wait_seconds();
  if (scaler_.enabled()) {
    std::vector<torch::Tensor> grads;
    for (auto& p : params_)
      if (p.grad().defined()) grads.push_back(p.grad());
    at::_foreach_mul_(grads, 1.0 / scaler_.scale());
  }
  auto norm = grad_norm(params_);  // ()
  // Whether to skip is decided on the host, alike on every rank: one device-to-host copy for both values.
  const auto host = torch::stack({norm.to(torch::kFloat64), loss_sum}).cpu();  // (2,): |g|, loss sum
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
    const int64_t limit = config_.get_int("training.max_nonfinite_steps");
    SCORCH_CHECK_HINT(nonfinite_streak_ < limit, "lower optim.lr, raise optim.warmup, or try training.precision=fp32",
                      "{} non-finite steps in a row (training.max_nonfinite_steps = {}) at step {}; the last complete "
                      "checkpoint in {} is intact",
                      nonfinite_streak_, limit, step_, store_->dir());
  } else {
    nonfinite_streak_ = 0;
    last_grad_norm_ = norm_value;
    const double clip = adam_->options().grad_clip;
    if (clip >= 0) clip_grads(params_, norm, clip);
    adam_->step(lr);
    ema_->update(*model_);
    interval_loss_sum_ += loss_value;
    interval_images_ += local_batch_;
  }
  last_lr_ = lr;
  ++interval_steps_;
  ++step_;
}

void Trainer::log_interval(double seconds, double eta_s) {
  double totals[2] = {interval_loss_sum_, static_cast<double>(interval_images_)};
  {
    auto guard = watchdog_->guard(fmt::format("step {}: loss all-reduce", step_));
    totals[0] = comm_->all_reduce_sum(totals[0]);
    totals[1] = comm_->all_reduce_sum(totals[1]);
  }
  const double loss = totals[1] > 0 ? totals[0] / totals[1] : std::nan("");
  const double images_per_s = static_cast<double>(interval_steps_ * global_batch_) / seconds;
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
                        {"images_seen", step_ * global_batch_},
                        {"elapsed_s", elapsed_seconds()}};
  if (scaler_.enabled()) row["loss_scale"] = scaler_.scale();
  const double mem = device_peak_gib(device_);
  if (device_.is_cuda()) row["peak_mem_gib"] = mem;
  if (pending_eval_loss_) row["eval_loss"] = *pending_eval_loss_;
  metrics_->append(row);
  spdlog::info("step {}/{} loss {:.5g} lr {:.2e} |g| {:.3g} {:.0f} img/s {:.1f} ms/step data {:.0f}% comm {:.0f}%{}{} ETA {}",
               step_, n_iters_, loss, last_lr_, last_grad_norm_, images_per_s, step_ms,
               100.0 * interval_data_s_ / seconds, 100.0 * interval_comm_s_ / seconds,
               device_.is_cuda() ? fmt::format(" mem {:.1f} GiB", mem) : "",
               pending_eval_loss_ ? fmt::format(" eval {:.5g}", *pending_eval_loss_) : "", duration_text(eta_s));
  interval_steps_ = interval_images_ = 0;
  interval_loss_sum_ = interval_data_s_ = interval_comm_s_ = 0;
  pending_eval_loss_.reset();
}

void Trainer::evaluate() {
  torch::NoGradGuard no_grad;
  auto batch = eval_loader_->next();
  auto images = to_device(batch.images, device_, channels_last_);  // (B_local, C, H, W)
  ModelFn model_fn = [this](const torch::Tensor& x, const torch::Tensor& labels) { return model_->forward(x, labels); };
  PerExampleNoise noise(mix_seed(seed_, kEvalStream), step_, comm_->rank() * local_batch_, images.size(0));
  double sums[2];
  {
    EmaSwap ema_weights(*ema_, *model_);
    AutocastScope autocast(precision_, device_);
    sums[0] = loss_->per_example(model_fn, images, noise).to(torch::kFloat64).sum().item<double>();
  }
  sums[1] = static_cast<double>(images.size(0));
  auto guard = watchdog_->guard(fmt::format("step {}: eval loss all-reduce", step_));
  pending_eval_loss_ = comm_->all_reduce_sum(sums[0]) / comm_->all_reduce_sum(sums[1]);
}

void Trainer::snapshot() {
  if (comm_->rank() != 0 || !hooks_.on_snapshot) return;
  EmaSwap ema_weights(*ema_, *model_);
  hooks_.on_snapshot(step_, *model_);
}

}  // namespace scorch
