// bits/dim against score_sde_pytorch's own likelihood code on the same network, data and Hutchinson probes
// (tests/fixtures/likelihood/README.md): the same estimate and the same number of RK45 evaluations.
//
// Tolerances: 1e-4 bits/dim at rtol = atol = 1e-5 (measured 2.4e-5), 1e-2 at 1e-3 (measured 4.4e-3; the
// solver's own error there, against the 1e-5 solution, is 0.03-0.05): both integrate in float64 with the
// drift in float32, so float32 rounding moves the adaptive steps a little within the tolerance. A wrong
// offset, sign or divergence is off by 0.1 or more. The evaluation counts must be equal.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/io/safetensors.h"
#include "core/models/model_weights.h"
#include "core/models/score_model.h"
#include "core/sdes/score_fn.h"
#include "sampler/likelihood.h"
#include "support/run.h"

namespace scorch::sampler {
namespace likelihood_reference_test {

std::string fixture_file(const std::string& rel) { return test::source_dir() + "/tests/fixtures/" + rel; }

TEST(LikelihoodReference, BitsPerDimAndEvaluationsMatchScoreSde) {
  const Config config = Config::resolve(fixture_file("models/ddpm_small.yaml"), {});
  auto model = models::make_model(config);
  models::load_reference_weights(*model, io::read_safetensors(fixture_file("models/ddpm_small.safetensors")).tensors,
                                 "ddpm_small");
  model->eval();
  auto sde = sdes::make_sde(config);
  auto score = sdes::make_score_fn(
      sde, [&](const torch::Tensor& x, const torch::Tensor& labels) { return model->forward(x, labels); }, true);
  const auto f = io::read_safetensors(fixture_file("likelihood/ddpm_small_vp_bpd.safetensors")).tensors;
  const auto meta = nlohmann::json::parse(std::ifstream(fixture_file("likelihood/ddpm_small_vp_bpd.json")));
  for (double tol : {1e-5, 1e-3}) {
    const std::string key = fmt::format("{:g}", tol);
    SCOPED_TRACE(key);
    LikelihoodOptions o;
    o.rtol = o.atol = tol;
    o.probe = f.at("input/probe");
    auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
    torch::NoGradGuard no_grad;
    const auto r = bits_per_dim(sde, score, f.at("input/x"), /*centered=*/true, o, gen);
    const auto want = f.at("output/bpd_" + key);
    const double err = (r.bpd - want).abs().max().item<double>();
    const int64_t ref_nfe = meta[key]["nfe"].get<int64_t>();
    std::printf("rtol=atol=%s: bpd %s vs %s, max diff %.3g; NFE %lld vs %lld\n", key.c_str(), c10::str(r.bpd).c_str(),
                c10::str(want).c_str(), err, static_cast<long long>(r.nfe), static_cast<long long>(ref_nfe));
    EXPECT_LE(err, tol == 1e-5 ? 1e-4 : 1e-2);
    EXPECT_EQ(r.nfe, ref_nfe);
  }
}

}  // namespace likelihood_reference_test
}  // namespace scorch::sampler
