// Options of `scorch sample` and its subcommands (likelihood, inpaint, colorize, encode), which fall through to
// the parent's: one SampleArgs holds them all.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "apps/config_args.h"

namespace scorch::apps {

struct SampleArgs {
  std::string ckpt, weights = "ema", out, data, mask = "center", divergence = "rademacher", delay, latents;
  std::string dequant, probes;  // likelihood: noise from files
  int64_t num = 0, batch = 0, grid = 64, repeats = 1, die_after = -1;
  // Class-conditional sampling: a classifier checkpoint (training.task: classifier) and the classes asked for.
  std::string classifier, classifier_weights = "ema";
  std::vector<int64_t> classes;
  double classifier_scale = 1.0;
  bool png = false, overwrite = false, float_samples = false;
  const CLI::Option *num_flag = nullptr, *batch_flag = nullptr;  // given or not: absent takes the config's default
  std::map<std::string, const CLI::Option*> flags;               // the common flags, to refuse where they don't apply
  ConfigArgs config;
  std::string command;
};

struct SampleSubcommands {
  CLI::App *likelihood, *inpaint, *colorize, *encode;
};

// Adds the options to `cmd` (the `sample` subcommand) and its subcommands, returned.
SampleSubcommands add_sample_args(CLI::App* cmd, SampleArgs& a);

}  // namespace scorch::apps
