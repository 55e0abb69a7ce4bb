// NCSN and NCSNv2 against the original networks (ermongroup/ncsn, ermongroup/ncsnv2): outputs on the same
// weights and inputs, state_dict names and shapes, and parameter counts of the shipped configs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "core/io/npz.h"
#include "core/models/model_weights.h"
#include "core/models/score_model.h"
#include "support/run.h"

namespace scorch {
namespace {

std::string ncsn_fixture(const std::string& file) { return test::source_dir() + "/tests/fixtures/ncsn/" + file; }

// The scorch config of an original network: ngf -> nf, num_classes -> num_scales, rescaled -> centered.
models::ModelConfig refinenet_config(const std::string& network, int64_t ngf, int64_t channels, int64_t image_size,
                                     int64_t levels, const std::string& act = "elu", bool centered = false) {
  models::ModelConfig c;
  c.name = network;
  c.nf = ngf;
  c.num_channels = channels;
  c.image_size = image_size;
  c.num_scales = levels;
  c.sigma_max = 5.0;
  c.sigma_min = 0.1;
  c.nonlinearity = act;
  c.centered = centered;
  return c;
}

models::ModelConfig config_of_fixture(const std::string& name) {
  const auto j = nlohmann::json::parse(read_file(ncsn_fixture(name + ".json")));
  const std::string cls = j.at("network");
  const std::string network = cls == "ncsnv2.NCSNv2"          ? "ncsnv2"
                              : cls == "ncsnv2.NCSNv2Deeper"  ? "ncsnv2_deeper"
                              : cls == "ncsnv2.NCSNv2Deepest" ? "ncsnv2_deepest"
                                                              : "ncsn";
  const auto& m = j.at("config").at("model");
  const auto& d = j.at("config").at("data");
  return refinenet_config(network, m.at("ngf"), d.at("channels"), d.at("image_size"), m.at("num_classes"),
                          m.at("nonlinearity"), d.at("rescaled"));
}

class RefineNetParity : public ::testing::TestWithParam<std::string> {};

// Float32 on CPU, the same kernels as the originals; what differs is summation order in a few reductions
// (InstanceNorm statistics, the mean-pool's four-term sum), a few ulps per layer. 1e-5 of the output scale
// leaves room for that and nothing else: a wrong block, norm or pooling moves the output by > 1e-2.
TEST_P(RefineNetParity, OutputMatchesTheOriginal) {
  const auto name = GetParam();
  auto arrays = io::npz::read_npz(ncsn_fixture(name + ".npz"));
  std::map<std::string, torch::Tensor> tensors(arrays.begin(), arrays.end());
  auto model = models::make_model(config_of_fixture(name));
  models::load_reference_weights(*model, tensors, name);
  model->eval();
  torch::NoGradGuard no_grad;
  const auto out = model->forward(tensors.at("input/x"), tensors.at("input/y"));
  const auto& want = tensors.at("output/score");
  const double err = ((out - want).abs().max() / want.abs().max()).item<double>();
  std::printf("%s: max rel error %.3g\n", name.c_str(), err);
  EXPECT_LE(err, 1e-5) << name;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RefineNetParity,
                         ::testing::Values("ncsnv2_small", "ncsnv2deeper_small", "ncsnv2deepest_small",
                                           "ncsnv2_28px_gray", "ncsnv2_rescaled", "ncsnv2_act_swish", "ncsn_v1_small",
                                           "ncsn_v1_28px_gray"));

// Every key and shape of the original's state_dict at a shipped config, and its parameter count.
void expect_reference_state_dict(const models::ModelConfig& config, const std::string& dump) {
  std::istringstream in(read_file(ncsn_fixture(dump)));
  std::string header;
  std::getline(in, header);
  std::map<std::string, std::string> want;
  for (std::string line; std::getline(in, line);) {
    const auto space = line.find(' ');
    want[line.substr(0, space)] = line.substr(space + 1);
  }
  auto model = models::make_model(config);
  std::map<std::string, std::string> got;
  for (const auto& [key, t] : models::state_dict(*model)) {
    std::string shape = "(";
    for (int64_t i = 0; i < t.dim(); ++i)
      shape += std::to_string(t.size(i)) + (t.dim() == 1 ? "," : i + 1 < t.dim() ? ", " : "");
    got[key] = shape + ")";
  }
  EXPECT_EQ(got, want) << dump;
  const auto params = std::to_string(models::count_parameters(*model));
  EXPECT_NE(header.find(" " + params + " parameters"), std::string::npos) << header << " vs " << params;
}

TEST(RefineNetParity, StateDictsAndParameterCountsOfTheShippedConfigs) {
  expect_reference_state_dict(refinenet_config("ncsnv2", 128, 3, 32, 232), "statedict-ncsnv2-cifar10.txt");
  expect_reference_state_dict(refinenet_config("ncsnv2_deeper", 128, 3, 128, 1086),
                              "statedict-ncsnv2deeper-bedroom.txt");
  expect_reference_state_dict(refinenet_config("ncsnv2_deepest", 128, 3, 256, 2311),
                              "statedict-ncsnv2deepest-ffhq.txt");
  expect_reference_state_dict(refinenet_config("ncsn", 128, 3, 32, 10),
                              "statedict-ncsnv1-CondRefineNetDilated-cifar10.txt");
  expect_reference_state_dict(refinenet_config("ncsn", 64, 1, 28, 10),
                              "statedict-ncsnv1-CondRefineNetDilated-mnist.txt");
}

}  // namespace
}  // namespace scorch
