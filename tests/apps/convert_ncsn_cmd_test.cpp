// `scorch convert import` of the original NCSN / NCSNv2 checkpoint lists (written here with torch from the
// parity fixtures' weights): every tensor lands, the imported network reproduces the original's output, and
// a checkpoint of one network is refused as another, naming a tensor.
#include <gtest/gtest.h>

#include "core/io/checkpoint_files.h"
#include "core/io/npz.h"
#include "core/models/model_weights.h"
#include "core/models/score_model.h"
#include "support/checks.h"
#include "support/prerequisite.h"
#include "support/run.h"

namespace scorch {
namespace {

using test::contains;

std::string ncsn_fixture_path(const std::string& name) {
  return test::source_dir() + "/tests/fixtures/ncsn/" + name + ".npz";
}

// The fixture networks' settings as --set overrides of the shipped config of that network (an NCSN++ config
// would bring keys the RefineNets do not read, which are refused).
std::string ncsn_sets(const std::string& name, int64_t nf) {
  return "--config " + test::source_dir() +
         (name == "ncsn" ? "/configs/ncsn/cifar10.yaml" : "/configs/ncsnv2/cifar10.yaml") +
         " --set data.image_size=16 --set model.name=" + name + " --set model.nf=" + std::to_string(nf) +
         " --set model.normalization=InstanceNorm++ --set model.num_scales=3 --set model.sigma_max=5"
         " --set model.sigma_min=0.1 --set model.nonlinearity=elu --set training.continuous=false"
         " --set optim.lr=1e-4";
}

std::string make_ncsn_checkpoint(const std::string& dir, const std::string& fixture, const std::string& flags) {
  const auto out = dir + "/" + fixture + flags.substr(0, flags.find(' ')) + ".pth";
  const auto r = test::run(test::python() + " " + test::source_dir() + "/tests/apps/make_ncsn_checkpoint.py " +
                           ncsn_fixture_path(fixture) + " " + out + " " + flags);
  EXPECT_EQ(r.code, 0) << r.output;
  return out;
}

// The imported checkpoint's raw weights give the original network's fixture output.
void expect_reproduces_fixture(const std::string& run, const std::string& fixture, const std::string& network,
                               int64_t nf) {
  const auto ck = io::read_checkpoint_tensors(run + "/checkpoints/latest");
  models::ModelConfig c;
  c.name = network;
  c.nf = nf;
  c.num_scales = 3;
  c.sigma_max = 5.0;
  c.sigma_min = 0.1;
  c.nonlinearity = "elu";
  auto model = models::make_model(c);
  models::load_reference_weights(*model, ck.model, run);
  model->eval();
  torch::NoGradGuard no_grad;
  auto f = io::npz::read_npz(ncsn_fixture_path(fixture));
  const auto out = model->forward(f.at("input/x"), f.at("input/y"));
  const auto& want = f.at("output/score");
  EXPECT_LE(((out - want).abs().max() / want.abs().max()).item<double>(), 1e-5) << fixture;
}

TEST(ConvertNcsnCmd, Ncsnv2ListImportsEveryTensorAndReproducesTheOriginal) {
  SCORCH_REQUIRE_PREREQUISITE(!test::python().empty(), "Python with torch writes the original-format checkpoint");
  const auto dir = test::temp_dir("convert_ncsn");
  const auto pth = make_ncsn_checkpoint(dir, "ncsnv2_small", "--ema");
  auto r = test::run(test::scorch_bin() + " convert import " + pth + " " + ncsn_sets("ncsnv2", 8) + " --out " + dir +
                     "/run");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "imported step 123")) << r.output;
  expect_reproduces_fixture(dir + "/run", "ncsnv2_small", "ncsnv2", 8);
  const auto ck = io::read_checkpoint_tensors(dir + "/run/checkpoints/latest");
  auto f = io::npz::read_npz(ncsn_fixture_path("ncsnv2_small"));
  EXPECT_TRUE(torch::equal(ck.ema.at("begin_conv.weight"), f.at("param/begin_conv.weight") * 0.5));
  EXPECT_EQ(ck.optimizer_step, 3);
  EXPECT_EQ(ck.ema_num_updates, 123);
  EXPECT_EQ(ck.optimizer.count("exp_avg.res1.0.conv1.weight"), 1u);

  // Exported back in the original layout: torch.load sees ncsnv2's list (epoch and step kept), and importing
  // the export gives the same tensors again.
  r = test::run(test::scorch_bin() + " convert export " + dir + "/run --layout ncsn --out " + dir + "/back.pth");
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::run(test::python() + " -c \"import torch; c = torch.load('" + dir +
                "/back.pth', weights_only=False); assert len(c) == 5 and c[2] == 7 and c[3] == 123, c[2:4]; "
                "assert all(k.startswith('module.') for k in c[0]) and 'sigmas' not in c[4]; print('OK')\"");
  EXPECT_TRUE(contains(r.output, "OK")) << r.output;
  r = test::run(test::scorch_bin() + " convert import " + dir + "/back.pth " + ncsn_sets("ncsnv2", 8) + " --out " +
                dir + "/again");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto again = io::read_checkpoint_tensors(dir + "/again/checkpoints/latest");
  for (const auto* pair : {&ck.model, &ck.ema, &ck.optimizer}) {
    const auto& other = pair == &ck.model ? again.model : pair == &ck.ema ? again.ema : again.optimizer;
    ASSERT_EQ(pair->size(), other.size());
    for (const auto& [k, v] : *pair) EXPECT_TRUE(torch::equal(v, other.at(k))) << k;
  }
  EXPECT_EQ(again.optimizer_step, 3);

  // The same file read as NCSN v1 (conditional norms) names what does not fit.
  r = test::run(test::scorch_bin() + " convert import " + pth + " " + ncsn_sets("ncsn", 8) + " --out " + dir +
                "/wrong");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "does not match the network") && contains(r.output, "normalizer")) << r.output;
}

TEST(ConvertNcsnCmd, NcsnV1ListWithoutStepOrEmaImports) {
  SCORCH_REQUIRE_PREREQUISITE(!test::python().empty(), "Python with torch writes the original-format checkpoint");
  const auto dir = test::temp_dir("convert_ncsn_v1");
  const auto pth = make_ncsn_checkpoint(dir, "ncsn_v1_small", "--v1");
  auto r =
      test::run(test::scorch_bin() + " convert import " + pth + " " + ncsn_sets("ncsn", 8) + " --out " + dir + "/run");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "imported step 3")) << r.output;  // the Adam step count stands in
  expect_reproduces_fixture(dir + "/run", "ncsn_v1_small", "ncsn", 8);
  const auto ck = io::read_checkpoint_tensors(dir + "/run/checkpoints/latest");
  EXPECT_TRUE(torch::equal(ck.ema.at("begin_conv.weight"), ck.model.at("begin_conv.weight")));
}

}  // namespace
}  // namespace scorch
