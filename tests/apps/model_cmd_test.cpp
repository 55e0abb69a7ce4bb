// `scorch model forward|summary` as a user runs them: reproduces the parity fixtures, names bad weights.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/io/safetensors.h"
#include "support/checks.h"
#include "support/run.h"

namespace scorch {
namespace {

using test::contains;
using test::max_rel;

using test::run;
using test::scorch_bin;

std::string parity(const std::string& file) { return test::source_dir() + "/tests/fixtures/parity/" + file; }

std::string forward_cmd(const std::string& name, const std::string& weights, const std::string& out) {
  return scorch_bin() + " model forward --config " + parity(name + ".yaml") + " --weights " + weights + " --inputs " +
         parity(name + ".safetensors") + " --out " + out;
}

TEST(ModelCmd, ForwardReproducesBothParityFixtures) {
  const auto dir = test::temp_dir("model_cmd");
  for (const std::string name : {"ve_ncsnpp_small", "vp_ddpmpp_small"}) {
    SCOPED_TRACE(name);
    const auto out = dir + "/" + name + ".safetensors";
    auto r = run(forward_cmd(name, parity(name + ".safetensors"), out));
    ASSERT_EQ(r.code, 0) << r.output;
    auto got = io::read_safetensors(out).tensors;
    auto ref = io::read_safetensors(parity(name + ".safetensors")).tensors;
    // Float32 on CPU, reductions ordered differently from the reference: see models_parity_test.cpp.
    EXPECT_LE(max_rel(got.at("output/model"), ref.at("output/model")), 1e-5);
    EXPECT_LE(max_rel(got.at("output/score"), ref.at("output/score")), 1e-5);
  }
}

TEST(ModelCmd, MisShapedOrMissingWeightsAreNamed) {
  const auto dir = test::temp_dir("model_cmd");
  auto w = io::read_safetensors(parity("vp_ddpmpp_small.safetensors")).tensors;
  auto bad = w;
  bad["param/all_modules.5.Conv_0.weight"] = torch::zeros({1});
  io::write_safetensors(dir + "/shape.safetensors", bad);
  auto r = run(forward_cmd("vp_ddpmpp_small", dir + "/shape.safetensors", dir + "/o.safetensors"));
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "all_modules.5.Conv_0.weight")) << r.output;
  EXPECT_TRUE(contains(r.output, "shape (1)")) << r.output;

  auto missing = w;
  missing.erase("param/sigmas");
  io::write_safetensors(dir + "/missing.safetensors", missing);
  r = run(forward_cmd("vp_ddpmpp_small", dir + "/missing.safetensors", dir + "/o.safetensors"));
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "missing tensor 'sigmas'")) << r.output;
}

// Inputs of the wrong shape are named with their file and tensor: the network's own check (a convolution's, with a
// stack trace) named neither.
TEST(ModelCmd, MisShapedInputsAreNamed) {
  const auto dir = test::temp_dir("model_cmd_inputs");
  const std::string name = "vp_ddpmpp_small";
  const auto inputs = io::read_safetensors(parity(name + ".safetensors")).tensors;
  const auto x = inputs.at("input/x");  // (B, C, H, W)
  struct Case {
    const char* tensor;
    torch::Tensor value;
    const char* message;
  };
  const auto b = x.size(0);
  for (const auto& c :
       {Case{"input/x", x.narrow(1, 0, 1), "input/x has shape"},
        Case{"input/x", x.narrow(2, 0, x.size(2) / 2), "input/x has shape"},
        Case{"input/t", torch::rand({b + 1}), "input/t has shape"},
        // numpy's default dtype, and labels the network has no level for: LibTorch's messages
        Case{"input/x", x.to(torch::kFloat64), "input/x is Double; the network computes in float32"},
        Case{"input/t", torch::full({b}, 1.5f), "input/t holds times outside the SDE's [0, 1]"},
        Case{"input/time_cond", torch::full({b}, -3.0f), "input/time_cond holds a negative label"},
        Case{"input/time_cond", torch::full({b}, 5000.0f), "input/time_cond must hold level indices 0 to 999"}}) {
    SCOPED_TRACE(c.message);
    std::map<std::string, torch::Tensor> bad = {{"input/x", x}, {"input/t", inputs.at("input/t")}};
    bad[c.tensor] = c.value.contiguous();
    io::write_safetensors(dir + "/in.safetensors", bad);
    const bool discrete = std::string(c.message).find("level indices") != std::string::npos;
    auto r = run(scorch_bin() + " model forward --config " + parity(name + ".yaml") + " --weights " +
                 parity(name + ".safetensors") + " --inputs " + dir + "/in.safetensors --out " + dir +
                 "/o.safetensors" + (discrete ? " --set training.continuous=false" : ""));
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_TRUE(contains(r.output, dir + "/in.safetensors's " + c.message)) << r.output;
  }
}

TEST(ModelCmd, SummaryPrintsModulesAndTheCount) {
  auto r = run(scorch_bin() + " model summary --config " + parity("ve_ncsnpp_small.yaml"));
  ASSERT_EQ(r.code, 0) << r.output;
  // The fixture's parameters: every param/ tensor except the sigmas buffer.
  int64_t expected = 0;
  for (const auto& [k, t] : io::read_safetensors(parity("ve_ncsnpp_small.safetensors")).tensors)
    if (k.rfind("param/", 0) == 0 && k != "param/sigmas") expected += t.numel();
  EXPECT_TRUE(contains(r.output, std::to_string(expected) + " parameters")) << r.output;
  EXPECT_TRUE(contains(r.output, "ResnetBlockBigGAN")) << r.output;
  EXPECT_TRUE(contains(r.output, "16 frozen")) << r.output;  // the Fourier W
}

}  // namespace
}  // namespace scorch
