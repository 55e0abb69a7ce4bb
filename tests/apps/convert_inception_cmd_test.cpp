// `scorch convert inception` on random-weight pytorch-fid state_dicts: the written safetensors file gives the
// source's features, keeps or drops the 1008-class layer with the source, becomes the default weights, and
// bad sources are refused by key without writing anything.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/io/torch_file.h"
#include "eval/inception_weights.h"
#include "support/checks.h"
#include "support/run.h"

namespace scorch {
namespace {

using test::contains;

namespace fs = std::filesystem;
using test::run;

// A pytorch-fid-style OrderedDict state_dict of `model` (num_batches_tracked included, as torch writes it).
void write_state(const eval::InceptionV3& model, const std::string& path, bool with_fc, const std::string& extra = "") {
  auto state = io::py::dict(/*ordered=*/true);
  for (auto& p : model->named_parameters())
    if (with_fc || p.key().rfind("fc.", 0) != 0) state->set(io::py::str(p.key()), io::py::tensor(p.value().detach()));
  for (auto& b : model->named_buffers()) state->set(io::py::str(b.key()), io::py::tensor(b.value().detach()));
  if (!extra.empty()) state->set(io::py::str(extra), io::py::tensor(torch::zeros({3})));
  io::write_torch_file(path, state);
}

TEST(ConvertInceptionCmd, WrittenFileGivesTheSourceFeaturesAndLogits) {
  const auto dir = test::temp_dir("convert_inception");
  torch::manual_seed(5);
  eval::InceptionV3 source;
  for (auto& b : source->named_buffers())  // non-trivial batch-norm statistics, so folding them matters
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
  write_state(source, dir + "/pt_inception.pth", /*with_fc=*/true);
  const auto r =
      run(test::scorch_bin() + " convert inception " + dir + "/pt_inception.pth --out " + dir + "/inc.safetensors");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "with the 1008-class layer")) << r.output;

  eval::InceptionV3 converted;
  const auto info = eval::load_weights(converted, dir + "/inc.safetensors");
  converted->eval();
  EXPECT_EQ(info.format, "safetensors");
  EXPECT_TRUE(info.has_logits);
  source->eval();
  source->fuse();
  torch::manual_seed(1);
  const auto x = torch::rand({2, 3, 96, 96}) * 2 - 1;  // (B, C, H, W)
  torch::InferenceMode guard;
  const auto expected = source->features(x);
  EXPECT_TRUE(torch::equal(converted->features(x), expected));
  EXPECT_TRUE(torch::equal(converted->logits(expected), source->logits(expected)));

  // Statistics name the weights they were made with, so the file is replaced only when asked.
  const auto again =
      test::scorch_bin() + " convert inception " + dir + "/pt_inception.pth --out " + dir + "/inc.safetensors";
  const auto before = read_file(dir + "/inc.safetensors");
  auto r2 = run(again);
  EXPECT_EQ(r2.code, 1) << r2.output;
  EXPECT_EQ(read_file(dir + "/inc.safetensors"), before);
  EXPECT_TRUE(contains(r2.output, "inc.safetensors' already exists")) << r2.output;
  EXPECT_TRUE(contains(r2.output, "pass --force")) << r2.output;
  r2 = run(again + " --force");
  EXPECT_EQ(r2.code, 0) << r2.output;
  for (const auto& e : fs::directory_iterator(dir))  // the file checked before the rename is not left beside it
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST(ConvertInceptionCmd, FeatureOnlySourceStaysFeatureOnlyAndBecomesTheDefault) {
  const auto dir = test::temp_dir("convert_inception_default");
  torch::manual_seed(6);
  eval::InceptionV3 source;
  write_state(source, dir + "/features.pth", /*with_fc=*/false);
  const auto r = run("env -u SCORCH_FID_WEIGHTS SCORCH_CACHE=" + dir + "/cache " + test::scorch_bin() +
                     " convert inception " + dir + "/features.pth");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "features only")) << r.output;
  const auto written = dir + "/cache/fid/inception.safetensors";
  ASSERT_TRUE(fs::exists(written)) << r.output;
  for (const auto& [name, t] : io::read_safetensors(written).tensors) EXPECT_NE(name.rfind("fc.", 0), 0u) << name;

  const char* old_cache = std::getenv("SCORCH_CACHE");
  const char* old_weights = std::getenv("SCORCH_FID_WEIGHTS");
  const std::string keep_cache = old_cache ? old_cache : "", keep_weights = old_weights ? old_weights : "";
  setenv("SCORCH_CACHE", (dir + "/cache").c_str(), 1);
  unsetenv("SCORCH_FID_WEIGHTS");
  const auto found = eval::default_weights_path();
  old_cache ? setenv("SCORCH_CACHE", keep_cache.c_str(), 1) : unsetenv("SCORCH_CACHE");
  if (old_weights) setenv("SCORCH_FID_WEIGHTS", keep_weights.c_str(), 1);
  EXPECT_EQ(fs::canonical(found), fs::canonical(written));
}

TEST(ConvertInceptionCmd, IncompleteOrForeignSourcesAreRefusedByKeyAndWriteNothing) {
  const auto dir = test::temp_dir("convert_inception_bad");
  eval::InceptionV3 source;
  write_state(source, dir + "/extra.pth", true, "Mixed_8a.branch1x1.conv.weight");
  auto r = run(test::scorch_bin() + " convert inception " + dir + "/extra.pth --out " + dir + "/out.safetensors");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "Mixed_8a.branch1x1.conv.weight")) << r.output;

  auto state = io::py::dict(/*ordered=*/true);
  for (auto& p : source->named_parameters())
    if (p.key() != "Mixed_7c.branch_pool.conv.weight")
      state->set(io::py::str(p.key()), io::py::tensor(p.value().detach()));
  for (auto& b : source->named_buffers()) state->set(io::py::str(b.key()), io::py::tensor(b.value().detach()));
  io::write_torch_file(dir + "/missing.pth", state);
  r = run(test::scorch_bin() + " convert inception " + dir + "/missing.pth --out " + dir + "/out.safetensors");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "Mixed_7c.branch_pool.conv.weight")) << r.output;

  r = run(test::scorch_bin() + " convert inception " + dir + "/nothing.pth --out " + dir + "/out.safetensors");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "nothing.pth")) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/out.safetensors"));
}

}  // namespace
}  // namespace scorch
