// The 2-D mixture lab: data, training, eight sampler runs on the exact and the learned score, plots, table.
#include "lab/mixture_lab.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/dist/mpi_comm.h"
#include "core/error.h"
#include "core/io/scatter_plot.h"
#include "core/rng.h"
#include "core/sdes/score_fn.h"
#include "core/sdes/sde.h"
#include "data/format.h"
#include "data/synth.h"
#include "eval/mmd.h"
#include "sampler/ald_sampler.h"
#include "sampler/exact_mixture.h"
#include "sampler/ode_sampler.h"
#include "sampler/options.h"
#include "sampler/pc_sampler.h"
#include "trainer/trainer.h"

namespace scorch::lab {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr double kLo = -10, kHi = 10;  // the square every panel shows
constexpr int kHeatGrid = 100, kArrowCells = 20;
constexpr int64_t kDataPoints = 20000;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// n exact draws (n, D) float64 of the mixture: a component by its weight, then its Gaussian.
torch::Tensor exact_draws(const data::Mixture& m, int64_t n, uint64_t seed, uint64_t stream) {
  auto gen = cpu_generator(seed, stream);
  const auto opts = torch::TensorOptions(torch::kFloat64);
  auto cum = torch::tensor(m.weights, opts).cumsum(0);  // (K,)
  const int64_t k_last = cum.size(0) - 1;
  auto k = (torch::rand({n, 1}, gen, opts) > cum.narrow(0, 0, k_last).view({1, -1})).sum(1);  // (n,)
  std::vector<double> flat;
  for (const auto& mu : m.means) flat.insert(flat.end(), mu.begin(), mu.end());
  const auto means = torch::tensor(flat, opts).view({cum.size(0), -1});  // (K, D)
  const auto stds = torch::tensor(m.stds, opts);                         // (K,)
  return means.index({k}) + stds.index({k}).view({-1, 1}) * torch::randn({n, means.size(1)}, gen, opts);
}

// The mixture widened by N(0, sigma^2 I): its log density on the lattice the heat maps use.
std::vector<double> log_density_grid(const data::Mixture& m, double sigma) {
  data::Mixture wide = m;
  for (auto& s : wide.stds) s = std::sqrt(s * s + sigma * sigma);
  std::vector<double> out(static_cast<size_t>(kHeatGrid) * kHeatGrid);
  for (int i = 0; i < kHeatGrid; ++i)
    for (int j = 0; j < kHeatGrid; ++j) {
      const double y = kHi - (i + 0.5) * (kHi - kLo) / kHeatGrid, x = kLo + (j + 0.5) * (kHi - kLo) / kHeatGrid;
      out[static_cast<size_t>(i) * kHeatGrid + j] = wide.log_density({x, y}, nullptr);
    }
  return out;
}

std::vector<std::array<double, 2>> as_points(const torch::Tensor& x) {
  const auto p = x.to(torch::kFloat64).reshape({-1, 2}).contiguous();
  std::vector<std::array<double, 2>> out(p.size(0));
  const auto* v = p.data_ptr<double>();
  for (size_t i = 0; i < out.size(); ++i) out[i] = {v[2 * i], v[2 * i + 1]};
  return out;
}

LabRow summarise(const std::string& score, const std::string& sampler, const torch::Tensor& x,
                 const torch::Tensor& exact, int64_t nfe, double seconds) {
  LabRow r{score, sampler};
  const auto p = x.to(torch::kFloat64).reshape({-1, 2});
  const auto hi = p.sum(1) > 0;  // the (5, 5) mode's basin
  const double n = static_cast<double>(p.size(0));
  r.weight = hi.to(torch::kFloat64).mean().item<double>();
  r.weight_se = std::sqrt(std::max(r.weight * (1 - r.weight), 1e-12) / n);
  for (int d = 0; d < 2; ++d) {
    const auto hi_d = p.index({hi}).select(1, d), lo_d = p.index({hi.logical_not()}).select(1, d);
    r.mean_hi[d] = hi_d.numel() ? hi_d.mean().item<double>() : std::nan("");
    r.mean_lo[d] = lo_d.numel() ? lo_d.mean().item<double>() : std::nan("");
  }
  r.mmd2 = eval::mmd2_gaussian(p, exact);
  r.nfe = nfe;
  r.seconds = seconds;
  spdlog::info("lab: {} score, {}: weight {:.3f} +- {:.3f}, MMD^2 {:.2e}, {} evaluations, {:.1f} s", score, sampler,
               r.weight, r.weight_se, r.mmd2, nfe, seconds);
  return r;
}

std::string number(double v, int digits = 3) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, digits) : "-"; }

}  // namespace

json MixtureLabReport::to_json() const {
  json rows_json = json::array();
  for (const auto& r : rows)
    rows_json.push_back({{"score", r.score},
                         {"sampler", r.sampler},
                         {"weight", r.weight},
                         {"weight_se", r.weight_se},
                         {"mean_hi", {r.mean_hi[0], r.mean_hi[1]}},
                         {"mean_lo", {r.mean_lo[0], r.mean_lo[1]}},
                         {"mmd2", r.mmd2},
                         {"nfe", r.nfe},
                         {"seconds", r.seconds}});
  json errors = json::array();
  for (const auto& [sigma, e] : score_error) errors.push_back({{"sigma", sigma}, {"relative_mse", e}});
  return {{"rows", rows_json},
          {"score_error", errors},
          {"mmd2_exact_vs_exact", mmd2_baseline},
          {"train_seconds", train_seconds},
          {"trained_steps", trained_steps}};
}

std::string MixtureLabReport::to_markdown() const {
  std::string s = fmt::format(
      "| score | sampler | weight of (5, 5), true 0.8 | mean of the (5, 5) mode | mean of the (-5, -5) mode | "
      "MMD² to exact draws (exact vs exact: {:.1e}) | evaluations | seconds |\n|---|---|---|---|---|---|---|---|\n",
      mmd2_baseline);
  for (const auto& r : rows)
    s += fmt::format("| {} | {} | {} ± {} | ({}, {}) | ({}, {}) | {:.1e} | {} | {:.1f} |\n", r.score, r.sampler,
                     number(r.weight), number(r.weight_se), number(r.mean_hi[0], 2), number(r.mean_hi[1], 2),
                     number(r.mean_lo[0], 2), number(r.mean_lo[1], 2), r.mmd2, r.nfe, r.seconds);
  s += "\n| σ | relative score error of the learned model, E‖s − s*‖² / E‖s*‖² |\n|---|---|\n";
  for (const auto& [sigma, e] : score_error) s += fmt::format("| {:g} | {:.4f} |\n", sigma, e);
  s += fmt::format("\nThe learned score is the EMA network after {} training steps.\n", trained_steps);
  return s;
}

MixtureLabReport run_mixture_lab(const MixtureLabOptions& o) {
  SCORCH_CHECK_HINT(!o.out.empty(), "pass --out DIR", "scorch lab mixture needs an output directory");
  SCORCH_CHECK(o.points >= 10, "--points must be at least 10, got {}", o.points);
  SCORCH_CHECK_HINT(fs::exists(o.config), "run from the repository root, or pass --config PATH",
                    "config {} does not exist", o.config);
  fs::create_directories(o.out);
  MixtureLabReport report;
  const auto mixture = data::pitfall_mixture();
  dist::LocalCommunicator comm;
  const auto data_dir = (fs::path(o.out) / "data").string();
  // The data depend on the seed alone: a rerun in the same --out reuses them, and only with the seed they were drawn
  // with (another --seed used to take the old data and run without a word).
  const std::string data_command = "scorch lab mixture --seed " + std::to_string(o.seed);
  if (fs::exists(fs::path(data_dir) / "manifest.json")) {
    const auto made_by = data::read_manifest(data_dir).command;
    SCORCH_CHECK_HINT(made_by == data_command, "use another --out, or the seed of the first run",
                      "{} holds the data of `{}`, not of --seed {}", data_dir, made_by, o.seed);
  } else {
    data::synth_mixture(mixture, kDataPoints, o.seed, data_command, {data_dir, 0, true}, comm);
  }

  auto sets = o.sets;
  sets.push_back("data.path=" + data_dir);
  if (o.steps >= 0) sets.push_back("training.n_iters=" + std::to_string(o.steps));
  if (!o.loss.empty()) sets.push_back("training.loss=" + o.loss);
  const auto config = Config::resolve(o.config, sets);
  SCORCH_CHECK_HINT(config.get_string("training.sde") == "vesde" && config.get_bool("training.continuous"),
                    "use configs/small/mixture_mlp.yaml or a copy of it",
                    "the lab maps Langevin's noise levels to times of a continuous VE SDE; {} has training.sde {} "
                    "with training.continuous {}",
                    o.config, config.get_string("training.sde"), config.get_bool("training.continuous"));
  const auto t_train = std::chrono::steady_clock::now();
  trainer::Trainer trainer(config, (fs::path(o.out) / "run").string(), std::make_shared<dist::LocalCommunicator>(),
                           torch::kCPU);
  trainer.run();
  report.train_seconds = seconds_since(t_train);
  report.trained_steps = trainer.step();
  if (trainer.step() > config.get_int("training.n_iters"))
    spdlog::warn(
        "{}/run holds a network trained {} steps, more than the {} asked: the table is of that network "
        "(use another --out to train fewer)",
        o.out, trainer.step(), config.get_int("training.n_iters"));
  auto& model = trainer.model();
  trainer.ema().copy_to(model);
  model.eval();

  torch::NoGradGuard no_grad;
  auto sde = sdes::make_sde(config);
  const double sigma_min = config.get_float("model.sigma_min"), sigma_max = config.get_float("model.sigma_max");
  const auto time_of = [&](const torch::Tensor& sigma) {  // VE: sigma(t) = sigma_min (sigma_max / sigma_min)^t
    return (torch::log(sigma / sigma_min) / std::log(sigma_max / sigma_min)).clamp_min(0.0);
  };
  sdes::ModelFn model_fn = [&](const torch::Tensor& x, const torch::Tensor& c) { return model.forward(x, c); };
  const std::map<std::string, sdes::ScoreFn> scores = {{"exact", sampler::exact_mixture_score(mixture, sde)},
                                                       {"learned", sdes::make_score_fn(sde, model_fn, true)}};
  // Langevin's noise-conditional "network": level i of a ladder is the score at sigma_i.
  const auto levels_of = [&](const std::string& which, const torch::Tensor& ladder) -> sdes::ModelFn {
    if (which == "exact") return sampler::exact_mixture_levels(mixture, ladder);
    const auto& score = scores.at("learned");
    return [&score, ladder, time_of](const torch::Tensor& x, const torch::Tensor& idx) {
      const auto t = time_of(ladder.index({idx.cpu().to(torch::kLong)})).to(torch::kFloat32);  // (B,)
      return score(x.to(torch::kFloat32), t);
    };
  };

  const auto exact = exact_draws(mixture, o.points, o.seed, 2);  // (n, 2)
  report.mmd2_baseline = eval::mmd2_gaussian(exact_draws(mixture, o.points, o.seed, 3), exact);
  auto start_gen = cpu_generator(o.seed, 4);
  const auto uniform = torch::rand({o.points, 2, 1, 1}, start_gen) * 16 - 8;  // Langevin's start, U([-8, 8]^2)
  sampler::SamplingOptions so = sampler::SamplingOptions::from(config);
  std::vector<io::ScatterPanel> panels;
  const auto data_density = log_density_grid(mixture, 0.0);
  for (const std::string which : {"exact", "learned"}) {
    const auto& score = scores.at(which);
    auto gen = cpu_generator(o.seed, which == "exact" ? 5 : 6);
    const auto noise = [&gen](const torch::Tensor& like) { return torch::randn(like.sizes(), gen, like.options()); };
    const auto record = [&](const std::string& name, const torch::Tensor& x, int64_t nfe, double seconds) {
      report.rows.push_back(summarise(which, name, x, exact, nfe, seconds));
      auto pts = as_points(x);
      pts.resize(std::min<size_t>(pts.size(), 1000));
      panels.push_back({fmt::format("{} score: {}, w = {:.2f}", which, name, report.rows.back().weight),
                        kLo,
                        kHi,
                        data_density,
                        kHeatGrid,
                        pts,
                        {},
                        kArrowCells});
    };
    // Plain Langevin at the smallest level, the paper's 1000 steps of x += 0.05 s + sqrt(0.1) z.
    sampler::SamplingOptions lo = so;
    lo.step_lr = 0.05;
    lo.n_steps_each = 1000;
    lo.noise_removal = false;
    auto t0 = std::chrono::steady_clock::now();
    const auto one = torch::tensor({sigma_min}, torch::kFloat64);
    sampler::AldSampler plain(levels_of(which, one), one, lo);
    auto x = plain.run(uniform.clone(), noise);
    record("Langevin, one level", x, plain.nfe(), seconds_since(t0));
    // Annealed: 10 levels from 20 down to 1, 100 steps each, step 0.05 (sigma_i / sigma_L)^2.
    lo.n_steps_each = 100;
    const auto ladder = torch::exp(torch::linspace(std::log(20.0), 0.0, 10, torch::kFloat64));
    t0 = std::chrono::steady_clock::now();
    sampler::AldSampler annealed(levels_of(which, ladder), ladder, lo);
    x = annealed.run(uniform.clone(), noise);
    record("annealed Langevin", x, annealed.nfe(), seconds_since(t0));
    t0 = std::chrono::steady_clock::now();
    sampler::PcSampler pc(sde, score, so);
    x = pc.run(sde->prior_sampling({o.points, 2, 1, 1}, gen), gen);
    record("PC", x, pc.nfe(), seconds_since(t0));
    t0 = std::chrono::steady_clock::now();
    sampler::OdeSampler ode(sde, score, so);
    x = ode.sample(sde->prior_sampling({o.points, 2, 1, 1}, gen));
    record("ODE (RK45)", x, ode.last().nfe, seconds_since(t0));
  }
  io::write_scatter_plot((fs::path(o.out) / "samples.png").string(), panels, 4);

  // The learned score against the exact one: the error by noise level, and both fields at two levels.
  auto err_gen = cpu_generator(o.seed, 7);
  for (double sigma : {0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0}) {
    if (sigma < sigma_min || sigma > sigma_max) continue;
    auto x = (exact_draws(mixture, 4000, o.seed, 8) + sigma * torch::randn({4000, 2}, err_gen, torch::kFloat64))
                 .to(torch::kFloat32)
                 .view({-1, 2, 1, 1});
    const auto s = torch::full({4000}, sigma, torch::kFloat64);
    const auto truth = sampler::perturbed_mixture_score(mixture, x, torch::ones({4000}, torch::kFloat64), s);
    const auto learned = scores.at("learned")(x, time_of(s).to(torch::kFloat32));
    report.score_error.emplace_back(sigma, ((learned - truth).square().sum() / truth.square().sum()).item<double>());
  }
  std::vector<io::ScatterPanel> fields;
  std::vector<float> lattice;
  for (int i = 0; i < kArrowCells; ++i)
    for (int j = 0; j < kArrowCells; ++j) {
      lattice.push_back(static_cast<float>(kLo + (j + 0.5) * (kHi - kLo) / kArrowCells));
      lattice.push_back(static_cast<float>(kHi - (i + 0.5) * (kHi - kLo) / kArrowCells));
    }
  const auto grid_x = torch::tensor(lattice).view({-1, 2, 1, 1});  // (400, 2, 1, 1)
  const int64_t n_grid = grid_x.size(0);
  for (double sigma : {0.5, 5.0}) {
    const auto s = torch::full({n_grid}, sigma, torch::kFloat64);
    const auto truth = sampler::perturbed_mixture_score(mixture, grid_x, torch::ones({n_grid}, torch::kFloat64), s);
    const auto learned = scores.at("learned")(grid_x, time_of(s).to(torch::kFloat32));
    for (const auto& [name, field] : {std::pair{"exact", truth}, std::pair{"learned", learned}}) {
      const auto f = field.to(torch::kFloat64).reshape({-1, 2});
      std::vector<std::array<double, 4>> arrows;
      for (int64_t i = 0; i < n_grid; ++i)
        arrows.push_back({lattice[2 * i], lattice[2 * i + 1], f[i][0].item<double>(), f[i][1].item<double>()});
      fields.push_back({fmt::format("{} score's direction, sigma = {:g}", name, sigma),
                        kLo,
                        kHi,
                        log_density_grid(mixture, sigma),
                        kHeatGrid,
                        {},
                        arrows,
                        kArrowCells,
                        true});
    }
  }
  io::write_scatter_plot((fs::path(o.out) / "scores.png").string(), fields, 4);
  write_file_atomic((fs::path(o.out) / "table.md").string(), report.to_markdown());
  write_file_atomic((fs::path(o.out) / "table.json").string(), report.to_json().dump(2) + "\n");
  return report;
}

}  // namespace scorch::lab
