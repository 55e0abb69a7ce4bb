// CLI11 option tables of `scorch data …` and their normalised command lines.
#include "apps/cmd_data_args.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "apps/config_args.h"

namespace scorch::apps {

void add_pack_args(CLI::App* cmd, PackArgs& a) {
  cmd->add_option(
         "inputs", a.inputs,
         "image folder | CIFAR-10 .bin files or folder | IDX images file | .npy/.npz | .tfrecords files or folder")
      ->required();
  cmd->add_option("--out", a.out, "dataset directory to write")->required();
  cmd->add_option("--format", a.format, "auto | folder | cifar10 | idx | npy | tfrecord");
  cmd->add_option("--labels", a.labels, "IDX labels file (idx)");
  cmd->add_option("--images-key", a.images_key, "array name in an .npz");
  a.labels_key_flag =
      cmd->add_option("--labels-key", a.labels_key, "labels array name in an .npz (default labels, used when present)");
  cmd->add_option("--resolution", a.resolution,
                  "folder: centre-crop and resize to N x N (antialiased); tfrecord: the level of N x N images")
      ->check(positive_count());
  cmd->add_option("--crop", a.crop,
                  "folder: centre-crop N x N first (then --resolution resizes it); score_sde's CelebA: 140")
      ->check(positive_count());
  cmd->add_option("--resize-filter", a.resize_filter,
                  "folder: mitchell (default) | bilinear | bicubic (antialiased; score_sde: bilinear for CelebA, "
                  "bicubic for LSUN)");
  cmd->add_option("--pad", a.pad, "centre every image on an N x N canvas of zeros (e.g. 28x28 digits to 32x32)")
      ->check(positive_count());
  cmd->add_flag("--grayscale", a.grayscale, "folder, tfrecord image/encoded: decode to one channel (default RGB)");
  cmd->add_flag("--skip-bad", a.skip_bad, "folder: leave out images that will not decode, and list them");
  cmd->add_option("--shard-size", a.shard_size, "images per shard (default: about 256 MiB per shard)")
      ->check(positive_count());
  cmd->add_flag("--overwrite", a.overwrite, "replace a dataset already in --out");
}

void add_synth_args(CLI::App* cmd, SynthArgs& a) {
  cmd->add_option("kind", a.kind, "mixture | shapes")->required();
  cmd->add_option("--out", a.out, "dataset directory to write")->required();
  cmd->add_option("--count", a.count, "number of items")->check(positive_count());
  cmd->add_option("--seed", a.seed, "seed; the set depends only on it and the options");
  a.mixture_only = {
      cmd->add_option("--dim", a.dim, "mixture: dimension")->check(positive_count()),
      cmd->add_option("--components", a.components, "mixture: number of Gaussians")->check(positive_count()),
      cmd->add_option("--weights", a.weights,
                      "mixture: the components' weights (summing to 1), instead of --components")
          ->delimiter(','),
      cmd->add_option("--means", a.means, "mixture: with --weights, the means, D numbers per component")
          ->delimiter(','),
      cmd->add_option("--stds", a.stds, "mixture: with --weights, one std per component")->delimiter(','),
      cmd->add_option("--preset", a.preset,
                      "mixture: pitfall = 0.2 N((-5,-5), I) + 0.8 N((5,5), I) (Song & Ermon 2019), in 2-D")};
  a.shapes_only = {cmd->add_option("--resolution", a.resolution, "shapes: image side")->check(positive_count()),
                   cmd->add_option("--channels", a.channels, "shapes: 1 or 3")};
  cmd->add_option("--shard-size", a.shard_size, "items per shard")->check(positive_count());
  cmd->add_flag("--overwrite", a.overwrite, "replace a dataset already in --out");
}

void add_export_args(CLI::App* cmd, ExportArgs& a) {
  cmd->add_option("dir", a.dir, "dataset directory")->required();
  cmd->add_option("--out", a.out, "folder for 000000.png … and grid.png")->required();
  cmd->add_option("--count", a.count, "export only the first N images (default all)")->check(positive_count());
  cmd->add_option("--grid-size", a.grid_size,
                  "images in grid.png (0: no grid, e.g. for a folder that feeds `scorch fid`)")
      ->check(non_negative_count());
  cmd->add_flag("--grid-only", a.grid_only, "write only grid.png");
  cmd->add_flag("--overwrite", a.overwrite, "remove an earlier export's NNNNNN.png and grid.png from --out first");
}

std::string pack_command(const PackArgs& a) {
  std::string s = fmt::format("scorch data pack {} --out {} --format {}", fmt::join(a.inputs, " "), a.out, a.format);
  if (!a.labels.empty()) s += " --labels " + a.labels;
  // Only the keys that were given: the command is meant to run again, and the keys are refused for other formats
  // (an IDX pack recorded them, and its own command then failed); a given --labels-key makes labels required.
  if (a.images_key != "images") s += " --images-key " + a.images_key;
  if (a.labels_key_flag != nullptr && a.labels_key_flag->count() > 0) s += " --labels-key " + a.labels_key;
  if (a.resolution > 0) s += fmt::format(" --resolution {}", a.resolution);
  if (a.crop > 0) s += fmt::format(" --crop {}", a.crop);
  if (a.resize_filter != "mitchell") s += " --resize-filter " + a.resize_filter;
  if (a.pad > 0) s += fmt::format(" --pad {}", a.pad);
  if (a.grayscale) s += " --grayscale";
  if (a.skip_bad) s += " --skip-bad";
  if (a.shard_size > 0) s += fmt::format(" --shard-size {}", a.shard_size);
  return s;
}

std::string synth_command(const SynthArgs& a) {
  std::string s = fmt::format("scorch data synth {} --out {} --count {} --seed {}", a.kind, a.out, a.count, a.seed);
  if (a.kind == "mixture" && !a.preset.empty()) {
    s += " --preset " + a.preset;
  } else if (a.kind == "mixture" && !a.weights.empty()) {
    s += fmt::format(" --dim {} --weights {} --means {} --stds {}", a.dim, fmt::join(a.weights, ","),
                     fmt::join(a.means, ","), fmt::join(a.stds, ","));
  } else if (a.kind == "mixture") {
    s += fmt::format(" --dim {} --components {}", a.dim, a.components);
  }
  if (a.kind == "shapes") s += fmt::format(" --resolution {} --channels {}", a.resolution, a.channels);
  if (a.shard_size > 0) s += fmt::format(" --shard-size {}", a.shard_size);
  return s;
}

}  // namespace scorch::apps
