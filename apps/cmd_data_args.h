// Options of `scorch data` subcommands and the command lines recorded in manifests.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace scorch::apps {

struct PackArgs {
  std::vector<std::string> inputs;
  std::string out, format = "auto", labels, images_key = "images", labels_key = "labels";
  int resolution = 0, pad = 0, crop = 0;
  std::string resize_filter = "mitchell";
  bool grayscale = false, skip_bad = false, overwrite = false;
  int64_t shard_size = 0;
  const CLI::Option* labels_key_flag = nullptr;  // given: the array must be there
};

struct SynthArgs {
  std::string kind, out;
  int64_t count = 10000, shard_size = 0;
  uint64_t seed = 0;
  int dim = 2, components = 8, resolution = 32, channels = 3;
  std::vector<double> weights, means, stds;  // mixture: explicit parameters instead of --components
  std::string preset;                        // mixture: "pitfall"
  bool overwrite = false;
  // The flags only one kind reads: given with the other kind, they are refused rather than ignored.
  std::vector<const CLI::Option*> mixture_only, shapes_only;
};

struct ExportArgs {
  std::string dir, out;
  int64_t count = 0, grid_size = 64;
  bool grid_only = false, overwrite = false;
};

void add_pack_args(CLI::App* cmd, PackArgs& a);
void add_synth_args(CLI::App* cmd, SynthArgs& a);
void add_export_args(CLI::App* cmd, ExportArgs& a);
// The equivalent command line (normalised option order), stored as the manifest's "command".
std::string pack_command(const PackArgs& a);
std::string synth_command(const SynthArgs& a);

}  // namespace scorch::apps
