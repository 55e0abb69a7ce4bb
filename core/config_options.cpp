// The option table: every config key scorch knows, with score_sde_pytorch's names and default_cifar10 defaults,
// and each key's scope (core/config.h), from which the resume check, the keys `scorch sample` may change and
// the --help groups are derived.
#include "core/config.h"

namespace scorch {

namespace {
using T = ValueType;
using S = Scope;
}  // namespace

const std::vector<OptionSpec>& option_table() {
  static const std::vector<OptionSpec> table = {
      // training (score_sde)
      {"training.batch_size", T::Int, "128", "global batch size, split over ranks", S::Training},
      {"training.n_iters", T::Int, "1300001", "number of training iterations", S::Runtime},
      {"training.snapshot_freq", T::Int, "50000", "steps between kept-forever checkpoints", S::Runtime},
      {"training.log_freq", T::Int, "50", "steps between metric log lines", S::Runtime},
      {"training.eval_freq", T::Int, "100", "steps between evaluation-loss batches", S::Runtime},
      {"training.snapshot_freq_for_preemption", T::Int, "10000", "steps between rolling checkpoints", S::Runtime},
      {"training.snapshot_sampling", T::Bool, "true", "sample a grid with EMA weights at each snapshot", S::Runtime},
      {"training.likelihood_weighting", T::Bool, "false", "weight the DSM loss by g(t)^2", S::Training},
      {"training.continuous", T::Bool, "true", "continuous-time training (false: discrete SMLD/DDPM losses)",
       S::Objective},
      {"training.reduce_mean", T::Bool, "false", "mean over pixels (false: half sum)", S::Training},
      {"training.sde", T::String, "vesde", "vesde | vpsde | subvpsde", S::Objective},
      // training (scorch)
      {"training.micro_batch", T::Int, "0", "per-rank micro-batch for gradient accumulation (0: whole share)",
       S::Runtime},
      {"training.precision", T::String, "fp32", "fp32 | bf16 | fp16", S::Runtime},
      {"training.tf32", T::Bool, "false", "allow TF32 matmuls/convolutions on CUDA", S::Runtime},
      {"training.channels_last", T::Bool, "false", "channels_last memory format on CUDA", S::Runtime},
      {"training.keep_last", T::Int, "3", "rolling checkpoints kept besides snapshots", S::Runtime},
      {"training.max_nonfinite_steps", T::Int, "20", "consecutive non-finite steps before the run stops", S::Runtime},
      {"training.grad_bucket_mb", T::Float, "25", "gradient all-reduce bucket size in MiB", S::Runtime},
      {"training.eps", T::Float, "1e-5", "smallest time sampled by the continuous loss", S::Training},
      // sampling
      {"sampling.method", T::String, "pc", "pc | ode", S::Sampling},
      {"sampling.predictor", T::String, "reverse_diffusion",
       "euler_maruyama | reverse_diffusion | ancestral_sampling | none", S::Sampling},
      {"sampling.corrector", T::String, "langevin", "langevin | ald | none", S::Sampling},
      {"sampling.n_steps_each", T::Int, "1", "corrector steps per noise level", S::Sampling},
      {"sampling.noise_removal", T::Bool, "true", "denoise the final sample with one predictor mean step", S::Sampling},
      {"sampling.probability_flow", T::Bool, "false", "predictor follows the probability-flow ODE", S::Sampling},
      {"sampling.snr", T::Float, "0.16", "corrector signal-to-noise ratio", S::Sampling},
      {"sampling.eps", T::Float, "1e-3", "last time of the reverse process", S::Sampling},
      {"sampling.rtol", T::Float, "1e-5", "ODE sampler relative tolerance", S::Sampling},
      {"sampling.atol", T::Float, "1e-5", "ODE sampler absolute tolerance", S::Sampling},
      {"sampling.ode_solver", T::String, "rk45", "rk45 | euler | heun", S::Sampling},
      {"sampling.ode_steps", T::Int, "100", "steps of the fixed-step ODE solvers", S::Sampling},
      {"sampling.precision", T::String, "fp32", "fp32 | bf16", S::Sampling},
      {"sampling.cuda_graph", T::Bool, "true", "capture the sampler step in a CUDA graph on GPU", S::Sampling},
      {"sampling.tf32", T::Bool, "false", "allow TF32 matmuls/convolutions in scorch sample on CUDA", S::Sampling},
      // eval
      {"eval.begin_ckpt", T::Int, "9",
       "score_sde evaluation: first checkpoint index (scorch fid --ckpts takes a pattern)", S::Informational},
      {"eval.end_ckpt", T::Int, "26", "score_sde evaluation: last checkpoint index", S::Informational},
      {"eval.batch_size", T::Int, "1024", "scorch sample / fid --ckpts default --batch", S::Sampling},
      {"eval.enable_sampling", T::Bool, "false", "score_sde evaluation: sample for FID (scorch fid --ckpts does)",
       S::Informational},
      {"eval.num_samples", T::Int, "50000", "scorch sample / fid --ckpts default --num", S::Sampling},
      {"eval.enable_loss", T::Bool, "true", "score_sde evaluation: report the loss (scorch: training.eval_freq)",
       S::Informational},
      {"eval.enable_bpd", T::Bool, "false", "score_sde evaluation: report bits/dim (scorch sample likelihood)",
       S::Informational},
      {"eval.bpd_dataset", T::String, "test", "score_sde evaluation: train | test (scorch sample likelihood --data)",
       S::Informational},
      // data
      {"data.dataset", T::String, "CIFAR10", "dataset name (data.path is what is read)", S::Informational},
      {"data.path", T::String, "", "dataset directory of HDF5 shards (scorch data pack)", S::Runtime},
      {"data.eval_path", T::String, "", "evaluation dataset directory (default: data.path)", S::Runtime},
      {"data.image_size", T::Int, "32", "image height and width", S::Network},
      {"data.random_flip", T::Bool, "true", "random horizontal flips in training", S::Training},
      {"data.centered", T::Bool, "false", "scale data to [-1, 1] (false: [0, 1])", S::Objective},
      {"data.uniform_dequantization", T::Bool, "false", "add uniform noise: (u + 255 x) / 256", S::Training},
      {"data.num_channels", T::Int, "3", "image channels", S::Network},
      {"data.category", T::String, "", "LSUN category", S::Informational},
      {"data.tfrecords_path", T::String, "", "score_sde TFRecords path (pack it with scorch data pack first)",
       S::Informational},
      {"data.reader_threads", T::Int, "2", "background reader threads per rank", S::Runtime},
      {"data.prefetch_batches", T::Int, "4", "ready batches queued ahead of the trainer", S::Runtime},
      // model
      {"model.name", T::String, "ncsnpp", "ncsnpp | ddpm", S::Network},
      {"model.sigma_min", T::Float, "0.01", "VE smallest noise scale", S::Objective},
      {"model.sigma_max", T::Float, "50", "VE largest noise scale", S::Objective},
      {"model.num_scales", T::Int, "1000", "number of discrete noise scales / steps", S::Objective},
      {"model.beta_min", T::Float, "0.1", "VP/sub-VP beta at t=0", S::Objective},
      {"model.beta_max", T::Float, "20", "VP/sub-VP beta at t=1", S::Objective},
      {"model.dropout", T::Float, "0.1", "dropout rate in residual blocks", S::Training},
      {"model.embedding_type", T::String, "fourier", "fourier | positional", S::Network},
      {"model.scale_by_sigma", T::Bool, "false", "divide the network output by sigma (VE)", S::Network},
      {"model.ema_rate", T::Float, "0.9999", "EMA decay", S::Training},
      {"model.normalization", T::String, "GroupNorm", "GroupNorm (the only one implemented)", S::Network},
      {"model.nonlinearity", T::String, "swish", "swish | elu | relu | lrelu", S::Network},
      {"model.nf", T::Int, "128", "base channel count", S::Network},
      {"model.ch_mult", T::IntList, "[1, 2, 2, 2]", "channel multiplier per resolution", S::Network},
      {"model.num_res_blocks", T::Int, "4", "residual blocks per resolution", S::Network},
      {"model.attn_resolutions", T::IntList, "[16]", "resolutions with self-attention", S::Network},
      {"model.resamp_with_conv", T::Bool, "true", "convolution in up/down-sampling", S::Network},
      {"model.conditional", T::Bool, "true", "condition on the noise level / time", S::Network},
      {"model.fir", T::Bool, "true", "FIR up/down-sampling", S::Network},
      {"model.fir_kernel", T::IntList, "[1, 3, 3, 1]", "FIR kernel", S::Network},
      {"model.skip_rescale", T::Bool, "true", "scale skip connections by 1/sqrt(2)", S::Network},
      {"model.resblock_type", T::String, "biggan", "biggan | ddpm", S::Network},
      {"model.progressive", T::String, "none", "none | output_skip | residual", S::Network},
      {"model.progressive_input", T::String, "residual", "none | input_skip | residual", S::Network},
      {"model.progressive_combine", T::String, "sum", "sum | cat", S::Network},
      {"model.attention_type", T::String, "ddpm", "ddpm (the only one implemented)", S::Network},
      {"model.init_scale", T::Float, "0", "scale of the final-layer initialisation (0 means 1e-10)", S::Network},
      {"model.fourier_scale", T::Float, "16", "scale of the Gaussian Fourier features", S::Network},
      {"model.conv_size", T::Int, "3", "convolution kernel size (3 is the only one implemented)", S::Network},
      {"model.grad_checkpointing", T::Bool, "false", "recompute each block in backward to save memory", S::Runtime},
      // optim
      {"optim.optimizer", T::String, "Adam", "Adam", S::Training},
      {"optim.lr", T::Float, "2e-4", "learning rate", S::Training},
      {"optim.beta1", T::Float, "0.9", "Adam beta1", S::Training},
      {"optim.beta2", T::Float, "0.999", "Adam beta2", S::Training},
      {"optim.eps", T::Float, "1e-8", "Adam epsilon", S::Training},
      {"optim.weight_decay", T::Float, "0", "weight decay", S::Training},
      {"optim.warmup", T::Int, "5000", "linear learning-rate warm-up steps", S::Training},
      {"optim.grad_clip", T::Float, "1", "clip the global gradient norm (negative: off)", S::Training},
      {"optim.amsgrad", T::Bool, "false", "AMSGrad variant of Adam", S::Training},
      // run
      {"seed", T::Int, "42", "random seed", S::Training},
      {"device", T::String, "auto", "auto | cpu | cuda (auto: the local rank's GPU when there is one)", S::Runtime},
      {"dist.backend", T::String, "auto", "auto | nccl | mpi | local", S::Runtime},
      {"dist.timeout_s", T::Float, "600", "abort the job when a collective stalls this long", S::Runtime},
      {"dist.check_weights", T::Bool, "false", "checksum weights on all ranks at every checkpoint", S::Runtime},
  };
  return table;
}

}  // namespace scorch
