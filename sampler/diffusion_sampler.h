// One model, its SDE and the configured sampler, ready to draw batches whose noise depends only on
// (seed, batch id); sample_images for the trainer's snapshot hook; grid PNGs.
#pragma once
#include <memory>
#include <string>

#include "core/config.h"
#include "core/io/image_io.h"
#include "core/models/score_model.h"
#include "core/sdes/score_fn.h"
#include "sampler/batch_progress.h"
#include "sampler/classifier_guidance.h"
#include "sampler/options.h"
#include "sampler/pc_step_graph.h"

namespace scorch::sampler {

// Named for what it does, not "BatchSampler": in PyTorch that name picks data indices (data/sampler.h here).
class DiffusionSampler {
 public:
  // `model` must outlive this object; it is switched to eval mode (dropout off) for the sampler's lifetime
  // and back to its previous mode by the destructor.
  DiffusionSampler(models::ScoreModelImpl& model, const Config& config, const torch::Device& device);
  ~DiffusionSampler();
  DiffusionSampler(const DiffusionSampler&) = delete;
  DiffusionSampler& operator=(const DiffusionSampler&) = delete;

  // `size` images of batch `id`: every random number comes from make_generator(device, seed, id), so the
  // result depends on (seed, id, size) only. Returns (size, C, H, W) float32 in [0, 1] on the device.
  // clip false: the same values before clipping to [0, 1] (samples of an under-trained model lie outside).
  torch::Tensor sample(int64_t size, uint64_t seed, int64_t id, bool clip = true);
  // The same from given latents x_T (B, C, H, W) in model space instead of the prior draw; only for the
  // deterministic samplers (latents.h is_deterministic), others are refused naming sampling.method.
  torch::Tensor sample_from(const torch::Tensor& x_T, uint64_t seed, int64_t id, bool clip = true);
  // Throws naming sampling.method unless the sampler is deterministic: what sample_from checks, for a caller to
  // refuse latents before it writes anything.
  void require_deterministic() const;
  int64_t last_nfe() const { return last_nfe_; }
  // Class-conditional sampling (sampling.method pc or ode): from now on both scores are
  // s + scale grad_x log p_t(y | x) with `logits`, y the labels of set_class_labels, one per image of each batch.
  // A second call replaces the first (scale 0 samples unguided).
  void set_guidance(LogitFn logits, double scale);
  void set_class_labels(torch::Tensor labels);  // (B,) int64 for the next batches
  // Logs progress inside each batch once it runs longer than a few seconds (docs/sampling.md); `enabled`
  // false (ranks other than 0) keeps it silent.
  void report_progress(bool enabled);
  const SamplingOptions& options() const { return o_; }
  const std::shared_ptr<sdes::Sde>& sde() const { return sde_; }
  // The score as the PC samplers see it (training.continuous labels) and as the ODE sees it (continuous, as
  // the reference's ODE and likelihood build it; the index-conditioned NCSN/NCSNv2 keep their level labels).
  const sdes::ScoreFn& pc_score() const { return pc_score_; }
  const sdes::ScoreFn& ode_score() const { return ode_score_; }
  const torch::Device& device() const { return device_; }
  // (C, H, W) of one image.
  std::vector<int64_t> image_shape() const { return {channels_, size_, size_}; }

 private:
  // Batch `id` from the start x (prior draw, or ald's uniform start), noise from `gen`; [0, 1] out.
  torch::Tensor run(torch::Tensor x, torch::Generator& gen, int64_t id, bool clip);
  models::ScoreModelImpl& model_;
  bool was_training_;
  SamplingOptions o_;
  torch::Device device_;
  std::shared_ptr<sdes::Sde> sde_;
  sdes::ScoreFn pc_score_, ode_score_;
  sdes::ScoreFn unguided_pc_score_, unguided_ode_score_;  // what set_guidance wraps, so a second call replaces
  sdes::ModelFn model_fn_;
  torch::Tensor ald_sigmas_;                                                         // (L,) descending, method ald only
  std::shared_ptr<torch::Tensor> class_labels_ = std::make_shared<torch::Tensor>();  // read by the guided scores
  int64_t channels_, size_;
  int64_t last_nfe_ = 0;
  std::unique_ptr<BatchProgress> progress_;
  // The PC sampler's whole-step graphs (sampling.cuda_graph on CUDA), kept across batches; not with guidance,
  // whose gradient of the classifier is not captured.
  std::shared_ptr<PcStepGraphs> step_graphs_;
  bool guided_ = false;
};

// The trainer's snapshot hook: n images from one batch (id 0) of `seed` with the config's sampling.* settings.
// Returns (n, C, H, W) float32 in [0, 1] on the CPU.
torch::Tensor sample_images(models::ScoreModelImpl& model, const Config& config, int64_t n, uint64_t seed,
                            const torch::Device& device);

// [0, 1] (N, C, H, W) -> uint8 (N, H, W, C) on the CPU. Default as the reference stores samples: clip(255 x)
// then truncation to an integer; `round` rounds to nearest instead (so 8-bit inputs survive a round trip).
torch::Tensor to_uint8_nhwc(const torch::Tensor& images, bool round = false);
// Writes (N, C, H, W) [0, 1] images as a square-ish grid PNG (atomically) and returns the grid.
io::Image write_grid_png(const std::string& path, const torch::Tensor& images);

}  // namespace scorch::sampler
