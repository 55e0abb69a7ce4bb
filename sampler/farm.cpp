// run_farm: resume scan and settings check on rank 0, dynamic batch hand-out through a shared counter,
// one shard per batch, then the manifest (written last, so a partial directory never looks complete).
#include "sampler/farm.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <set>

#include "core/atomic_file.h"
#include "core/dir_lock.h"
#include "core/dist/communicator.h"
#include "core/dist/work_counter.h"
#include "core/error.h"
#include "core/io/image_io.h"
#include "core/io/npz.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "data/dataset.h"
#include "data/format.h"
#include "data/shard.h"
#include "sampler/farm_settings.h"

namespace scorch::sampler {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kFarmFile = "farm.json";
constexpr int kNextBatch = 0, kImagesDone = 1;  // work counter slots; then one per rank:
constexpr int kBusySince = 2;                   // unix seconds its current batch began, 0 between, -1 done

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The end of the farm for a rank with no batch left: waits for the others, and ends the job naming a rank
// that stays on one batch (or between batches) far longer than batches take, instead of waiting forever for a
// rank that hangs or was stopped.
void wait_for_the_others(dist::Communicator& comm, dist::WorkCounter& counter, double timeout_s,
                         double longest_batch_s) {
  const double limit = timeout_s + 3.0 * longest_batch_s;
  const auto entered = unix_seconds();
  comm.barrier_polling(
      [&] {
        const auto now = unix_seconds();
        for (int r = 0; r < comm.world(); ++r) {
          const int64_t since = counter.fetch_add(kBusySince + r, 0);
          if (since < 0) continue;
          const int64_t busy = now - (since > 0 ? since : entered);
          SCORCH_CHECK_HINT(
              static_cast<double>(busy) <= limit,
              "see rank " + std::to_string(r) +
                  "'s log; the finished shards are kept, so the same command "
                  "resumes (raise dist.timeout_s if batches are legitimately this slow)",
              "sample farm: rank {} has been {} for {} s while rank {} waits to finish (dist.timeout_s = {:g} "
              "plus 3x the longest batch here, {:.1f} s); it probably hangs or was stopped",
              r, since > 0 ? "on one batch" : "between batches", busy, comm.rank(), timeout_s, longest_batch_s);
        }
      },
      1.0);
}

// Writes image `index` of the farm, `pixels` (H, W, C) uint8, as out/png/NNNNNN.png.
void write_png_of(const FarmOptions& o, int64_t index, const torch::Tensor& pixels) {
  io::Image im{
      static_cast<int>(pixels.size(0)), static_cast<int>(pixels.size(1)), static_cast<int>(pixels.size(2)), {}};
  const auto* p = pixels.data_ptr<uint8_t>();
  im.pixels.assign(p, p + pixels.numel());
  io::write_png((fs::path(o.out) / "png" / fmt::format("{:06}.png", index)).string(), im);
}

// Rank 0, once the manifest is there: the PNGs that images on disk lack (batches sampled without --png), and
// the grid (on a farm found complete, only when it is missing: a finished set may be read-only).
void finish_images(const FarmOptions& o, bool found_complete) {
  if (o.points) return;
  data::Dataset ds(o.out);
  if (o.png) {
    fs::create_directories(fs::path(o.out) / "png");
    std::vector<int64_t> missing;
    for (int64_t i = 0; i < o.num; ++i)
      if (!fs::exists(fs::path(o.out) / "png" / fmt::format("{:06}.png", i))) missing.push_back(i);
    if (!missing.empty()) spdlog::info("sample farm: writing the {} PNGs that {} lacks", missing.size(), o.out);
    constexpr size_t kChunk = 256;  // images read at once
    for (size_t at = 0; at < missing.size(); at += kChunk) {
      const auto end = std::min(missing.size(), at + kChunk);
      const std::vector<int64_t> chunk(missing.begin() + static_cast<std::ptrdiff_t>(at),
                                       missing.begin() + static_cast<std::ptrdiff_t>(end));
      const auto pixels = ds.read_items(chunk);  // (n, H, W, C)
      for (size_t j = 0; j < chunk.size(); ++j) write_png_of(o, chunk[j], pixels[static_cast<int64_t>(j)]);
    }
  }
  if (o.grid <= 0 || (found_complete && fs::exists(fs::path(o.out) / "grid.png"))) return;
  std::vector<int64_t> first(std::min(o.grid, o.num));
  for (size_t i = 0; i < first.size(); ++i) first[i] = static_cast<int64_t>(i);
  auto pixels = ds.read_items(first).contiguous();  // (n, H, W, C) uint8
  io::write_png((fs::path(o.out) / "grid.png").string(),
                io::make_grid(pixels.data_ptr<uint8_t>(), pixels.size(0), static_cast<int>(pixels.size(1)),
                              static_cast<int>(pixels.size(2)), static_cast<int>(pixels.size(3)),
                              static_cast<int>(std::ceil(std::sqrt(static_cast<double>(pixels.size(0)))))));
}

// Rank 0's error as every rank reports it: raised where rank 0 raised it, so its place is given once.
Error relayed_error(const json& plan) {
  const auto where = plan.at("where").get<std::string>();
  const auto colon = where.rfind(':');
  return Error(where.substr(0, colon).c_str(), std::stoi(where.substr(colon + 1)), plan.at("error").get<std::string>(),
               plan.at("hint").get<std::string>());
}

bool is_batch_shard(const std::string& name, int64_t* id) {
  if (name.size() != 14 || name.rfind("shard-", 0) != 0 || name.substr(11) != ".h5") return false;
  try {
    *id = std::stoll(name.substr(6, 5));
  } catch (...) {
    return false;
  }
  return true;
}

void check_counts(const std::vector<int64_t>& shape, const FarmOptions& o) {
  SCORCH_CHECK(shape.size() == 3, "run_farm: image shape must be (C, H, W)");
  SCORCH_CHECK(!o.points || (shape[1] == 1 && shape[2] == 1), "run_farm: points need the shape (D, 1, 1), got ({})",
               fmt::join(shape, ", "));
  SCORCH_CHECK_HINT(!o.points || !o.png, "drop --png", "the samples are points: there are no images to write as PNG");
  SCORCH_CHECK(o.num >= 1 && o.batch >= 1, "--num and --batch must be positive, got {} and {}", o.num, o.batch);
  const int64_t batches = (o.num + o.batch - 1) / o.batch;
  SCORCH_CHECK(batches <= 99999, "{} batches exceed the 5-digit shard numbering: use a larger --batch", batches);
}

void check_dataset_has_farm(const FarmOptions& o) {
  SCORCH_CHECK_HINT(
      o.overwrite || fs::exists(fs::path(o.out) / kFarmFile) || !fs::exists(fs::path(o.out) / data::kManifestName),
      "use another --out, or --overwrite to replace it", "'{}' already holds a dataset that no farm.json describes",
      o.out);
}

data::Manifest layout_of(const std::vector<int64_t>& s, int64_t count, bool points) {
  data::Manifest m;
  m.kind = points ? "points" : "images";
  m.dtype = points ? "float32" : "uint8";
  m.shape = points ? std::vector<int64_t>{s[0]} : std::vector<int64_t>{s[1], s[2], s[0]};
  m.count = count;
  return m;
}

// A shard is taken as done only when it reads as a whole batch: one damaged after it was written (a copy cut
// short, a disk error) was counted as done, and the manifest then certified it with its SHA-256.
bool shard_is_whole(const fs::path& path, const std::vector<int64_t>& shape, const FarmOptions& o, int64_t id) {
  const int64_t count = std::min(o.batch, o.num - id * o.batch);
  auto layout = layout_of(shape, count, o.points);
  layout.has_labels = !o.classes.empty();
  try {
    data::ShardReader(path.string(), layout, count);  // checks the shape, the count and that no item is cut off
    return true;
  } catch (const std::exception& e) {
    spdlog::warn("sample farm: {} does not read as batch {} ({}); sampling it again", path.string(), id, e.what());
    return false;
  }
}

// Rank 0, `o.out` created and locked: clears or checks the directory and returns the batch ids still to sample ("done"
// when the manifest says the farm already finished).
json prepare(const std::vector<int64_t>& shape, const Config& config, const FarmOptions& o, int64_t batches) {
  const fs::path out(o.out);
  const json identity = farm_identity(shape, config, o);
  const fs::path farm_file = out / kFarmFile;
  if (fs::exists(farm_file) && !o.overwrite) {
    check_same_farm(read_farm_file(farm_file.string(), o), identity, farm_file.string(), o);
    if (fs::exists(out / data::kManifestName)) return {{"done", true}};
  } else {
    check_dataset_has_farm(o);
    fs::remove(out / data::kManifestName);
    for (const auto& e : fs::directory_iterator(out)) {
      int64_t id = 0;
      if (is_batch_shard(e.path().filename().string(), &id)) fs::remove(e.path());
    }
    fs::remove_all(out / "png");
    fs::remove_all(out / "float");
    fs::remove_all(out / "runinfo");
    fs::remove(out / "grid.png");
    fs::remove(out / "input-grid.png");
    write_file_atomic(farm_file.string(), identity.dump(2) + "\n");
  }
  std::set<int64_t> done;
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    int64_t id = 0;
    if (is_batch_shard(name, &id) && id < batches && shard_is_whole(e.path(), shape, o, id)) done.insert(id);
  }
  // A write that was killed leaves its temporary file behind; the other ranks start writing only after this.
  for (const char* sub : {"", "float", "runinfo", "png"}) remove_atomic_leftovers((out / sub).string());
  json todo = json::array();
  for (int64_t k = 0; k < batches; ++k)
    if (!done.count(k)) todo.push_back(k);
  return {{"done", false}, {"todo", todo}, {"resumed", static_cast<int64_t>(done.size())}};
}

void write_manifest(const std::vector<int64_t>& shape, const FarmOptions& o, int64_t batches) {
  auto m = layout_of(shape, o.num, o.points);
  m.has_labels = !o.classes.empty();
  for (int64_t k = 0; k < batches; ++k) {
    const auto path = (fs::path(o.out) / batch_shard_name(k)).string();
    SCORCH_CHECK(fs::exists(path), "sample farm: batch {} is missing from {} after all ranks finished", k, o.out);
    m.shards.push_back({batch_shard_name(k), std::min(o.batch, o.num - k * o.batch), sha256_file(path)});
  }
  m.source = {{"type", "samples"}, {"model", o.model}, {"seed", o.seed}, {"batch", o.batch}};
  m.command = o.command;
  m.extra = {{"farm", kFarmFile}};  // the full settings, config included
  data::write_manifest(o.out, m);
}

}  // namespace

std::string batch_shard_name(int64_t id) { return data::shard_file_name(id); }

torch::Tensor farm_labels(const FarmOptions& o, int64_t id, int64_t count) {
  SCORCH_CHECK(!o.classes.empty(), "farm_labels of an unconditional farm");
  const auto k = static_cast<int64_t>(o.classes.size());
  auto out = torch::empty({count}, torch::kInt64);
  for (int64_t i = 0; i < count; ++i) out[i] = o.classes[static_cast<size_t>((id * o.batch + i) % k)];
  return out;
}

json model_identity(const io::InferenceModel& inf, bool digest) {
  json id = {{"source", inf.source}, {"step", inf.step}, {"weights", inf.weights}};
  if (digest) id["sha256"] = io::weights_sha256(*inf.model);
  return id;
}

void check_farm(const std::vector<int64_t>& shape, const Config& config, const FarmOptions& o) {
  check_counts(shape, o);
  if (o.out.empty()) return;  // a dry run may leave --out out
  check_dataset_has_farm(o);
  const auto farm_file = fs::path(o.out) / kFarmFile;
  if (!o.overwrite && fs::exists(farm_file))
    check_same_farm(read_farm_file(farm_file.string(), o), farm_identity(shape, config, o), farm_file.string(), o);
}

FarmReport run_farm(DiffusionSampler& sampler, const Config& config, const FarmOptions& o, dist::Communicator& comm) {
  sampler.report_progress(comm.rank() == 0);
  BatchProducer produce = [&](int64_t id, int64_t count, int64_t* nfe) {
    if (!o.classes.empty()) sampler.set_class_labels(farm_labels(o, id, o.batch));
    auto images = sampler.sample(o.batch, o.seed, id, /*clip=*/false).slice(0, 0, count);
    *nfe = sampler.last_nfe();
    return images;
  };
  return run_farm(produce, sampler.image_shape(), config, o, comm);
}

FarmReport run_farm(const BatchProducer& produce, const std::vector<int64_t>& shape, const Config& config,
                    const FarmOptions& o, dist::Communicator& comm) {
  check_counts(shape, o);
  SCORCH_CHECK(!o.out.empty(), "the sample farm needs an output directory (--out)");
  const int64_t batches = (o.num + o.batch - 1) / o.batch;
  const auto start = std::chrono::steady_clock::now();
  FarmReport report;
  report.images = o.num;
  report.batches = batches;

  std::string plan_text;
  std::optional<DirLock> lock;  // rank 0's, for the whole farm
  if (comm.rank() == 0) {
    // A failure here (e.g. a settings mismatch) is reported to every rank instead of leaving them waiting.
    try {
      make_output_dir(o.out, "--out");
      // Two farms at once would each take the other's batches as done: a set of two seeds, or two mixed tasks.
      lock.emplace(o.out, "scorch sample farm", "two farms writing one directory would mix their sample sets",
                   "wait for it to finish, or use another --out");
      plan_text = prepare(shape, config, o, batches).dump();
    } catch (const Error& e) {
      plan_text = json{{"error", e.message()}, {"hint", e.hint()}, {"where", e.where()}}.dump();
    } catch (const std::exception& e) {
      plan_text = json{{"error", e.what()}}.dump();
    }
  }
  comm.broadcast(plan_text, 0);
  const json plan = json::parse(plan_text);
  if (plan.contains("where")) throw relayed_error(plan);
  SCORCH_CHECK(!plan.contains("error"), "{}", plan.value("error", std::string()));
  if (plan.at("done").get<bool>()) {
    if (comm.rank() == 0) finish_images(o, /*found_complete=*/true);
    report.already_complete = true;
    report.resumed = batches;
    return report;
  }
  const auto todo = plan.at("todo").get<std::vector<int64_t>>();
  report.resumed = plan.at("resumed").get<int64_t>();
  if (comm.rank() == 0 && report.resumed > 0)
    spdlog::info("sample farm: resuming {}: {} of {} batches already done", o.out, report.resumed, batches);

  int64_t remaining_images = 0;
  for (auto k : todo) remaining_images += std::min(o.batch, o.num - k * o.batch);
  auto counter = dist::make_work_counter(comm, kBusySince + comm.world());
  int64_t busy_since = 0;  // this rank's slot, mirrored
  const auto mark_busy = [&](int64_t value) {
    counter->fetch_add(kBusySince + comm.rank(), value - busy_since);
    busy_since = value;
  };
  double longest_batch_s = 0;
  Progress progress("sampling", remaining_images, "img", comm.rank() == 0);
  int64_t shown = 0;
  const auto layout_full = layout_of(shape, o.batch, o.points);
  if (o.png) fs::create_directories(fs::path(o.out) / "png");
  if (o.float_samples) fs::create_directories(fs::path(o.out) / "float");
  if (!o.execution.empty()) fs::create_directories(fs::path(o.out) / "runinfo");
  while (true) {
    mark_busy(unix_seconds());
    const int64_t j = counter->fetch_add(kNextBatch, 1);
    if (j >= static_cast<int64_t>(todo.size())) break;
    const int64_t k = todo[j];
    if (o.before_batch) o.before_batch(k);
    const int64_t n = std::min(o.batch, o.num - k * o.batch);
    int64_t nfe = 0;
    const auto batch_start = std::chrono::steady_clock::now();
    auto images = produce(k, n, &nfe);
    SCORCH_CHECK(images.dim() == 4 && images.size(0) == n, "batch {}: the producer returned {} for {} images", k,
                 c10::str(images.sizes()), n);
    report.nfe_mine += nfe;
    // NaN would become 0 in the 8-bit shard without a word: a diverged sampler must not pass for black images.
    const int64_t nonfinite = (~torch::isfinite(images.detach())).flatten(1).any(1).sum().item<int64_t>();
    if (nonfinite > 0)
      spdlog::warn("sample farm: batch {}: {} of {} {} hold NaN or infinite values (a diverged sampler?){}", k,
                   nonfinite, n, o.points ? "points" : "images",
                   o.points ? "; they are written as they are" : "; their pixels are written as 0 where NaN, clipped");
    report.nonfinite_mine += nonfinite;
    // Files beside the shard, named as it is: float/shard-NNNNN.npy, runinfo/shard-NNNNN.json.
    const auto side_file = [&](const char* dir, const char* ext) {
      return (fs::path(o.out) / dir / (batch_shard_name(k).substr(0, 11) + ext)).string();
    };
    if (!o.execution.empty()) {
      auto info = json::parse(o.execution);
      info["rank"] = comm.rank();
      info["world"] = comm.world();
      info["nfe"] = nfe;
      info["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - batch_start).count();
      write_file_atomic(side_file("runinfo", ".json"), info.dump(2) + "\n");
    }
    if (o.float_samples)
      write_file_atomic(side_file("float", ".npy"),
                        io::npz::format_npy(images.detach().to(torch::kCPU, torch::kFloat32).contiguous()));
    auto layout = layout_full;
    layout.count = n;
    auto pixels = o.points ? images.detach().to(torch::kCPU, torch::kFloat32).reshape({n, shape[0]}).contiguous()
                           : to_uint8_nhwc(images, o.round_pixels);  // (n, D) as they are, or (n, H, W, C) clipped
    const auto labels = o.classes.empty() ? torch::Tensor() : farm_labels(o, k, n);  // (n,)
    layout.has_labels = labels.defined();
    if (o.png)  // before the shard, which marks the batch done
      for (int64_t i = 0; i < n; ++i) write_png_of(o, k * o.batch + i, pixels[i]);
    data::write_shard((fs::path(o.out) / batch_shard_name(k)).string(), layout, pixels.data_ptr(), n,
                      labels.defined() ? labels.data_ptr<int64_t>() : nullptr);
    ++report.mine;
    longest_batch_s = std::max(longest_batch_s,
                               std::chrono::duration<double>(std::chrono::steady_clock::now() - batch_start).count());
    const int64_t global = counter->fetch_add(kImagesDone, n) + n;
    progress.add(global - shown);
    shown = global;
    if (o.after_batch) o.after_batch(report);
  }
  progress.finish();
  mark_busy(-1);
  wait_for_the_others(comm, *counter, o.stall_timeout_s, longest_batch_s);  // every rank is past its last fetch ...
  counter.reset();  // ... before the (collective) window is freed
  if (comm.rank() == 0) {
    write_manifest(shape, o, batches);
    finish_images(o, /*found_complete=*/false);
  }
  comm.barrier();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace scorch::sampler
