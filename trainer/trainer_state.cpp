// The trainer's checkpoint side: what a checkpoint holds, resuming from one, and keeping ranks identical.
#include <spdlog/spdlog.h>

#include <filesystem>

#include "core/dist/process.h"
#include "core/dist/versions.h"
#include "core/error.h"
#include "core/io/checkpoint_files.h"
#include "core/json_numbers.h"
#include "core/models/model_weights.h"
#include "core/sha256.h"
#include "core/signals.h"
#include "core/version.h"
#include "trainer/trainer.h"

namespace scorch::trainer {

namespace fs = std::filesystem;

void Trainer::resume(const std::string& ckpt_dir) {
  const auto meta = io::CheckpointStore::validate(ckpt_dir);
  const auto saved = io::checkpoint_config(meta, (fs::path(ckpt_dir) / "meta.json").string());
  // What a changed key does to a resume follows from its scope (core/config.h): the network and the objective
  // it learns must match; a training hyperparameter may change, but the run is then not the one it was.
  for (const auto& o : option_table()) {
    const auto before = saved.value_text(o.key), now = config_.value_text(o.key);
    if (before == now) continue;
    if (o.scope == Scope::Network || o.scope == Scope::Objective)
      throw ResumeMismatch(__FILE__, __LINE__,
                           fmt::format("{} = {} in this run, but the checkpoint {} was trained with {} = {} ({} key)",
                                       o.key, now, ckpt_dir, o.key, before, scope_name(o.scope)),
                           "use a new --workdir for a different model, or restore the old value");
    if (o.scope == Scope::Training)
      spdlog::warn("resume: {} changed from {} to {}; the run continues with the new value", o.key, before, now);
    else
      spdlog::info("resume: {} changed from {} to {}", o.key, before, now);
  }

  auto tensors = io::read_checkpoint_tensors(ckpt_dir);
  {
    torch::NoGradGuard no_grad;
    auto state = tensors.model;
    models::load_reference_weights(*model_, state, (fs::path(ckpt_dir) / io::kModelFile).string());
  }
  for (auto& [name, t] : tensors.ema) t = t.to(device_);
  ema_->load_state(tensors.ema_num_updates, tensors.ema);
  for (auto& [name, t] : tensors.optimizer) t = t.to(device_);
  adam_->load_state(tensors.optimizer, tensors.optimizer_step, (fs::path(ckpt_dir) / io::kOptimizerFile).string());

  const auto meta_path = (fs::path(ckpt_dir) / "meta.json").string();
  step_ = json_int64(meta["step"], meta_path + ": step");
  const auto& d = meta.at("data");
  data_state_.epoch = json_int64(d.at("epoch"), meta_path + ": data.epoch");
  data_state_.consumed = json_int64(d.at("consumed"), meta_path + ": data.consumed");
  const int64_t saved_batch = json_int64(d.at("global_batch"), meta_path + ": data.global_batch");
  images_seen_ =
      meta.contains("images_seen") ? json_int64(meta["images_seen"], meta_path + ": images_seen") : step_ * saved_batch;
  if (saved_batch != o_.batch_size)
    spdlog::warn("resume: training.batch_size changed from {} to {}; the data stream continues at image {} of epoch {}",
                 saved_batch, o_.batch_size, data_state_.consumed, data_state_.epoch);
  if (meta.contains("loss_scale"))
    scaler_.load(meta["loss_scale"].get<double>(),
                 json_int64(meta["loss_scale_good_steps"], meta_path + ": loss_scale_good_steps"));
  skipped_total_ = meta.value("skipped_steps", int64_t{0});
  const int saved_world = meta.value("world_size", 0);
  resumed_from_ = step_;
  spdlog::info(
      "resumed from {} (step {}, {} images seen{})", ckpt_dir, step_, images_seen_,
      saved_world != comm_->world() ? fmt::format(", written by {} ranks, now {}", saved_world, comm_->world()) : "");
}

void Trainer::broadcast_state() {
  if (comm_->world() == 1) return;
  auto guard = watchdog_->guard("broadcast of the initial weights from rank 0");
  torch::NoGradGuard no_grad;
  for (auto& t : model_->parameters()) comm_->broadcast(t, 0);
  for (auto& t : model_->buffers()) comm_->broadcast(t, 0);
  // The EMA was built from this rank's own initial weights, before they were replaced by rank 0's.
  for (auto& t : ema_->shadow_tensors()) comm_->broadcast(t, 0);
}

void Trainer::check_weights_agree() {
  Sha256 h;
  for (const auto& [name, t] : models::state_dict(*model_)) {
    auto c = t.detach().to(torch::kCPU).contiguous();
    h.update(name.data(), name.size());
    h.update(c.data_ptr(), c.numel() * c.element_size());
  }
  const auto all = comm_->all_gather(h.hex_digest());
  for (size_t r = 1; r < all.size(); ++r)
    SCORCH_CHECK_HINT(all[r] == all[0], "a bug or a faulty device; please report it with the logs in <workdir>/logs",
                      "step {}: rank {} holds different weights from rank 0 (dist.check_weights)", step_, r);
  spdlog::info("step {}: weights identical on all {} ranks", step_, all.size());
}

void Trainer::save_checkpoint() {
  if (o_.check_weights) check_weights_agree();
  if (comm_->rank() == 0) {
    auto meta = io::checkpoint_meta(config_, step_);
    meta["images_seen"] = images_seen_;
    meta["world_size"] = comm_->world();
    meta["data"] = {{"epoch", data_state_.epoch}, {"consumed", data_state_.consumed}, {"global_batch", o_.batch_size}};
    // Every random stream is derived from (seed, step, rank, example index), so the seed and step are the
    // whole RNG state of every rank, whatever the number of ranks that resumes.
    meta["rng"] = {{"scheme", "derived from (seed, step, rank, example)"}, {"seed", o_.seed}};
    meta["precision"] = precision_name(o_.precision);
    if (scaler_.enabled()) meta["loss_scale"] = scaler_.scale(), meta["loss_scale_good_steps"] = scaler_.good_steps();
    // Sync-free: the steps skipped since the last log interval are still on the device.
    meta["skipped_steps"] = skipped_total_ + (sync_free_ ? static_cast<int64_t>(dev_.skipped.item<double>()) : 0);
    meta["versions"] = {{"scorch", version_string()}, {"torch", TORCH_VERSION}, {"mpi", dist::mpi_library_version()}};
    io::CheckpointTensors t;
    t.model = models::state_dict(*model_);
    t.ema = ema_->shadow();
    t.ema_num_updates = ema_->num_updates();
    t.ema_rate = ema_->rate();
    t.optimizer = adam_->state();
    t.optimizer_step = adam_->step_count();
    const auto dir = store_->save(step_, meta, [&](const std::string& tmp) { io::write_checkpoint_tensors(tmp, t); });
    spdlog::info("checkpoint {}", dir);
    if (stop_requested()) mark_stop_saved();
  }
  // No rank runs ahead of a checkpoint that might fail: a failure on rank 0 aborts the job in main().
  auto guard = watchdog_->guard(fmt::format("step {}: checkpoint barrier", step_));
  comm_->barrier();
  if (stop_requested()) mark_stop_saved();
}

}  // namespace scorch::trainer
