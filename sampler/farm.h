// The sampler farm: N images in fixed-size batches handed out dynamically to all ranks, each batch's noise
// from (seed, batch id) only, written as dataset shards that a restarted job (any rank count) skips.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/io/checkpoint_files.h"
#include "sampler/diffusion_sampler.h"

namespace scorch::dist {
class Communicator;
}

namespace scorch::sampler {

struct FarmReport {
  int64_t images = 0;          // images of the whole job
  int64_t batches = 0;         // batches of the whole job
  int64_t resumed = 0;         // batches found complete on disk at start
  int64_t mine = 0;            // batches this rank sampled
  int64_t nfe_mine = 0;        // score evaluations of this rank's batches
  int64_t nonfinite_mine = 0;  // images of this rank's batches holding NaN or infinite values (warned about)
  double seconds = 0;
  bool already_complete = false;
};

struct FarmOptions {
  std::string out;    // samples directory (dataset format)
  int64_t num = 0;    // images in total
  int64_t batch = 0;  // images per batch (the unit of work and of the noise streams)
  uint64_t seed = 0;
  // Also every image as out/png/NNNNNN.png: a batch's before its shard, and those of batches on disk without
  // theirs (written without --png) when the farm resumes or is found complete.
  bool png = false;
  int64_t grid = 64;       // the first `grid` images as out/grid.png (0: none), also of a farm found complete
  bool overwrite = false;  // start over in a directory that holds another farm's output
  // How the caller's user starts over where `out` holds other samples (ends the refusal's hint).
  std::string start_over = "--overwrite to discard what is there";
  bool round_pixels = false;  // 8-bit conversion by rounding (inverse problems) instead of the reference's truncation
  // Also each batch's samples as float32 (n, C, H, W) in [0, 1] units before clipping and quantisation, as
  // out/float/shard-NNNNN.npy (written before the batch's shard, so a finished batch always has it).
  bool float_samples = false;
  // The samples are D-dimensional points (a model of data.image_size 1): each (n, D, 1, 1) batch is written
  // as float32 [D] items, unclipped, the dataset kind of `scorch data synth mixture`; no PNGs or grid.
  bool points = false;
  // Class-conditional: image i of the farm asks for classes[i mod K] (the sampler must be guided); the labels
  // are written with the samples. Empty: unconditional.
  std::vector<int64_t> classes;
  nlohmann::json model = nlohmann::json::object();  // identity of the weights: model_identity's
  // What the farm solves when it is not plain sampling (inpainting, colorization: the task, mask and data), so
  // that no other task resumes into its directory; null for samples.
  nlohmann::json task;
  // What this rank computes with (dist::execution_info_json), written per batch with the rank and seconds as
  // out/runinfo/shard-NNNNN.json; empty: not written.
  std::string execution;
  std::string command;  // recorded in the manifest
  // A rank that has worked on one batch (or been between batches) for longer than this plus three times the
  // longest batch of the rank watching it, while that rank waits at the end, is taken to hang: the job ends
  // naming it (dist.timeout_s). Finished shards stay, so the same command resumes.
  double stall_timeout_s = 600;
  // Seams for the tests, called on every rank when set: before batch `id` is produced, and after a batch's
  // shard is written (with this rank's report so far). `scorch sample --test-delay` slows a rank down there
  // to show the dynamic hand-out; `--test-die-after` kills the process to show a resume.
  std::function<void(int64_t id)> before_batch;
  std::function<void(const FarmReport& so_far)> after_batch;
};

// Makes the `count` images of batch `id` ((count, C, H, W) float, [0, 1] for the valid range; the farm clips)
// from (seed, id) only, and says how many score evaluations that took.
using BatchProducer = std::function<torch::Tensor(int64_t id, int64_t count, int64_t* nfe)>;

// Collective over `comm`. `config` is the model's config with the sampling overrides applied: the farm
// records it in out/farm.json and refuses to resume a directory made with different settings.
// `image_shape` is (C, H, W).
FarmReport run_farm(const BatchProducer& produce, const std::vector<int64_t>& image_shape, const Config& config,
                    const FarmOptions& o, dist::Communicator& comm);
// Unconditional samples: every batch is sampled at the full batch size (and the last one cut), so a batch's
// images do not depend on where `num` ends.
FarmReport run_farm(DiffusionSampler& sampler, const Config& config, const FarmOptions& o, dist::Communicator& comm);

// What run_farm checks before its first batch, without writing anything (`scorch sample --dry-run`): the
// counts, and where o.out (which may be empty) holds a farm, that it was made with the same settings. A weights digest
// that `o` or the farm lacks is not compared.
void check_farm(const std::vector<int64_t>& image_shape, const Config& config, const FarmOptions& o);

// FarmOptions::model for a loaded checkpoint: its source, step, EMA or raw, and the SHA-256 of the weights
// (io::weights_sha256), since a run trained again at the same path has other weights under the same step.
// `digest` false leaves the SHA-256 out (a dry run, which writes no farm).
nlohmann::json model_identity(const io::InferenceModel& inf, bool digest = true);

// The class labels (count,) int64 of batch `id` of a class-conditional farm: image i asks for classes[i mod K].
torch::Tensor farm_labels(const FarmOptions& o, int64_t id, int64_t count);

// Name of the shard holding batch `id` (the id is the shard number, so a directory listing says what is done).
std::string batch_shard_name(int64_t id);

}  // namespace scorch::sampler
