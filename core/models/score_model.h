// The common interface of the score networks and the factory that builds one from a Config.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"

namespace scorch::models {

// Every model.* / data.* field the networks read (config keys of the same names).
struct ModelConfig {
  std::string name = "ncsnpp";  // ncsnpp | ddpm | ncsn | ncsnv2 | ncsnv2_deeper | ncsnv2_deepest
  int64_t nf = 128;
  std::vector<int64_t> ch_mult{1, 2, 2, 2};
  int64_t num_res_blocks = 4;
  std::vector<int64_t> attn_resolutions{16};
  double dropout = 0.1;
  bool resamp_with_conv = true;
  bool conditional = true;
  bool fir = true;
  std::vector<int64_t> fir_kernel{1, 3, 3, 1};
  bool skip_rescale = true;
  std::string resblock_type = "biggan";     // biggan | ddpm
  std::string progressive = "none";         // none | output_skip | residual
  std::string progressive_input = "none";   // none | input_skip | residual
  std::string progressive_combine = "sum";  // sum | cat
  std::string embedding_type = "fourier";   // fourier | positional
  std::string nonlinearity = "swish";
  double fourier_scale = 16.0;
  double init_scale = 0.0;
  bool scale_by_sigma = false;
  double sigma_min = 0.01, sigma_max = 50.0;
  int64_t num_scales = 1000;
  int64_t image_size = 32;
  int64_t num_channels = 3;
  bool centered = false;
  bool grad_checkpointing = false;
  int64_t grad_checkpointing_min_resolution = 0;  // with grad_checkpointing: the narrowest input recomputed
  bool fused_attention = false;  // model.fused_attention: attention blocks call scaled_dot_product_attention
  // The speed switches (auto: on for CUDA tensors); each module resolves them per call from its input's device.
  Switch fused_group_norm = Switch::Auto;  // model.fused_group_norm: GroupNorm (+ SiLU) through scorch's kernels
  Switch fused_fir = Switch::Auto;         // model.fused_fir: FIR resampling through scorch's kernel
  Switch fold_time_bias = Switch::Auto;    // model.fold_time_bias: Conv_0's bias and the time embedding in one pass
  Switch fused_skip_join = Switch::Auto;   // model.fused_skip_join: the last convolutions' biases and the join
  Switch fused_input_grad = Switch::Off;   // model.fused_input_grad: GroupNorm_0 adds the skip's gradient
  // wideresnet_noise_conditional (the classifier)
  int64_t num_classes = 10, blocks_per_group = 4, channel_multiplier = 10;
  std::vector<double> input_mean{0.49139968, 0.48215841, 0.44653091}, input_std{0.24703223, 0.24348513, 0.26158784};

  static ModelConfig from(const Config& config);
};

// VE noise levels exp(linspace(ln σ_max, ln σ_min, N)), float64, descending (index 0 is σ_max).
torch::Tensor ve_sigmas(double sigma_min, double sigma_max, int64_t num_scales);

class ScoreModelImpl : public torch::nn::Module {
 public:
  // x (B, C, H, W); time_cond (B,): σ(t) for Fourier embeddings, a (fractional) timestep label otherwise.
  // Returns (B, C, H, W); a classifier (wideresnet_noise_conditional) returns logits (B, num_classes).
  virtual torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& time_cond) = 0;
  // Recompute blocks in backward instead of storing their activations (training memory for compute): those
  // whose input is at least `min_resolution` pixels wide, every block for 0. A U-Net stage's activations
  // shrink by half per stage down while its recompute costs about the same, so the widest stages give
  // most of the saving (docs/benchmarks.md "Activation memory by stage").
  void set_grad_checkpointing(bool on, int64_t min_resolution = 0) {
    grad_checkpointing_ = on;
    checkpoint_min_resolution_ = min_resolution;
  }
  bool grad_checkpointing() const { return grad_checkpointing_; }
  // Whether the part of the forward whose input is `width` pixels wide is recomputed in backward.
  bool checkpoints(int64_t width) const {
    return grad_checkpointing_ && width >= checkpoint_min_resolution_ && is_training();
  }

 protected:
  bool grad_checkpointing_ = false;
  int64_t checkpoint_min_resolution_ = 0;
};

// The RefineNet family (core/models/ncsnv2.h): InstanceNorm++ networks conditioned on a level index.
bool is_refinenet(const std::string& name);

// The U-Nets' (NCSN++/DDPM++, DDPM) resolution ladder, checked naming the keys: model.ch_mult not empty,
// data.image_size positive and halving len(ch_mult) - 1 times; a model.attn_resolutions entry that is none of the
// ladder's widths is warned about (it builds no attention, as in score_sde).
void check_unet_ladder(const ModelConfig& c);

// Builds the network named by model.name with its reference initialisation.
std::shared_ptr<ScoreModelImpl> make_model(const Config& config);
std::shared_ptr<ScoreModelImpl> make_model(const ModelConfig& config);

// Number of elements of all parameters (frozen ones included, as the reference counts them).
int64_t count_parameters(const torch::nn::Module& model);

}  // namespace scorch::models
