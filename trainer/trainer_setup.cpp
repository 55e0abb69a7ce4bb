// The trainer's set-up: model, optimizer and EMA from the seed, resuming from the newest checkpoint that
// loads, rank 0's state on every rank, and the data streams.
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <sstream>

#include "core/atomic_file.h"
#include "core/dist/device.h"
#include "core/error.h"
#include "core/models/memory_format.h"
#include "core/rng.h"
#include "core/sdes/sde.h"
#include "data/loader.h"
#include "trainer/trainer.h"

namespace scorch::trainer {

namespace fs = std::filesystem;

Trainer::Trainer(Config config, std::string workdir, std::shared_ptr<dist::Communicator> comm, torch::Device device,
                 TrainerHooks hooks)
    : config_(std::move(config)),
      workdir_(std::move(workdir)),
      comm_(std::move(comm)),
      device_(device),
      hooks_(std::move(hooks)),
      o_(TrainingOptions::from(config_)),
      channels_last_(switch_applies(o_.channels_last, device_.is_cuda())),
      local_batch_(o_.local_batch(comm_->world())),
      micro_batch_(o_.local_micro_batch(comm_->world())),
      scaler_(o_.precision == Precision::FP16) {
  if (device_.is_cuda()) {
    dist::restart_memory_peak(device_);  // metrics' peak_mem_gib is this run's
    dist::set_tf32(o_.tf32);
    dist::set_cudnn_benchmark(o_.cudnn_benchmark);
  }
  fs::create_directories(workdir_);
  build_model();
  io::CheckpointRetention retention;
  retention.keep_last = o_.keep_last;
  retention.snapshot_every = o_.snapshot_freq;
  store_ = std::make_unique<io::CheckpointStore>((fs::path(workdir_) / "checkpoints").string(), retention);
  watchdog_ = std::make_unique<dist::Watchdog>(o_.timeout_s);
  resume_newest();
  broadcast_state();
  open_data();
  reducer_ = std::make_unique<GradReducer>(comm_, params_, o_.grad_bucket_mb);
  sync_free_ = o_.sync_free && adam_->options().fused && !scaler_.enabled();
  if (o_.sync_free && !sync_free_)
    spdlog::info("training.sync_free: off, because {}; each step reads its loss and gradient norm on the host",
                 scaler_.enabled() ? "fp16's loss scale is adjusted on the host" : "optim.fused is false");
  if (o_.cuda_graph && device_.is_cuda()) {
    const char* why = !step_graphs_compiled()        ? "this build has no CUDA paths"
                      : !sync_free_                  ? "the step is not sync-free (training.sync_free)"
                      : micro_batch_ != local_batch_ ? "micro-batches reseed dropout between them"
                      : hooks_.on_gradients          ? "a gradient hook is set"
                      : loss_->needs_labels()        ? "the classifier task's labels are not graph inputs"
                                                     : nullptr;
    graph_wanted_ = why == nullptr;
    if (why) spdlog::info("training.cuda_graph: off, because {}; steps run eager", why);
  }
  for (auto* t : {&dev_.loss_sum, &dev_.images, &dev_.skipped, &dev_.streak, &dev_.max_streak, &dev_.grad_norm,
                  &dev_.eval_sum, &dev_.eval_count})
    *t = torch::zeros({}, torch::TensorOptions(torch::kFloat64).device(device_));
  metrics_ = std::make_unique<MetricsLog>(workdir_, step_, comm_->rank() == 0, o_.tensorboard);
  spdlog::info("model {}: {} parameters; {} ranks x {} images ({} per micro-batch), {} on {}, {} loss",
               config_.get_string("model.name"), models::count_parameters(*model_), comm_->world(), local_batch_,
               micro_batch_, precision_name(o_.precision), device_.str(), config_.get_string("training.sde"));
}

namespace {

// One dataset against the config: images of its size and channels, or points of its dimension with no image
// transforms; labels when the task needs them. `role` ("training", "evaluation") says which one in errors.
void check_dataset(const Config& config, const data::Dataset& dataset, const std::string& path, bool needs_labels,
                   const std::string& role) {
  const auto& manifest = dataset.manifest();
  const auto& shape = manifest.shape;  // (H, W, C), or (D) for points
  const int64_t size = config.get_int("data.image_size"), channels = config.get_int("data.num_channels");
  if (manifest.kind == "points") {
    // Points train as (B, D, 1, 1): one-pixel images of D channels, with none of the image transforms.
    SCORCH_CHECK_HINT(size == 1 && shape.size() == 1 && shape[0] == channels,
                      fmt::format("set data.image_size: 1 and data.num_channels: {} (and model.name: mlp)",
                                  shape.empty() ? 0 : shape[0]),
                      "{} dataset {} holds {}-dimensional points, the config wants {}x{}x{} images (data.image_size, "
                      "data.num_channels)",
                      role, path, shape.empty() ? 0 : shape[0], size, size, channels);
    for (const char* key : {"data.random_flip", "data.centered", "data.uniform_dequantization"})
      SCORCH_CHECK_HINT(!config.get_bool(key), fmt::format("set {}: false", key),
                        "{} is true (from {}), but {} dataset {} holds points, which it does not apply to", key,
                        config.source_of(key), role, path);
  } else {
    SCORCH_CHECK_HINT(
        shape.size() == 3 && shape[0] == size && shape[1] == size && shape[2] == channels,
        "repack the data at the model's size (scorch data pack --resolution/--pad) or change data.image_size",
        "{} dataset {} holds {}x{}x{} images, the config wants {}x{}x{} (data.image_size, data.num_channels)", role,
        path, shape.size() > 0 ? shape[0] : 0, shape.size() > 1 ? shape[1] : 0, shape.size() > 2 ? shape[2] : 0, size,
        size, channels);
  }
  SCORCH_CHECK_HINT(!needs_labels || manifest.has_labels,
                    role == "training" ? "pack the data with labels (class folders, CIFAR-10, --labels FILE; scorch "
                                         "data synth shapes)"
                                       : "pack the evaluation data with labels, or set training.eval_freq: 0",
                    "training.task = classifier needs labels, and {} dataset {} has none", role, path);
}

}  // namespace

void check_data(const Config& config) {
  const auto path = config.get_string("data.path");
  if (path.empty()) return;  // a config printed for editing; the run itself refuses it
  const bool needs_labels = make_loss(config, sdes::make_sde(config))->needs_labels();
  check_dataset(config, data::Dataset(path), path, needs_labels, "training");
  const auto eval_path = config.get_string("data.eval_path");
  if (!eval_path.empty() && config.get_int("training.eval_freq") > 0)
    check_dataset(config, data::Dataset(eval_path), eval_path, needs_labels, "evaluation");
}

void check_config(const Config& config, int world) {
  const auto o = TrainingOptions::from(config, /*need_data=*/false);
  o.local_micro_batch(world);
  data::loader_options(config, o.batch_size, 0, world, torch::kCPU);
  AdamOptions::from(config);
  make_loss(config, sdes::make_sde(config));
  torch::NoGradGuard no_grad;
  models::make_model(config);
}

void Trainer::build_model() {
  // Every rank builds the same initial weights from the seed; rank 0's are broadcast anyway.
  torch::manual_seed(o_.seed);
  model_ = models::make_model(config_);
  model_->to(device_);
  if (channels_last_) models::to_channels_last(*model_);
  model_->train();
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& p : model_->named_parameters())
    if (p.value().requires_grad()) {
      named.emplace_back(p.key(), p.value());
      params_.push_back(p.value());
    }
  sde_ = sdes::make_sde(config_);
  sde_->to(device_);
  loss_ = make_loss(config_, sde_);
  adam_ = std::make_unique<Adam>(named, AdamOptions::from(config_));
  ema_ = std::make_unique<Ema>(*model_, o_.ema_rate);
}

void check_ranks_agree(const Config& config, dist::Communicator& comm) {
  const std::string mine = config.to_yaml();
  std::string rank0 = mine;
  comm.broadcast(rank0, 0);
  std::vector<std::string> differing;
  if (rank0 != mine) {
    Config theirs = Config::defaults();
    theirs.merge_yaml(YAML::Load(rank0), "rank 0's config");
    for (const auto& o : option_table())
      if (theirs.value_text(o.key) != config.value_text(o.key))
        differing.push_back(
            fmt::format("{} = {} (rank 0: {})", o.key, config.value_text(o.key), theirs.value_text(o.key)));
    spdlog::error("rank {}'s config differs from rank 0's: {}", comm.rank(), fmt::join(differing, ", "));
  }
  SCORCH_CHECK_HINT(comm.all_reduce_max(static_cast<int64_t>(!differing.empty())) == 0,
                    "start every rank with the same --config and --set options", "{}",
                    differing.empty()
                        ? "another rank's config differs from rank 0's (its log names the keys)"
                        : fmt::format("this rank's config differs from rank 0's: {}", fmt::join(differing, ", ")));
}

void Trainer::resume_newest() {
  // Rank 0 lists the checkpoints, so ranks never disagree over a half-visible write. Newest first; one that
  // fails to load (missing file, wrong shape) is reported and the next older one is tried, on all ranks alike.
  std::string listing;
  if (comm_->rank() == 0) {
    store_->remove_leftovers();
    remove_atomic_leftovers(workdir_);
    for (const auto& d : store_->list()) listing = d + "\n" + listing;
  }
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
    images_seen_ = 0;
    resumed_from_.reset();
  }
  // Starting over would soon prune those checkpoints: refuse rather than lose them.
  SCORCH_CHECK_HINT(resumed_from_ || listing.empty(),
                    "repair or move the checkpoints (see the warnings above), or start in a new --workdir",
                    "none of the checkpoints in {} can be loaded", store_->dir());
}

void Trainer::open_data() {
  dataset_ = std::make_shared<data::Dataset>(o_.data_path);
  check_dataset(config_, *dataset_, o_.data_path, loss_->needs_labels(), "training");
  loader_ = std::make_unique<data::Loader>(
      dataset_, data::loader_options(config_, o_.batch_size, comm_->rank(), comm_->world(), device_), data_state_);
  if (o_.eval_path.empty() || o_.eval_freq <= 0) return;
  eval_dataset_ = std::make_shared<data::Dataset>(o_.eval_path);
  check_dataset(config_, *eval_dataset_, o_.eval_path, loss_->needs_labels(), "evaluation");
  auto opts = data::loader_options(config_, o_.batch_size, comm_->rank(), comm_->world(), device_);
  opts.transform.random_flip = false;
  opts.seed = mix_seed(o_.seed, kEvalStream);
  eval_loader_ = std::make_unique<data::Loader>(eval_dataset_, opts);
}

Trainer::~Trainer() = default;

}  // namespace scorch::trainer
