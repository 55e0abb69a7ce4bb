// The few-step samplers against DPM-Solver's and EDM's own code on the same network, weights and x_T
// (tests/fixtures/fast_samplers/README.md).
//
// Tolerance 1e-4 of the output's scale: the references compute alpha, sigma and lambda in float32 and
// invert lambda in closed form, scorch in float64 by bisection; a wrong step order, coefficient or time
// grid moves the samples by 1e-2 or more.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/io/safetensors.h"
#include "core/models/model_weights.h"
#include "core/models/score_model.h"
#include "core/sdes/score_fn.h"
#include "core/sdes/vp_sde.h"
#include "sampler/few_step.h"
#include "sampler/time_steps.h"
#include "support/run.h"

namespace scorch::sampler {
namespace fast_samplers_reference_test {

constexpr double kTol = 1e-4;

std::string fixture_path(const std::string& rel) { return test::source_dir() + "/tests/fixtures/" + rel; }

// scorch's few-step sampler from the fixture's x_T against the reference's output `name`, its network
// evaluations against the count the reference made (meta[name]["nfe"]).
void expect_matches(const std::shared_ptr<sdes::Sde>& sde, const sdes::ScoreFn& score, SamplingOptions o,
                    const std::map<std::string, torch::Tensor>& tensors, const nlohmann::json& meta,
                    const std::string& name, double tol, bool noise_removal = false) {
  SCOPED_TRACE(name);
  torch::NoGradGuard no_grad;
  o.eps = 1e-3;
  o.noise_removal = noise_removal;
  FewStepSampler few(sde, score, o);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  const auto got = few.run(tensors.at("input/x_T"), gen);
  const auto& want = tensors.at("output/" + name);
  const double err = ((got - want).abs().max() / want.abs().max()).item<double>();
  std::printf("%s: max rel. error %.3g, NFE %lld (reference %d)\n", name.c_str(), err,
              static_cast<long long>(few.nfe()), meta[name]["nfe"].get<int>());
  EXPECT_LE(err, tol);
  EXPECT_EQ(few.nfe(), meta[name]["nfe"].get<int64_t>());
}

struct Reference {
  std::shared_ptr<models::ScoreModelImpl> model;
  std::shared_ptr<sdes::Sde> sde;
  sdes::ScoreFn score;
  std::map<std::string, torch::Tensor> tensors;
  nlohmann::json meta;

  Reference() {
    const Config config = Config::resolve(fixture_path("models/ddpm_small.yaml"), {});
    model = models::make_model(config);
    models::load_reference_weights(*model, io::read_safetensors(fixture_path("models/ddpm_small.safetensors")).tensors,
                                   "ddpm_small");
    model->eval();
    sde = sdes::make_sde(config);
    auto m = model;
    score = sdes::make_score_fn(
        sde, [m](const torch::Tensor& x, const torch::Tensor& labels) { return m->forward(x, labels); }, true);
    tensors = io::read_safetensors(fixture_path("fast_samplers/ddpm_small_vp.safetensors")).tensors;
    meta = nlohmann::json::parse(std::ifstream(fixture_path("fast_samplers/ddpm_small_vp.json")));
  }

  void expect_matches(const std::string& name, SamplingOptions o) {
    fast_samplers_reference_test::expect_matches(sde, score, std::move(o), tensors, meta, name, kTol);
  }
};

SamplingOptions dpm(int64_t order, const std::string& method, int64_t steps) {
  SamplingOptions o;
  o.method = "dpm_solver";
  o.solver_order = order;
  o.dpm_method = method;
  o.spacing = "logsnr";
  o.steps = steps;
  return o;
}

TEST(FastSamplersReference, DpmSolverPlusPlusMatchesTheReferenceCode) {
  Reference r;
  r.expect_matches("dpm_2m_15", dpm(2, "multistep", 15));
  r.expect_matches("dpm_3m_20", dpm(3, "multistep", 20));
  r.expect_matches("dpm_2m_8", dpm(2, "multistep", 8));
  r.expect_matches("dpm_3s_10", dpm(3, "singlestep", 10));
  r.expect_matches("dpm_2s_12", dpm(2, "singlestep", 12));
}

TEST(FastSamplersReference, EdmHeunMatchesTheReferenceCode) {
  Reference r;
  SamplingOptions o;
  o.method = "edm";
  o.spacing = "edm";
  o.steps = 35;
  r.expect_matches("edm_heun_18", o);
}

// A discrete VP (DDPM) network through DPM-Solver's discrete schedule (fast_samplers/discrete_vp): the same
// stand-in network on both sides, eps(x, u) = tanh(x) cos(u / 50) + x / 10 at label u, everything in float64.
// Tolerance 1e-6 of the output's scale: the reference's time grid is float32 (2e-8 in log alpha); a label one
// off, or the continuous SDE's alpha and sigma, moves the samples by more than 1e-3.
// `seen`, when given, collects the (rounded) label of every network call.
sdes::ScoreFn stand_in_discrete_vp_score(const std::shared_ptr<sdes::Sde>& sde, std::vector<int64_t>* seen = nullptr) {
  return sdes::make_score_fn(
      sde,
      [seen](const torch::Tensor& x, const torch::Tensor& labels) {
        if (seen) seen->push_back(std::lround(labels[0].item<double>()));
        return torch::tanh(x) * torch::cos(labels / 50.0).view({-1, 1, 1, 1}) + 0.1 * x;
      },
      /*continuous=*/false);
}

TEST(FastSamplersReference, DpmSolverOnADiscreteVpNetworkMatchesTheReferenceCode) {
  auto sde = std::make_shared<sdes::VPSDE>(0.1, 20.0, 1000);
  auto score = stand_in_discrete_vp_score(sde);
  const auto tensors = io::read_safetensors(fixture_path("fast_samplers/discrete_vp.safetensors")).tensors;
  const auto meta = nlohmann::json::parse(std::ifstream(fixture_path("fast_samplers/discrete_vp.json")));
  for (const auto& [name, run] : meta.items()) {
    SamplingOptions o = dpm(run["order"].get<int64_t>(), run["method"].get<std::string>(), run["steps"].get<int64_t>());
    o.continuous = false;  // eps 1e-3 is label 0.999, the reference's t_end (0.999 + 1) / 1000
    expect_matches(sde, score, o, tensors, meta, name, 1e-6);
  }
}

// DDIM and DDPM on ermongroup/ddim's own label sequences (fast_samplers/ddim_labels): its
// Diffusion.sample_image with generalized_steps (ddim) and ddpm_steps (its ddpm_noisy: scorch's ddpm, x_0
// clipped to [-1, 1], data.centered) on the same stand-in network and table, float64: eta 0 with uniform 10
// and 30 (whose range has 31 labels), quad 10 and 20; eta 1 with uniform 10, eta 0.5 with quad 20, and ddpm
// with uniform 10 and quad 20, the reference's noise drawn after torch.manual_seed(0), scorch's from a CPU
// generator seeded 0 (the same Mersenne Twister and normal draws, in the same order: one per step after the
// network call). The labels each evaluation took must be the reference's, in order, and the samples agree
// within 1e-12 of their scale (2e-15 seen for ddim, 7e-14 for ddpm, whose x_0 the reference forms from its
// noise prediction in another order): both sides compute in float64 the same products of the same betas (the
// reference's cumprod, scorch's sum of logs). A sequence one label off moves them by 5e-3, a missing final x_0
// prediction by 1e-3, no noise for eta > 0 by 0.19; ddpm with the posterior's variance by 0.5, without
// clipping by 80.
TEST(FastSamplersReference, DdimAndDdpmOnDdimsLabelSequencesMatchTheReferenceCode) {
  auto sde = std::make_shared<sdes::VPSDE>(0.1, 20.0, 1000);
  std::vector<int64_t> seen;
  auto score = stand_in_discrete_vp_score(sde, &seen);
  const auto tensors = io::read_safetensors(fixture_path("fast_samplers/ddim_labels.safetensors")).tensors;
  const auto meta = nlohmann::json::parse(std::ifstream(fixture_path("fast_samplers/ddim_labels.json")));
  for (const auto& [name, run] : meta.items()) {
    SamplingOptions o;
    o.method = run["sample_type"] == "ddpm_noisy" ? "ddpm" : "ddim";
    o.spacing = "ddim_" + run["skip_type"].get<std::string>();
    o.steps = run["timesteps"].get<int64_t>();
    o.ddim_eta = run["eta"].is_null() ? 0.0 : run["eta"].get<double>();
    o.continuous = false;
    o.centered = true;
    seen.clear();
    expect_matches(sde, score, o, tensors, meta, name, 1e-12, /*noise_removal=*/true);
    EXPECT_EQ(seen, run["labels"].get<std::vector<int64_t>>()) << name;
  }
}

}  // namespace fast_samplers_reference_test
}  // namespace scorch::sampler
