// DiffusionSampler: PC or ODE sampling of one batch from its own noise stream; the snapshot-hook entry point.
#include "sampler/diffusion_sampler.h"

#include <cmath>

#include "core/error.h"
#include "core/io/image_io.h"
#include "core/models/score_model.h"
#include "core/sdes/ve_sde.h"
#include "sampler/ald_sampler.h"
#include "sampler/few_step.h"
#include "sampler/latents.h"
#include "sampler/model_fn.h"
#include "sampler/ode_sampler.h"
#include "sampler/pc_sampler.h"

namespace scorch::sampler {

DiffusionSampler::DiffusionSampler(models::ScoreModelImpl& model, const Config& config, const torch::Device& device)
    : model_(model), was_training_(model.is_training()), o_(SamplingOptions::from(config)), device_(device) {
  sde_ = sdes::make_sde(config);
  sde_->to(device);
  channels_ = config.get_int("data.num_channels");
  size_ = config.get_int("data.image_size");
  model_.eval();
  auto model_fn = make_model_fn(model_, o_, device);
  model_fn_ = model_fn;
  if (o_.method == "ald") {
    const auto ve = std::dynamic_pointer_cast<sdes::VESDE>(sde_);
    SCORCH_CHECK(ve != nullptr, "sampling.method ald walks a VE noise ladder; training.sde is {}",
                 config.get_string("training.sde"));
    ald_sigmas_ = ve->discrete_sigmas().flip(0);  // descending: index i is the network's label i
    // A network trained with training.continuous takes sigma itself as its label (score_sde's get_score_fn for
    // VE), not a level index: level i becomes sigma_i. The RefineNets always take the index.
    if (o_.continuous && !models::is_refinenet(config.get_string("model.name"))) {
      model_fn_ = [fn = model_fn, sigmas = ald_sigmas_.to(device, torch::kFloat32)](const torch::Tensor& x,
                                                                                    const torch::Tensor& labels) {
        return fn(x, sigmas.index({labels.to(torch::kLong)}).to(x.scalar_type()));  // (B,) sigma_i
      };
    }
  }
  pc_score_ = sdes::make_score_fn(sde_, model_fn, o_.continuous);
  // The reference's ODE sampler and likelihood always build the score with continuous labels.
  // The RefineNets (NCSN, NCSNv2) take a level index, never a time: a continuous label (σ for VE) would be
  // read as an index. They get their own labels, the nearest level of the ladder, in the ODE too.
  const bool index_conditioned = models::is_refinenet(config.get_string("model.name"));
  ode_score_ = make_score_fn(sde_, model_fn, /*continuous=*/!index_conditioned);
  unguided_pc_score_ = pc_score_;
  unguided_ode_score_ = ode_score_;
  if (is_few_step(o_.method)) FewStepSampler check(sde_, pc_score_, o_);
  if (o_.method == "pc") {
    // Build once so that refused predictor/corrector combinations fail before any work starts.
    PcSampler check(sde_, pc_score_, o_);
    if (o_.cuda_graph && device_.is_cuda()) step_graphs_ = std::make_shared<PcStepGraphs>();
  }
}

DiffusionSampler::~DiffusionSampler() { model_.train(was_training_); }

void DiffusionSampler::set_guidance(LogitFn logits, double scale) {
  SCORCH_CHECK_HINT(o_.method == "pc" || o_.method == "ode", "set sampling.method to pc or ode",
                    "class-conditional sampling guides the PC samplers and the probability-flow ODE, not "
                    "sampling.method {}",
                    o_.method);
  auto labels = class_labels_;
  const auto guide = [logits, scale, labels](sdes::ScoreFn base) -> sdes::ScoreFn {
    return [base = std::move(base), logits, scale, labels](const torch::Tensor& x, const torch::Tensor& t) {
      SCORCH_CHECK(labels->defined(), "class-conditional sampling: no class labels were set for this batch");
      return classifier_guided(base, logits, *labels, scale)(x, t);
    };
  };
  pc_score_ = guide(unguided_pc_score_);
  ode_score_ = guide(unguided_ode_score_);
  guided_ = true;
}

void DiffusionSampler::set_class_labels(torch::Tensor labels) { *class_labels_ = std::move(labels); }

void DiffusionSampler::report_progress(bool enabled) {
  auto sde = sde_;
  const auto device = device_;
  auto noise_level = [sde, device](double t) {
    const auto o = torch::TensorOptions().device(device).dtype(torch::kFloat32);
    return sde->marginal_prob(torch::zeros({1, 1, 1, 1}, o), torch::full({1}, t, o)).std.item<double>();
  };
  progress_ = std::make_unique<BatchProgress>(noise_level, sde_->T(), o_.eps, enabled);
}

torch::Tensor DiffusionSampler::sample(int64_t size, uint64_t seed, int64_t id, bool clip) {
  SCORCH_CHECK(size >= 1, "a sample batch needs at least one image, got {}", size);
  torch::NoGradGuard no_grad;
  auto gen = make_generator(device_, seed, static_cast<uint64_t>(id));
  const auto options = torch::TensorOptions().device(device_).dtype(torch::kFloat32);
  const std::vector<int64_t> shape{size, channels_, size_, size_};
  // The originals' ald starts from uniform noise on the data range, not from the Gaussian prior.
  auto start = o_.method == "ald" ? from_unit_range(torch::rand(shape, gen, options), o_.centered)
                                  : sde_->prior_sampling(shape, gen, options);
  return run(start, gen, id, clip);
}

void DiffusionSampler::require_deterministic() const {
  SCORCH_CHECK_HINT(is_deterministic(o_), "use ode, dpm_solver, ddim with ddim_eta 0, or edm with edm_churn 0",
                    "latents decide the samples only for a deterministic sampler; sampling.method {}{} draws noise",
                    o_.method,
                    o_.method == "ddim"  ? " with ddim_eta > 0"
                    : o_.method == "edm" ? " with edm_churn > 0"
                                         : "");
}

torch::Tensor DiffusionSampler::sample_from(const torch::Tensor& x_T, uint64_t seed, int64_t id, bool clip) {
  require_deterministic();
  SCORCH_CHECK(x_T.dim() == 4 && x_T.size(1) == channels_ && x_T.size(2) == size_ && x_T.size(3) == size_,
               "latents of shape {} for a model of {}x{}x{} images", c10::str(x_T.sizes()), channels_, size_, size_);
  torch::NoGradGuard no_grad;
  auto gen = make_generator(device_, seed, static_cast<uint64_t>(id));
  return run(x_T.to(device_, torch::kFloat32), gen, id, clip);
}

torch::Tensor DiffusionSampler::run(torch::Tensor x, torch::Generator& gen, int64_t id, bool clip) {
  TimeHook hook;
  if (progress_) {
    progress_->start(fmt::format("sampling batch {}", id));
    hook = [this](double t) { progress_->at(t); };
  }
  if (o_.method == "ald") {
    AldSampler ald(model_fn_, ald_sigmas_, o_);
    x = ald.run(x, [&gen](const torch::Tensor& like) { return torch::randn(like.sizes(), gen, like.options()); });
    last_nfe_ = ald.nfe();
  } else if (is_few_step(o_.method)) {
    FewStepSampler few(sde_, pc_score_, o_);
    few.set_time_hook(hook);
    x = few.run(x, gen);
    last_nfe_ = few.nfe();
  } else if (o_.method == "ode") {
    OdeSampler ode(sde_, ode_score_, o_);
    ode.set_time_hook(hook);
    x = ode.sample(x);
    last_nfe_ = ode.last().nfe;
  } else {
    PcSampler pc(sde_, pc_score_, o_);
    pc.set_time_hook(hook);
    if (step_graphs_ && !guided_) pc.set_step_graphs(step_graphs_);
    x = pc.run(x, gen);
    last_nfe_ = pc.nfe();
  }
  x = to_unit_range(x, o_.centered);
  return clip ? x.clamp(0.0, 1.0) : x;
}

torch::Tensor sample_images(models::ScoreModelImpl& model, const Config& config, int64_t n, uint64_t seed,
                            const torch::Device& device) {
  DiffusionSampler sampler(model, config, device);
  return sampler.sample(n, seed, 0).cpu();
}

torch::Tensor to_uint8_nhwc(const torch::Tensor& images, bool round) {
  SCORCH_CHECK(images.dim() == 4, "images must be (N, C, H, W), got {}", c10::str(images.sizes()));
  // NaN to 0 explicitly: its cast to uint8 is the platform's choice (the farm warns about such images).
  auto scaled = torch::nan_to_num(images.detach().to(torch::kCPU, torch::kFloat32) * 255.0, 0.0);
  if (round) scaled = scaled.round();
  return scaled.clamp(0.0, 255.0).to(torch::kUInt8).permute({0, 2, 3, 1}).contiguous();
}

io::Image write_grid_png(const std::string& path, const torch::Tensor& images) {
  auto pixels = to_uint8_nhwc(images);  // (N, H, W, C)
  const int64_t n = pixels.size(0);
  SCORCH_CHECK(n >= 1, "write_grid_png '{}': no images", path);
  const int columns = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
  auto grid = io::make_grid(pixels.data_ptr<uint8_t>(), n, static_cast<int>(pixels.size(1)),
                            static_cast<int>(pixels.size(2)), static_cast<int>(pixels.size(3)), columns);
  io::write_png(path, grid);
  return grid;
}

}  // namespace scorch::sampler
