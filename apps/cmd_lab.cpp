// `scorch lab mixture`: the 2-D score-matching lab (lab/mixture_lab.h); prints the table it writes.
#include <cstdio>
#include <memory>

#include "apps/commands.h"
#include "core/dist/device.h"
#include "lab/mixture_lab.h"

namespace scorch::apps {

namespace {

int run_mixture(const lab::MixtureLabOptions& o) {
  dist::configure_cpu_threads(1);
  const auto report = lab::run_mixture_lab(o);
  std::printf(
      "%s\ntrained (or resumed) in %.0f s; plots and table in %s (samples.png, scores.png, table.md, table.json)\n",
      report.to_markdown().c_str(), report.train_seconds, o.out.c_str());
  return 0;
}

}  // namespace

void add_lab_command(CLI::App& app, Action& action) {
  auto* lab = app.add_subcommand("lab", "small problems with known answers, trained, sampled and scored end to end");
  lab->require_subcommand(1);
  auto o = std::make_shared<lab::MixtureLabOptions>();
  auto* mixture = lab->add_subcommand(
      "mixture",
      "Song & Ermon's 2-D mixture: train the MLP, sample with Langevin, annealed Langevin, PC and the ODE on the "
      "exact and the learned score; plots and a table of errors");
  mixture->add_option("--out", o->out, "directory for data/, run/, samples.png, scores.png, table.md, table.json")
      ->required();
  mixture->add_option("--config", o->config, "the model's config (a continuous VE SDE)")->capture_default_str();
  mixture->add_option("--set", o->sets, "config override key=value (repeatable)");
  mixture->add_option("--steps", o->steps, "training steps, positive (default: the config's training.n_iters)")
      ->check(positive_count());
  mixture->add_option("--loss", o->loss, "training.loss: dsm | ssm | ssm_vr (default: the config's)");
  mixture->add_option("--points", o->points, "samples per sampler, and exact draws to compare them with")
      ->capture_default_str();
  mixture->add_option("--seed", o->seed, "seed of the data, the starts and the noise")->capture_default_str();
  mixture->callback([&action, o]() { action = [o]() { return run_mixture(*o); }; });
}

}  // namespace scorch::apps
