// CLI11 option table of `scorch sample` (cmd_sample_args.h).
#include "apps/cmd_sample_args.h"

namespace scorch::apps {

namespace {

void add_common(CLI::App* cmd, SampleArgs& a) {
  cmd->add_option("--ckpt", a.ckpt, "checkpoint dir, checkpoints/latest, run dir, or EMA-only .safetensors export");
  cmd->add_option("--weights", a.weights, "ema (default, as score_sde evaluates) | model")
      ->check(CLI::IsMember({"ema", "model"}));
  a.num_flag = cmd->add_option("--num", a.num,
                               "number of images, positive (default: eval.num_samples; likelihood: the whole dataset)");
  a.batch_flag = cmd->add_option("--batch", a.batch,
                                 "images per batch, the unit of work and noise, positive (default: eval.batch_size)");
  cmd->add_option("--out", a.out, "output directory (samples in the dataset format)");
  a.flags["--grid"] = cmd->add_option("--grid", a.grid, "images in OUT/grid.png, non-negative (0: none)");
  a.flags["--png"] = cmd->add_flag("--png", a.png, "also write every image as OUT/png/NNNNNN.png");
  a.flags["--overwrite"] = cmd->add_flag("--overwrite", a.overwrite, "discard what OUT holds and start over");
  a.flags["--float"] = cmd->add_flag(
      "--float", a.float_samples,
      "also OUT/float/shard-NNNNN.npy: each batch as float32 (n, C, H, W) before clipping and quantisation");
  a.flags["--latents"] =
      cmd->add_option("--latents", a.latents,
                      "start from these x_T (FILE.npy / .safetensors, (N, C, H, W), e.g. from `sample encode`) "
                      "instead of prior draws; deterministic samplers only");
  cmd->add_option("--test-delay", a.delay, "testing: RANK:MS sleeps before each batch on that rank")->group("");
  cmd->add_option("--test-die-after", a.die_after, "testing: SIGKILL self after this many batches")->group("");
  add_config_args(cmd, a.config);
}

}  // namespace

SampleSubcommands add_sample_args(CLI::App* cmd, SampleArgs& a) {
  add_common(cmd, a);
  cmd->add_option("--class", a.classes,
                  "class-conditional: image i asks for the i-th of these class ids, cyclically (e.g. --class 1,3)")
      ->delimiter(',')
      ->check(non_negative_count());
  cmd->add_option("--classifier", a.classifier,
                  "the noise-conditional classifier's checkpoint (training.task: classifier) that guides the samples");
  a.flags["--classifier-scale"] =
      cmd->add_option("--classifier-scale", a.classifier_scale,
                      "guidance scale: s + scale grad log p_t(y | x) (1, the default, is Bayes' rule, as score_sde)");
  a.flags["--classifier-weights"] =
      cmd->add_option("--classifier-weights", a.classifier_weights, "ema (default) | model")
          ->check(CLI::IsMember({"ema", "model"}));
  auto* lik = cmd->add_subcommand("likelihood", "bits/dim of a dataset via the probability-flow ODE");
  lik->add_option("--data", a.data, "dataset directory")->required();
  lik->add_option("--repeats", a.repeats, "passes with fresh dequantisation noise (score_sde: 5 on test)");
  lik->add_option("--divergence", a.divergence, "rademacher | gaussian (Hutchinson) | exact")
      ->check(CLI::IsMember({"rademacher", "gaussian", "exact"}));
  lik->add_option("--dequant", a.dequant, "FILE.npy (N, C, H, W) of U[0,1) dequantisation noise, row i for image i");
  lik->add_option("--probes", a.probes, "FILE.npy (N, C, H, W) Hutchinson probes, row i for image i");
  auto* inp = cmd->add_subcommand("inpaint", "fill the masked part of dataset images");
  inp->add_option("--data", a.data, "dataset directory")->required();
  inp->add_option("--mask", a.mask,
                  "left | right | top | bottom | center | checker | random | FILE.png (white = known)");
  auto* col = cmd->add_subcommand("colorize", "colorize gray versions of dataset images");
  col->add_option("--data", a.data, "dataset directory")->required();
  auto* enc = cmd->add_subcommand(
      "encode",
      "latents x_T of dataset images via the probability-flow ODE, or DDIM inversion with sampling.method ddim "
      "(--out FILE.npy)");
  enc->add_option("--data", a.data, "dataset directory")->required();
  for (auto* sub : {lik, inp, col, enc}) sub->fallthrough();
  return {lik, inp, col, enc};
}

}  // namespace scorch::apps
