// `scorch data pack|synth|verify|info|export`: HDF5-sharded datasets (see docs/data.md).
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "apps/cmd_data_args.h"
#include "apps/commands.h"
#include "core/atomic_file.h"
#include "core/dir_lock.h"
#include "core/dist/communicator.h"
#include "core/dist/process.h"
#include "core/error.h"
#include "core/io/image_io.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "data/folder_source.h"
#include "data/pack.h"
#include "data/padded_source.h"
#include "data/synth.h"
#include "data/tfrecord_source.h"
#include "data/verify.h"

namespace scorch::apps {

namespace fs = std::filesystem;

namespace {

std::shared_ptr<dist::Communicator> cpu_comm() {
  dist::check_world_size();
  return dist::make_communicator("auto", torch::Device(torch::kCPU));
}

// Guesses the input kind from the paths: a folder of images, CIFAR-10 .bin, IDX (…idx…[.gz]), .npy/.npz,
// TFRecords (files or a folder of them).
std::string detect_format(const std::vector<std::string>& inputs) {
  const std::string first = inputs.at(0), name = fs::path(first).filename().string();
  const auto is_tfrecord = [](const fs::path& p) {
    return p.extension() == ".tfrecords" || p.extension() == ".tfrecord";
  };
  if (fs::is_directory(first)) {
    for (const auto& e : fs::directory_iterator(first)) {
      if (e.path().filename().string().rfind("data_batch_", 0) == 0) return "cifar10";
      if (is_tfrecord(e.path())) return "tfrecord";
    }
    return "folder";
  }
  if (is_tfrecord(first)) return "tfrecord";
  const std::string ext = fs::path(first).extension().string();
  if (ext == ".npy" || ext == ".npz") return "npy";
  if (ext == ".bin") return "cifar10";
  if (name.find("idx") != std::string::npos || name.find("ubyte") != std::string::npos) return "idx";
  SCORCH_FAIL("cannot tell the input format of '{}'; pass --format folder|cifar10|idx|npy|tfrecord", first);
}

int run_pack(const PackArgs& a) {
  auto comm = cpu_comm();
  const std::string format = a.format == "auto" ? detect_format(a.inputs) : a.format;
  SCORCH_CHECK(format == "folder" || (a.crop == 0 && a.resize_filter == "mitchell"),
               "--crop and --resize-filter apply to image folders only, not to --format {}", format);
  SCORCH_CHECK(a.crop >= 0, "--crop must be a positive size, got {}", a.crop);
  const auto filter = io::resize_filter_named(a.resize_filter);
  // Options of another format would be ignored without a word.
  SCORCH_CHECK(a.labels.empty() || format == "idx", "--labels (an IDX labels file) applies to --format idx, not {}",
               format);
  SCORCH_CHECK((a.images_key == "images" && a.labels_key_flag->count() == 0) || format == "npy",
               "--images-key and --labels-key apply to --format npy (.npz files), not {}", format);
  SCORCH_CHECK(!a.skip_bad || format == "folder", "--skip-bad applies to image folders, not --format {}", format);
  data::WriteOptions w{a.out, a.shard_size, a.overwrite};
  std::unique_ptr<data::Source> source;
  if (format == "folder") {
    SCORCH_CHECK(a.inputs.size() == 1, "pack --format folder takes one folder, got {} inputs", a.inputs.size());
    auto folder = std::make_unique<data::FolderSource>(
        a.inputs[0], data::FolderOptions{a.resolution, a.grayscale, a.skip_bad, a.crop, filter}, *comm);
    if (comm->rank() == 0)
      for (const auto& f : folder->skipped())
        spdlog::warn("skipped (--skip-bad): {}", (fs::path(a.inputs[0]) / f).string());
    if (comm->rank() == 0 && !folder->skipped().empty())
      spdlog::warn("skipped {} bad images", folder->skipped().size());
    source = std::move(folder);
  } else if (format == "tfrecord") {
    source = data::open_tfrecords(a.inputs, data::TfrecordOptions{a.resolution, a.grayscale});
  } else {
    SCORCH_CHECK(a.resolution == 0 && !a.grayscale,
                 "--resolution and --grayscale apply to image folders and TFRecords only");
    if (format == "idx") {
      SCORCH_CHECK(a.inputs.size() == 1, "pack --format idx takes one images file (labels with --labels)");
      source = data::open_idx(a.inputs[0], a.labels);
    } else if (format == "cifar10") {
      source = data::open_cifar10(a.inputs);
    } else if (format == "npy") {
      SCORCH_CHECK(a.inputs.size() == 1, "pack --format npy takes one .npy or .npz file");
      SCORCH_CHECK(
          (a.images_key == "images" && a.labels_key_flag->count() == 0) || fs::path(a.inputs[0]).extension() == ".npz",
          "--images-key and --labels-key name arrays of an .npz; '{}' is one array", a.inputs[0]);
      source = data::open_numpy(a.inputs[0], a.images_key, a.labels_key, a.labels_key_flag->count() > 0);
    } else {
      SCORCH_FAIL("unknown --format '{}' (auto, folder, cifar10, idx, npy, tfrecord)", format);
    }
  }
  if (a.pad > 0) source = std::make_unique<data::PaddedSource>(std::move(source), a.pad);
  const auto m = data::pack_source(*source, pack_command(a), w, *comm);
  if (comm->rank() == 0)
    spdlog::info("packed {} images {}x{}x{} into {} shards in {}", m.count, m.shape[0], m.shape[1], m.shape[2],
                 m.shards.size(), a.out);
  return 0;
}

data::Mixture mixture_of(const SynthArgs& a) {
  if (!a.preset.empty()) {
    SCORCH_CHECK(a.preset == "pitfall", "data synth: unknown --preset '{}' (expected pitfall)", a.preset);
    SCORCH_CHECK(a.weights.empty() && a.means.empty() && a.stds.empty(),
                 "data synth: --preset sets the mixture; leave out --weights, --means and --stds");
    return data::pitfall_mixture();
  }
  if (!a.weights.empty() || !a.means.empty() || !a.stds.empty())
    return data::mixture_from_lists(a.dim, a.weights, a.means, a.stds);
  return data::make_mixture(a.dim, a.components, a.seed);
}

int run_synth(const SynthArgs& a) {
  for (const auto& [kind, other, flags] :
       {std::tuple{"mixture", "shapes", &a.shapes_only}, std::tuple{"shapes", "mixture", &a.mixture_only}})
    if (a.kind == kind)
      for (const auto* flag : *flags)
        SCORCH_CHECK_HINT(flag->count() == 0, fmt::format("leave {} out, or synthesise {}", flag->get_name(), other),
                          "{} is an option of `scorch data synth {}`, not of {}", flag->get_name(), other, kind);
  auto comm = cpu_comm();
  data::WriteOptions w{a.out, a.shard_size, a.overwrite};
  const std::string cmd = synth_command(a);
  if (a.kind == "mixture") {
    data::synth_mixture(mixture_of(a), a.count, a.seed, cmd, w, *comm);
  } else if (a.kind == "shapes") {
    data::synth_shapes(a.count, a.resolution, a.channels, a.seed, cmd, w, *comm);
  } else {
    SCORCH_FAIL("unknown synthetic set '{}' (mixture, shapes)", a.kind);
  }
  if (comm->rank() == 0) spdlog::info("wrote {} {} items to {}", a.count, a.kind, a.out);
  return 0;
}

int run_verify(const std::string& dir) {
  const auto report = data::verify_dataset(dir);
  for (const auto& p : report.problems) std::fprintf(stderr, "BAD %s\n", p.c_str());
  if (!report.ok()) {
    std::fprintf(stderr, "%s: %zu bad shard(s), %lld good\n", dir.c_str(), report.problems.size(),
                 static_cast<long long>(report.shards_ok));
    return 1;
  }
  std::printf("%s: OK (%lld shards)\n", dir.c_str(), static_cast<long long>(report.shards_ok));
  return 0;
}

// One line per label: its count, share and name (from the manifest: folder names, synthetic shapes, CIFAR-10).
void print_class_counts(const std::string& dir, const data::Manifest& m) {
  const data::Dataset ds(dir);
  std::map<int64_t, int64_t> counts;
  for (int64_t i = 0; i < ds.size(); ++i) ++counts[ds.label(i)];
  nlohmann::json names = m.extra.value("classes", m.source.value("classes", nlohmann::json::array()));
  std::printf("classes   %zu\n", counts.size());
  for (const auto& [label, n] : counts) {
    const bool named = label >= 0 && label < static_cast<int64_t>(names.size()) && names[label].is_string();
    std::printf("  %5lld  %8lld  %5.1f%%  %s\n", static_cast<long long>(label), static_cast<long long>(n),
                100.0 * n / ds.size(), named ? names[label].get<std::string>().c_str() : "");
  }
}

int run_dataset_info(const std::string& dir) {
  const auto m = data::read_manifest(dir);
  int64_t bytes = 0;
  for (const auto& s : m.shards)
    bytes += fs::exists(fs::path(dir) / s.file) ? fs::file_size(fs::path(dir) / s.file) : 0;
  std::printf("dataset   %s\nkind      %s\nitems     %lld\nshape     [%s] %s\nlabels    %s\nshards    %zu (%.1f MiB)\n",
              dir.c_str(), m.kind.c_str(), static_cast<long long>(m.count),
              fmt::format("{}", fmt::join(m.shape, ", ")).c_str(), m.dtype.c_str(), m.has_labels ? "yes" : "no",
              m.shards.size(), bytes / 1048576.0);
  std::printf("source    %s\ncommand   %s\n", m.source.dump().c_str(), m.command.c_str());
  if (!m.extra.empty()) std::printf("extra     %s\n", m.extra.dump().c_str());
  if (m.has_labels) print_class_counts(dir, m);
  return 0;
}

// An export into a folder that holds files would leave them among the new images, and `scorch fid` of the folder
// would score them all: refused, or with `overwrite` an earlier export's files (NNNNNN.png, grid.png) are
// replaced. Hidden entries pass: the lock, the staging folder, a killed write's leftovers. Returns the earlier
// export's files; nothing is removed here, so a refusal leaves the folder as it was.
std::vector<fs::path> earlier_export(const std::string& out, bool overwrite) {
  const auto exported = [](const fs::directory_entry& e) {
    const auto name = e.path().filename().string();
    const auto digits = name.substr(0, name.size() - std::min<size_t>(name.size(), 4));
    return e.is_regular_file() && name.size() > 4 && name.substr(name.size() - 4) == ".png" &&
           (name == "grid.png" || (digits.size() >= 6 && digits.find_first_not_of("0123456789") == std::string::npos));
  };
  std::vector<fs::path> ours, others;
  for (const auto& e : fs::directory_iterator(out)) {
    if (exported(e))
      ours.push_back(e.path());
    else if (e.path().filename().string()[0] != '.')
      others.push_back(e.path());
  }
  const auto& named = others.empty() ? ours : others;
  SCORCH_CHECK_HINT(others.empty() && (ours.empty() || overwrite),
                    overwrite
                        ? "move them elsewhere, or use an empty --out"
                        : "use an empty --out, or --overwrite to replace an earlier export's NNNNNN.png and grid.png",
                    "{} holds {} file(s){} (such as '{}'): the export would leave them among its images", out,
                    overwrite ? others.size() : others.size() + ours.size(), overwrite ? " that no export wrote" : "",
                    named.empty() ? "" : named.front().filename().string());
  return ours;
}

int run_export(const ExportArgs& a) {
  data::Dataset ds(a.dir);
  const auto& m = ds.manifest();
  SCORCH_CHECK(m.kind == "images", "'{}' holds {} (not images); there is nothing to export as PNG", a.dir, m.kind);
  SCORCH_CHECK(a.grid_size > 0 || !a.grid_only, "--grid-only with --grid-size {} would write nothing", a.grid_size);
  const int64_t n = a.count > 0 ? std::min(a.count, ds.size()) : ds.size();
  make_output_dir(a.out, "--out");
  DirLock lock(a.out, "scorch data export", "two exports would mix their images",
               "wait for it to finish, or export to another --out");
  const auto earlier = earlier_export(a.out, a.overwrite);
  // The images are written beside the folder's and moved in once all are: a failed or killed export leaves the
  // earlier one (or an empty folder) as it was, never a part of a set for `scorch fid` to score as whole.
  const fs::path staging = fs::path(a.out) / ".incoming";
  fs::remove_all(staging);
  fs::create_directories(staging);
  const int h = static_cast<int>(m.shape[0]), w = static_cast<int>(m.shape[1]), c = static_cast<int>(m.shape[2]);
  std::vector<uint8_t> grid_pixels;
  const int64_t grid_n = std::min<int64_t>(n, a.grid_size);
  Progress progress("exporting", a.grid_only ? grid_n : n, "img");
  try {
    for (int64_t i = 0; i < n; ++i) {
      if (a.grid_only && i >= grid_n) break;
      io::Image im{h, w, c, std::vector<uint8_t>(ds.item_bytes())};
      ds.read(i, im.pixels.data());
      if (i < grid_n) grid_pixels.insert(grid_pixels.end(), im.pixels.begin(), im.pixels.end());
      if (!a.grid_only) io::write_png((staging / fmt::format("{:06}.png", i)).string(), im);
      progress.add(1);
    }
    progress.finish();
    if (grid_n > 0) {
      const int columns = static_cast<int>(std::ceil(std::sqrt(double(grid_n))));
      io::write_png((staging / "grid.png").string(), io::make_grid(grid_pixels.data(), grid_n, h, w, c, columns));
    }
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw;
  }
  for (const auto& p : earlier) fs::remove(p);
  for (const auto& e : fs::directory_iterator(staging)) fs::rename(e.path(), fs::path(a.out) / e.path().filename());
  fs::remove(staging);
  fsync_path(a.out);
  spdlog::info("exported {} images{} to {}", a.grid_only ? 0 : n, grid_n > 0 ? " and grid.png" : "", a.out);
  return 0;
}

}  // namespace

void add_data_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("data", "pack, verify, synthesize and export HDF5-sharded datasets");
  cmd->require_subcommand(1);
  auto pack = std::make_shared<PackArgs>();
  add_pack_args(cmd->add_subcommand("pack", "pack images/arrays into HDF5 shards"), *pack);
  auto synth = std::make_shared<SynthArgs>();
  add_synth_args(cmd->add_subcommand("synth", "write a synthetic set (mixture, shapes)"), *synth);
  auto dir = std::make_shared<std::string>();
  auto* verify = cmd->add_subcommand("verify", "check checksums, dtypes, shapes and counts against the manifest");
  verify->add_option("dir", *dir, "dataset directory")->required();
  auto* info = cmd->add_subcommand("info", "summary of a dataset");
  info->add_option("dir", *dir, "dataset directory")->required();
  auto exp = std::make_shared<ExportArgs>();
  add_export_args(cmd->add_subcommand("export", "write PNG files and a preview grid"), *exp);
  cmd->callback([&action, cmd, pack, synth, dir, exp]() {
    const std::string which = cmd->get_subcommands().at(0)->get_name();
    action = [which, pack, synth, dir, exp]() {
      if (which == "pack") return run_pack(*pack);
      if (which == "synth") return run_synth(*synth);
      if (which == "verify") return run_verify(*dir);
      if (which == "info") return run_dataset_info(*dir);
      return run_export(*exp);
    };
  });
}

}  // namespace scorch::apps
