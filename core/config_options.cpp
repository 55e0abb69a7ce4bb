// The option table: every config key scorch knows, with score_sde_pytorch's names and default_cifar10 defaults.
#include "core/config.h"

namespace scorch {

namespace {
using T = ValueType;
}

const std::vector<OptionSpec>& option_table() {
  static const std::vector<OptionSpec> table = {
      // training (score_sde)
      {"training.batch_size", T::Int, "128", "global batch size, split over ranks"},
      {"training.n_iters", T::Int, "1300001", "number of training iterations"},
      {"training.snapshot_freq", T::Int, "50000", "steps between kept-forever checkpoints"},
      {"training.log_freq", T::Int, "50", "steps between metric log lines"},
      {"training.eval_freq", T::Int, "100", "steps between evaluation-loss batches"},
      {"training.snapshot_freq_for_preemption", T::Int, "10000", "steps between rolling checkpoints"},
      {"training.snapshot_sampling", T::Bool, "true", "sample a grid with EMA weights at each snapshot"},
      {"training.likelihood_weighting", T::Bool, "false", "weight the DSM loss by g(t)^2"},
      {"training.continuous", T::Bool, "true", "continuous-time training (false: discrete SMLD/DDPM losses)"},
      {"training.reduce_mean", T::Bool, "false", "mean over pixels (false: half sum)"},
      {"training.sde", T::String, "vesde", "vesde | vpsde | subvpsde"},
      // training (scorch)
      {"training.micro_batch", T::Int, "0", "per-rank micro-batch for gradient accumulation (0: whole share)"},
      {"training.precision", T::String, "fp32", "fp32 | bf16 | fp16"},
      {"training.tf32", T::Bool, "false", "allow TF32 matmuls/convolutions on CUDA"},
      {"training.channels_last", T::Bool, "false", "channels_last memory format on CUDA"},
      {"training.keep_last", T::Int, "3", "rolling checkpoints kept besides snapshots"},
      {"training.max_nonfinite_steps", T::Int, "20", "consecutive non-finite steps before the run stops"},
      {"training.grad_bucket_mb", T::Float, "25", "gradient all-reduce bucket size in MiB"},
      {"training.eps", T::Float, "1e-5", "smallest time sampled by the continuous loss"},
      // sampling
      {"sampling.method", T::String, "pc", "pc | ode"},
      {"sampling.predictor", T::String, "reverse_diffusion",
       "euler_maruyama | reverse_diffusion | ancestral_sampling | none"},
      {"sampling.corrector", T::String, "langevin", "langevin | ald | none"},
      {"sampling.n_steps_each", T::Int, "1", "corrector steps per noise level"},
      {"sampling.noise_removal", T::Bool, "true", "denoise the final sample with one predictor mean step"},
      {"sampling.probability_flow", T::Bool, "false", "predictor follows the probability-flow ODE"},
      {"sampling.snr", T::Float, "0.16", "corrector signal-to-noise ratio"},
      {"sampling.eps", T::Float, "1e-3", "last time of the reverse process"},
      {"sampling.rtol", T::Float, "1e-5", "ODE sampler relative tolerance"},
      {"sampling.atol", T::Float, "1e-5", "ODE sampler absolute tolerance"},
      {"sampling.ode_solver", T::String, "rk45", "rk45 | euler | heun"},
      {"sampling.ode_steps", T::Int, "100", "steps of the fixed-step ODE solvers"},
      {"sampling.precision", T::String, "fp32", "fp32 | bf16"},
      {"sampling.cuda_graph", T::Bool, "true", "capture the sampler step in a CUDA graph on GPU"},
      {"sampling.tf32", T::Bool, "false", "allow TF32 matmuls/convolutions in scorch sample on CUDA"},
      // eval
      {"eval.begin_ckpt", T::Int, "9", "first checkpoint index evaluated"},
      {"eval.end_ckpt", T::Int, "26", "last checkpoint index evaluated"},
      {"eval.batch_size", T::Int, "1024", "evaluation batch size"},
      {"eval.enable_sampling", T::Bool, "false", "sample for FID during evaluation"},
      {"eval.num_samples", T::Int, "50000", "samples per checkpoint for FID"},
      {"eval.enable_loss", T::Bool, "true", "report the evaluation loss"},
      {"eval.enable_bpd", T::Bool, "false", "report bits/dim"},
      {"eval.bpd_dataset", T::String, "test", "train | test"},
      // data
      {"data.dataset", T::String, "CIFAR10", "dataset name (informational; data.path is what is read)"},
      {"data.path", T::String, "", "dataset directory of HDF5 shards (scorch data pack)"},
      {"data.eval_path", T::String, "", "evaluation dataset directory (default: data.path)"},
      {"data.image_size", T::Int, "32", "image height and width"},
      {"data.random_flip", T::Bool, "true", "random horizontal flips in training"},
      {"data.centered", T::Bool, "false", "scale data to [-1, 1] (false: [0, 1])"},
      {"data.uniform_dequantization", T::Bool, "false", "add uniform noise: (u + 255 x) / 256"},
      {"data.num_channels", T::Int, "3", "image channels"},
      {"data.category", T::String, "", "LSUN category (informational)"},
      {"data.tfrecords_path", T::String, "", "score_sde TFRecords path (informational; pack it first)"},
      {"data.reader_threads", T::Int, "2", "background reader threads per rank"},
      {"data.prefetch_batches", T::Int, "4", "ready batches queued ahead of the trainer"},
      // model
      {"model.name", T::String, "ncsnpp", "ncsnpp | ddpm"},
      {"model.sigma_min", T::Float, "0.01", "VE smallest noise scale"},
      {"model.sigma_max", T::Float, "50", "VE largest noise scale"},
      {"model.num_scales", T::Int, "1000", "number of discrete noise scales / steps"},
      {"model.beta_min", T::Float, "0.1", "VP/sub-VP beta at t=0"},
      {"model.beta_max", T::Float, "20", "VP/sub-VP beta at t=1"},
      {"model.dropout", T::Float, "0.1", "dropout rate in residual blocks"},
      {"model.embedding_type", T::String, "fourier", "fourier | positional"},
      {"model.scale_by_sigma", T::Bool, "false", "divide the network output by sigma (VE)"},
      {"model.ema_rate", T::Float, "0.9999", "EMA decay"},
      {"model.normalization", T::String, "GroupNorm", "GroupNorm"},
      {"model.nonlinearity", T::String, "swish", "swish | elu | relu | lrelu"},
      {"model.nf", T::Int, "128", "base channel count"},
      {"model.ch_mult", T::IntList, "[1, 2, 2, 2]", "channel multiplier per resolution"},
      {"model.num_res_blocks", T::Int, "4", "residual blocks per resolution"},
      {"model.attn_resolutions", T::IntList, "[16]", "resolutions with self-attention"},
      {"model.resamp_with_conv", T::Bool, "true", "convolution in up/down-sampling"},
      {"model.conditional", T::Bool, "true", "condition on the noise level / time"},
      {"model.fir", T::Bool, "true", "FIR up/down-sampling"},
      {"model.fir_kernel", T::IntList, "[1, 3, 3, 1]", "FIR kernel"},
      {"model.skip_rescale", T::Bool, "true", "scale skip connections by 1/sqrt(2)"},
      {"model.resblock_type", T::String, "biggan", "biggan | ddpm"},
      {"model.progressive", T::String, "none", "none | output_skip | residual"},
      {"model.progressive_input", T::String, "residual", "none | input_skip | residual"},
      {"model.progressive_combine", T::String, "sum", "sum | cat"},
      {"model.attention_type", T::String, "ddpm", "ddpm"},
      {"model.init_scale", T::Float, "0", "scale of the final-layer initialisation (0 means 1e-10)"},
      {"model.fourier_scale", T::Float, "16", "scale of the Gaussian Fourier features"},
      {"model.conv_size", T::Int, "3", "convolution kernel size"},
      {"model.grad_checkpointing", T::Bool, "false", "recompute each block in backward to save memory"},
      // optim
      {"optim.optimizer", T::String, "Adam", "Adam"},
      {"optim.lr", T::Float, "2e-4", "learning rate"},
      {"optim.beta1", T::Float, "0.9", "Adam beta1"},
      {"optim.beta2", T::Float, "0.999", "Adam beta2"},
      {"optim.eps", T::Float, "1e-8", "Adam epsilon"},
      {"optim.weight_decay", T::Float, "0", "weight decay"},
      {"optim.warmup", T::Int, "5000", "linear learning-rate warm-up steps"},
      {"optim.grad_clip", T::Float, "1", "clip the global gradient norm (negative: off)"},
      {"optim.amsgrad", T::Bool, "false", "AMSGrad variant of Adam"},
      // run
      {"seed", T::Int, "42", "random seed"},
      {"device", T::String, "auto", "auto | cpu | cuda (auto: the local rank's GPU when there is one)"},
      {"dist.backend", T::String, "auto", "auto | nccl | mpi | local"},
      {"dist.timeout_s", T::Float, "600", "abort the job when a collective stalls this long"},
      {"dist.check_weights", T::Bool, "false", "checksum weights on all ranks at every checkpoint"},
  };
  return table;
}

}  // namespace scorch
