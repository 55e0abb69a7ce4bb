// `scorch sample`: the sampler farm, and `sample likelihood|inpaint|colorize` (see docs/sampling.md).
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "apps/cmd_sample_args.h"
#include "apps/commands.h"
#include "apps/config_args.h"
#include "core/atomic_file.h"
#include "core/dir_lock.h"
#include "core/dist/communicator.h"
#include "core/dist/device.h"
#include "core/dist/process.h"
#include "core/error.h"
#include "core/io/checkpoint_files.h"
#include "core/sha256.h"
#include "data/dataset.h"
#include "sampler/bpd_eval.h"
#include "sampler/classifier_guidance.h"
#include "sampler/farm.h"
#include "sampler/few_step.h"
#include "sampler/inverse_farm.h"
#include "sampler/latents.h"
#include "sampler/model_fn.h"
#include "sampler/model_images.h"
#include "sampler/options.h"

namespace scorch::apps {

namespace {

using nlohmann::json;

// Everything a subcommand needs: the model on its device, the resolved config, the CPU communicator.
struct Loaded {
  io::InferenceModel inf;
  Config config;
  torch::Device device{torch::kCPU};
  std::shared_ptr<dist::Communicator> comm;
};

std::unique_ptr<Loaded> load(const SampleArgs& a) {
  SCORCH_CHECK_HINT(!a.ckpt.empty(), "pass --ckpt runs/NAME/checkpoints/latest (or a run dir, or an EMA export)",
                    "scorch sample needs a checkpoint");
  SCORCH_CHECK(a.weights == "ema" || a.weights == "model", "--weights must be ema or model, got '{}'", a.weights);
  dist::check_world_size();
  auto l = std::make_unique<Loaded>();
  l->inf = io::load_inference_model(a.ckpt, a.weights, torch::Device(torch::kCPU));
  SCORCH_CHECK_HINT(l->inf.config.get_string("training.task") == "score",
                    "pass the score model as --ckpt; a classifier guides it with --classifier and --class",
                    "--ckpt {} is a checkpoint of training.task {}, not a score model", l->inf.source,
                    l->inf.config.get_string("training.task"));
  l->config = resolve_config(l->inf.config, a.config);
  check_network_unchanged(l->inf.config, l->config, "scorch sample");
  l->device = dist::select_device(l->config.get_string("device"), dist::info().local_rank);
  sampler::set_sampling_runtime(l->config, l->device);
  sampler::place_for_sampling(*l->inf.model, l->config, l->device);
  l->comm = dist::make_communicator("auto", torch::Device(torch::kCPU));
  if (l->comm->rank() == 0)
    spdlog::info("model: {} (step {}, {} weights) on {}; {} rank(s)", l->inf.source, l->inf.step, a.weights,
                 l->device.str(), l->comm->world());
  return l;
}

// The hidden test flags, through the farm's seams: --test-delay RANK:MS sleeps before each batch on that rank
// (to show the dynamic hand-out), --test-die-after N kills the process once it has written N batches (to show
// a resume).
void install_test_hooks(const SampleArgs& a, const dist::Communicator& comm, sampler::FarmOptions& o) {
  if (!a.delay.empty()) {
    const auto colon = a.delay.find(':');
    SCORCH_CHECK(colon != std::string::npos, "--test-delay takes RANK:MS, got '{}'", a.delay);
    const auto ms = std::chrono::milliseconds(std::stoll(a.delay.substr(colon + 1)));
    if (comm.rank() == std::stoi(a.delay.substr(0, colon)) && ms.count() > 0)
      o.before_batch = [ms](int64_t) { std::this_thread::sleep_for(ms); };
  }
  if (a.die_after >= 0)
    o.after_batch = [n = a.die_after](const sampler::FarmReport& r) {
      if (r.mine >= n) std::raise(SIGKILL);
    };
}

// `dry`: for --dry-run, which checks the counts and the config but needs no output directory.
sampler::FarmOptions farm_options(const SampleArgs& a, const Loaded& l, bool dry = false) {
  sampler::FarmOptions o;
  o.out = a.out;
  o.num = count_or_default(a.num_flag, a.num, l.config, "eval.num_samples");
  o.batch = count_or_default(a.batch_flag, a.batch, l.config, "eval.batch_size");
  o.seed = static_cast<uint64_t>(l.config.get_int("seed"));
  o.png = a.png;
  o.float_samples = a.float_samples;
  SCORCH_CHECK_HINT(a.grid >= 0, "pass --grid 0 for no grid",
                    "--grid must be a non-negative number of images for OUT/grid.png (0: none), got {}", a.grid);
  o.grid = a.grid;
  o.points = l.config.get_int("data.image_size") == 1;  // a points model (model.name mlp)
  o.overwrite = a.overwrite;
  o.model = sampler::model_identity(l.inf, /*digest=*/!dry);  // a dry run writes no farm: a digest would be waste
  o.execution = dist::execution_info_json(l.device);
  o.command = a.command;
  o.stall_timeout_s = l.config.get_float("dist.timeout_s");
  install_test_hooks(a, *l.comm, o);
  SCORCH_CHECK_HINT(dry || !o.out.empty(), "pass --out DIR", "scorch sample needs an output directory");
  return o;
}

void report_farm(const sampler::FarmReport& r, const sampler::FarmOptions& o, dist::Communicator& comm) {
  const int64_t mine = r.mine, nfe = r.nfe_mine;
  const auto counts = comm.all_gather(mine);
  const int64_t batches_run = comm.all_reduce_sum(mine), nfe_all = comm.all_reduce_sum(nfe);
  const int64_t nonfinite = comm.all_reduce_sum(r.nonfinite_mine);
  if (comm.rank() != 0) return;
  if (nonfinite > 0)
    spdlog::warn("{} of the images sampled now hold NaN or infinite values: see the warnings above", nonfinite);
  const char* items = o.points ? "points" : "images";
  if (r.already_complete) {
    std::printf("%s is complete already (%lld %s); nothing to do\n", o.out.c_str(), static_cast<long long>(r.images),
                items);
    return;
  }
  std::string per_rank;
  for (auto c : counts) per_rank += (per_rank.empty() ? "" : " ") + std::to_string(c);
  std::printf(
      "wrote %lld %s in %lld batches of %lld to %s in %.1f s (%lld batches resumed; batches per rank: %s; "
      "mean NFE per batch %.1f)\n",
      static_cast<long long>(r.images), items, static_cast<long long>(r.batches), static_cast<long long>(o.batch),
      o.out.c_str(), r.seconds, static_cast<long long>(r.resumed), per_rank.c_str(),
      batches_run > 0 ? double(nfe_all) / double(batches_run) : 0.0);
}

// --class / --classifier belong to the sampling farm; elsewhere they would be ignored, so they are refused.
void refuse_guidance(const SampleArgs& a, const char* what) {
  SCORCH_CHECK_HINT(a.classifier.empty() && a.classes.empty(), "drop --class and --classifier",
                    "{} does not take class-conditional guidance (--class, --classifier): only `scorch sample` does",
                    what);
}

// Common flags a subcommand has no use for: given, they would be ignored without a word, so they are refused.
void refuse_flags(const SampleArgs& a, const char* what, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const auto* f = a.flags.at(name);
    SCORCH_CHECK_HINT(f->count() == 0, fmt::format("drop {}", name), "{} does not take {}", what, name);
  }
}

// The classifier must have been trained on the score model's noise: the same SDE and parameters, the same
// image shape and data range. Each difference is named.
void check_classifier(const Config& score, const io::InferenceModel& cls) {
  SCORCH_CHECK_HINT(cls.config.get_string("training.task") == "classifier",
                    "pass a checkpoint trained with training.task: classifier",
                    "--classifier {} is a checkpoint of training.task {}, not a classifier", cls.source,
                    cls.config.get_string("training.task"));
  for (const char* key : {"training.sde", "model.sigma_min", "model.sigma_max", "model.beta_min", "model.beta_max",
                          "data.image_size", "data.num_channels", "data.centered"})
    SCORCH_CHECK_HINT(score.value_text(key) == cls.config.value_text(key),
                      "train the classifier with the score model's SDE, noise levels and data settings",
                      "--classifier {} has {} = {}, the score model {}: it was trained on other noise or data",
                      cls.source, key, cls.config.value_text(key), score.value_text(key));
}

// The class-guidance arguments against the score model: both or neither of --class and --classifier, no latents,
// a classifier trained on the same noise and data, classes it has, a scale >= 0. Returns the classifier loaded
// on `device` (none without --classifier).
io::InferenceModel checked_classifier(const SampleArgs& a, const Config& score, const torch::Device& device) {
  SCORCH_CHECK_HINT(a.classes.empty() == a.classifier.empty(), "pass both --class and --classifier, or neither",
                    "class-conditional sampling needs the classes (--class) and the classifier (--classifier)");
  io::InferenceModel classifier;
  if (a.classifier.empty()) {
    refuse_flags(a, "sampling without --classifier", {"--classifier-scale", "--classifier-weights"});
    return classifier;
  }
  SCORCH_CHECK_HINT(a.latents.empty(), "drop --latents or the class guidance",
                    "--latents with --class is not supported: latents already decide deterministic samples");
  classifier = io::load_inference_model(a.classifier, a.classifier_weights, device);
  check_classifier(score, classifier);
  const int64_t k = classifier.config.get_int("model.num_classes");
  for (auto c : a.classes)
    SCORCH_CHECK(c >= 0 && c < k, "--class {}: the classifier {} has classes 0 to {}", c, classifier.source, k - 1);
  SCORCH_CHECK(std::isfinite(a.classifier_scale) && a.classifier_scale >= 0,
               "--classifier-scale must be a finite number >= 0, got {}", a.classifier_scale);
  return classifier;
}

// What `scorch sample` builds and checks before its first batch; --dry-run (`dry`) stops after it.
struct SampleStart {
  std::unique_ptr<sampler::DiffusionSampler> diffusion;
  io::InferenceModel classifier;
  sampler::FarmOptions o;
  torch::Tensor latents;  // (N, C, H, W) x_T from --latents; undefined: prior draws
};

SampleStart start_sample(const SampleArgs& a, Loaded& l, bool dry) {
  SampleStart s;
  s.diffusion = std::make_unique<sampler::DiffusionSampler>(*l.inf.model, l.config, l.device);
  s.classifier = checked_classifier(a, l.config, l.device);
  if (!a.classifier.empty())
    s.diffusion->set_guidance(sampler::classifier_logits(*s.classifier.model, s.diffusion->sde()), a.classifier_scale);
  s.o = farm_options(a, l, dry);
  if (!a.classifier.empty()) {
    s.o.classes = a.classes;
    // As the score model's identity: a classifier trained again at the same path has other weights.
    s.o.model["classifier"] = sampler::model_identity(s.classifier, /*digest=*/!dry);
    s.o.model["classifier"]["scale"] = a.classifier_scale;
  }
  if (a.latents.empty()) return s;
  // Before the farm writes its plan (and --dry-run says yes): a plan left by a refused sampler made the corrected
  // command look like a resume with other settings.
  s.diffusion->require_deterministic();
  // Given latents: image i starts from row i, so --num defaults to (and may not exceed) the rows there are.
  s.latents = sampler::read_image_array(a.latents, s.diffusion->image_shape());
  if (a.num_flag->count() == 0) s.o.num = s.latents.size(0);
  SCORCH_CHECK_HINT(s.o.num <= s.latents.size(0), fmt::format("pass --num {} or fewer", s.latents.size(0)),
                    "--num {} but {} holds {} latents", s.o.num, a.latents, s.latents.size(0));
  // The path as an absolute one: a resume from another working directory (a Slurm job's) names the same file.
  s.o.model["latents"] = {{"file", std::filesystem::absolute(a.latents).lexically_normal().string()},
                          {"sha256", sha256_file(a.latents)}};
  return s;
}

int run_sample(const SampleArgs& a) {
  auto l = load(a);
  if (dry_run(a.config, l->config, [&] {
        const auto s = start_sample(a, *l, true);
        sampler::check_farm(s.diffusion->image_shape(), l->config, s.o);
      }))
    return 0;
  auto s = start_sample(a, *l, false);
  auto& diffusion = *s.diffusion;
  if (!s.latents.defined()) {
    report_farm(sampler::run_farm(diffusion, l->config, s.o, *l->comm), s.o, *l->comm);
    return 0;
  }
  const auto& o = s.o;
  // Whole batches (the file's rows as far as it goes), cut: where --num ends does not move the adaptive solver's
  // steps, which a batch's rows share.
  sampler::BatchProducer produce = [&](int64_t id, int64_t count, int64_t* nfe) {
    const auto first = id * o.batch;
    const auto x_T = s.latents.slice(0, first, first + sampler::whole_batch_rows(first, o.batch, s.latents.size(0)));
    auto images = diffusion.sample_from(x_T, o.seed, id, false).slice(0, 0, count);
    *nfe = diffusion.last_nfe();
    return images;
  };
  diffusion.report_progress(l->comm->rank() == 0);
  report_farm(sampler::run_farm(produce, diffusion.image_shape(), l->config, o, *l->comm), o, *l->comm);
  return 0;
}

int run_encode(const SampleArgs& a) {
  refuse_guidance(a, "scorch sample encode");
  refuse_flags(
      a, "scorch sample encode",
      {"--latents", "--png", "--float", "--grid", "--overwrite", "--classifier-scale", "--classifier-weights"});
  auto l = load(a);
  // DDIM inversion walks the grid of decoding without the final denoising step (few_step.h), so a budget
  // of one step is enough, whatever sampling.noise_removal says for sampling.
  if (const auto so = sampler::SamplingOptions::from(l->config); so.method == "ddim") {
    sampler::check_ddim_encode(so);  // first: a refused spacing would otherwise be blamed on noise_removal
    l->config.set("sampling.noise_removal", "false", "scorch sample encode with sampling.method ddim");
  }
  const auto options = [&] {
    sampler::EncodeOptions o;
    o.data = a.data;
    o.out = a.out;
    o.num = given_count(a.num_flag, a.num, "the whole dataset").value_or(0);
    o.batch = count_or_default(a.batch_flag, a.batch, l->config, "eval.batch_size");
    return o;
  };
  if (dry_run(a.config, l->config, [&] {
        sampler::check_encode(sampler::DiffusionSampler(*l->inf.model, l->config, l->device), options());
      }))
    return 0;
  sampler::DiffusionSampler diffusion(*l->inf.model, l->config, l->device);
  const auto o = options();
  const auto r = sampler::encode_dataset(diffusion, o, *l->comm);
  if (l->comm->rank() == 0)
    std::printf("wrote the latents of %lld images to %s (mean NFE per batch %.1f, %.1f s)\n",
                static_cast<long long>(r.count), o.out.c_str(), r.mean_nfe, r.seconds);
  return 0;
}

// Inpainting / colorization of the first --num images of --data.
int run_inverse(const SampleArgs& a, bool colorization) {
  refuse_guidance(a, "scorch sample inpaint/colorize");
  refuse_flags(a, "scorch sample inpaint/colorize", {"--latents", "--classifier-scale", "--classifier-weights"});
  auto l = load(a);
  SCORCH_CHECK_HINT(!a.data.empty(), "pass --data DIR (a dataset from `scorch data pack`)",
                    "scorch sample {} needs images to work on", colorization ? "colorize" : "inpaint");
  sampler::InverseProblem problem;
  problem.data = a.data;
  problem.colorization = colorization;
  problem.mask = a.mask;
  // Without --num the first eval.num_samples images, or all when there are fewer; a given --num must be there.
  if (a.num_flag->count() > 0) sampler::check_num_within(a.num, data::Dataset(a.data));
  if (dry_run(a.config, l->config, [&] {
        const sampler::DiffusionSampler check(*l->inf.model, l->config, l->device);
        const auto o = sampler::inverse_farm_options(problem, farm_options(a, *l, true));
        sampler::check_inverse(check, problem, o.seed);
        sampler::check_farm(check.image_shape(), l->config, o);
      }))
    return 0;
  sampler::DiffusionSampler diffusion(*l->inf.model, l->config, l->device);
  const auto o = farm_options(a, *l);
  report_farm(sampler::run_inverse_farm(diffusion, problem, l->config, o, *l->comm), o, *l->comm);
  return 0;
}

int run_likelihood(const SampleArgs& a) {
  refuse_guidance(a, "scorch sample likelihood");
  refuse_flags(
      a, "scorch sample likelihood",
      {"--latents", "--png", "--float", "--grid", "--overwrite", "--classifier-scale", "--classifier-weights"});
  SCORCH_CHECK_HINT(a.divergence != "exact" || a.probes.empty(), "drop --probes, or use a Hutchinson --divergence",
                    "--divergence exact takes no probes (--probes {})", a.probes);
  // Before hours of ODE solves, not after: --out names the JSON file the result goes to (its directory is made).
  SCORCH_CHECK_HINT(a.out.empty() || !std::filesystem::is_directory(a.out), "pass --out FILE.json",
                    "scorch sample likelihood writes its result as a JSON file; --out {} is a directory", a.out);
  if (!a.out.empty()) check_output_file(a.out, "--out");
  auto l = load(a);
  SCORCH_CHECK_HINT(!a.data.empty(), "pass --data DIR (a dataset from `scorch data pack`)",
                    "scorch sample likelihood needs data");
  const auto options = [&](const sampler::DiffusionSampler& diffusion) {
    sampler::BpdOptions o;
    o.data = a.data;
    // Without --num the likelihood covers the whole dataset, not eval.num_samples.
    o.num = given_count(a.num_flag, a.num, "the whole dataset").value_or(0);
    o.batch = count_or_default(a.batch_flag, a.batch, l->config, "eval.batch_size");
    SCORCH_CHECK(a.repeats > 0, "--repeats must be a positive count, got {}", a.repeats);
    o.repeats = a.repeats;
    o.seed = static_cast<uint64_t>(l->config.get_int("seed"));
    o.likelihood.divergence = a.divergence;
    o.likelihood.solver = diffusion.options().ode_solver;
    o.likelihood.rtol = diffusion.options().rtol;
    o.likelihood.atol = diffusion.options().atol;
    o.likelihood.steps = diffusion.options().ode_steps;
    if (!a.dequant.empty()) o.dequant = sampler::read_image_array(a.dequant, diffusion.image_shape(), "--dequant");
    if (!a.probes.empty()) o.probe = sampler::read_image_array(a.probes, diffusion.image_shape(), "--probes");
    return o;
  };
  if (dry_run(a.config, l->config, [&] {
        const sampler::DiffusionSampler check(*l->inf.model, l->config, l->device);
        sampler::check_bpd(check, options(check));
      }))
    return 0;
  sampler::DiffusionSampler diffusion(*l->inf.model, l->config, l->device);
  const auto o = options(diffusion);
  auto r = sampler::evaluate_bpd(diffusion, o, *l->comm);
  if (l->comm->rank() != 0) return 0;
  std::printf("bits/dim %.6f +- %.6f (standard error; %lld images x %lld repeats, mean NFE per batch %.1f, %.1f s)\n",
              r.mean, r.std_error, static_cast<long long>(r.count / o.repeats), static_cast<long long>(o.repeats),
              r.mean_nfe, r.seconds);
  if (!a.out.empty()) {
    json j = {{"bpd", r.mean},
              {"std_error", r.std_error},
              {"count", r.count},
              {"repeats", o.repeats},
              {"batch", o.batch},
              {"mean_nfe", r.mean_nfe},
              {"divergence", a.divergence},
              {"data", a.data},
              {"model", {{"source", l->inf.source}, {"step", l->inf.step}, {"weights", l->inf.weights}}},
              {"rtol", o.likelihood.rtol},
              {"atol", o.likelihood.atol},
              {"solver", o.likelihood.solver},
              {"ranks", l->comm->world()},
              {"seconds", r.seconds},
              {"per_image", r.per_image}};
    write_file_atomic(a.out, j.dump(2) + "\n");
    std::printf("wrote %s\n", a.out.c_str());
  }
  return 0;
}

}  // namespace

void add_sample_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<SampleArgs>();
  auto* cmd = app.add_subcommand("sample", "sample from a checkpoint (distributed, resumable farm)");
  const auto sub = add_sample_args(cmd, *a);
  cmd->callback([&action, a, sub]() {
    a->command = "scorch sample";
    action = [a, sub]() {
      if (sub.encode->parsed()) return run_encode(*a);
      if (sub.likelihood->parsed()) return run_likelihood(*a);
      if (sub.inpaint->parsed()) return run_inverse(*a, false);
      if (sub.colorize->parsed()) return run_inverse(*a, true);
      return run_sample(*a);
    };
  });
}

}  // namespace scorch::apps
