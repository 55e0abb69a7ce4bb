// `scorch convert` as a user runs it on a tiny score_sde-format checkpoint: the imported EMA network
// reproduces the reference output, tensors equal the source's, export -> import is lossless and loads in
// Python torch, bad files are refused by name, and docs/convert.md's commands run as written.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/atomic_file.h"
#include "core/io/checkpoint_files.h"
#include "core/io/checkpoint_store.h"
#include "core/io/safetensors.h"
#include "support/checks.h"
#include "support/prerequisite.h"
#include "support/run.h"

namespace scorch {
namespace {

using test::contains;
using test::max_rel;

namespace fs = std::filesystem;
using test::run;
using test::scorch_bin;

std::string src(const std::string& path) { return test::source_dir() + "/" + path; }
const std::string kConfig = src("tests/fixtures/parity/ve_ncsnpp_small.yaml");
const std::string kParity = src("tests/fixtures/parity/ve_ncsnpp_small.safetensors");
const std::string kOrder = src("tests/fixtures/convert/ve_ncsnpp_small_order.json");

std::string python_torch() {
  const auto py = test::python();
  if (py.empty() || run(py + " -c 'import torch, numpy, safetensors'").code != 0) return "";
  return py;
}

struct Source {
  std::string pth, expected;
};

Source committed_source() {
  return {src("tests/fixtures/convert/ve_ncsnpp_small_score_sde.pth"),
          src("tests/fixtures/convert/ve_ncsnpp_small_score_sde.json")};
}

Source make_source_in(const std::string& dir, bool legacy) {
  const auto py = python_torch();
  if (py.empty()) {
    if (legacy) return {};
    return committed_source();
  }
  Source s{dir + (legacy ? "/legacy.pth" : "/ck.pth"), dir + "/expected.json"};
  auto r = run(py + " " + src("tests/apps/make_score_sde_checkpoint.py") + " --weights " + kParity + " --order " +
               kOrder + " --out " + s.pth + " --expected " + s.expected + (legacy ? " --legacy" : ""));
  EXPECT_EQ(r.code, 0) << r.output;
  return s;
}

// Made once per test run by Python torch when available (legacy: torch's pre-1.6 format), else the
// committed copy made the same way (no legacy copy).
const Source& make_source(bool legacy = false) {
  if (legacy) {
    static const Source old = make_source_in(test::temp_dir("convert_source_legacy"), true);
    return old;
  }
  static const Source zip = make_source_in(test::temp_dir("convert_source"), false);
  return zip;
}

std::string import_cmd(const std::string& pth, const std::string& out) {
  return scorch_bin() + " convert import " + pth + " --config " + kConfig + " --out " + out;
}

// [sum, sum |x|, first] in float64, as make_score_sde_checkpoint.py computes them.
void expect_stats(const std::map<std::string, torch::Tensor>& got, const nlohmann::json& want,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (const auto& [name, stats] : want.items()) {
    ASSERT_TRUE(got.count(name)) << what << ": " << name;
    const auto d = got.at(name).to(torch::kFloat64).reshape({-1});
    // Same float32 values summed in float64 in another order: agreement to ~1e-15 relative.
    const double sum = d.sum().item<double>(), abs = d.abs().sum().item<double>();
    EXPECT_NEAR(sum, stats[0].get<double>(), 1e-9 * (1 + abs)) << what << ": " << name;
    EXPECT_NEAR(abs, stats[1].get<double>(), 1e-9 * (1 + abs)) << what << ": " << name;
    EXPECT_EQ(d[0].item<double>(), stats[2].get<double>()) << what << ": " << name;
  }
}

TEST(ConvertCmd, ImportKeepsEverySourceTensor) {
  const auto dir = test::temp_dir("convert");
  const auto source = make_source();
  auto r = run(import_cmd(source.pth, dir + "/run"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "imported step 3: 158 model tensors, 156 EMA tensors, 312 Adam moments")) << r.output;
  const auto ckpt = dir + "/run/checkpoints/step-000000003";
  const auto t = io::read_checkpoint_tensors(ckpt);
  const auto want = nlohmann::json::parse(read_file(source.expected));
  expect_stats(t.model, want["model"], "model");
  expect_stats(t.ema, want["ema"], "ema");
  expect_stats(t.optimizer, want["optimizer"], "optimizer");
  EXPECT_EQ(t.model.at("sigmas").scalar_type(), torch::kFloat64);
  EXPECT_EQ(t.ema_num_updates, want["num_updates"].get<int64_t>());
  EXPECT_EQ(t.ema_rate, want["decay"].get<double>());
  EXPECT_EQ(t.optimizer_step, want["adam_step"].get<int64_t>());
  const auto meta = io::CheckpointStore::validate(ckpt);
  EXPECT_EQ(meta["step"].get<int64_t>(), want["step"].get<int64_t>());
  EXPECT_EQ(meta["source"]["format"], "score_sde_pytorch");
  EXPECT_EQ(meta["source"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(meta["source"]["optimizer"]["lr"].get<double>(), 0.01);  // a numpy.float64 in the source
  EXPECT_EQ(fs::read_symlink(dir + "/run/checkpoints/latest"), "step-000000003");

  r = run(import_cmd(source.pth, dir + "/run"));
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "already exists")) << r.output;
  EXPECT_EQ(run(import_cmd(source.pth, dir + "/run") + " --force").code, 0);
}

std::string forward(const std::string& weights, const std::string& out) {
  return scorch_bin() + " model forward --config " + kConfig + " --weights " + weights + " --inputs " + kParity +
         " --out " + out;
}

TEST(ConvertCmd, ImportedEmaNetworkReproducesTheReferenceOutput) {
  const auto dir = test::temp_dir("convert");
  ASSERT_EQ(run(import_cmd(make_source().pth, dir + "/run")).code, 0);
  auto r = run(scorch_bin() + " convert export-ema " + dir + "/run --out " + dir + "/ema.safetensors");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run(forward(dir + "/ema.safetensors", dir + "/ema_out.safetensors"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ref = io::read_safetensors(kParity).tensors;
  const auto ema = io::read_safetensors(dir + "/ema_out.safetensors").tensors;
  // The EMA holds the weights score_sde_pytorch computed the parity output with; float32 CPU agreement as in
  // models_parity_test.cpp.
  EXPECT_LE(max_rel(ema.at("output/model"), ref.at("output/model")), 1e-5);
  EXPECT_LE(max_rel(ema.at("output/score"), ref.at("output/score")), 1e-5);
  // The raw weights took three large Adam steps away from them: a mapping that mixed the two would show.
  r = run(forward(dir + "/run/checkpoints/latest/model.safetensors", dir + "/raw_out.safetensors"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_GE(
      max_rel(io::read_safetensors(dir + "/raw_out.safetensors").tensors.at("output/model"), ref.at("output/model")),
      1e-2);

  // Half-precision exports load through the inference loader and compute in float32: bf16 keeps 8 mantissa
  // bits (relative rounding 2^-9 per weight), fp16 11 bits.
  for (const auto& [dtype, tol] : {std::pair<std::string, double>{"bf16", 3e-2}, {"fp16", 4e-3}}) {
    const auto file = dir + "/ema-" + dtype + ".safetensors";
    r = run(scorch_bin() + " convert export-ema " + dir + "/run --dtype " + dtype + " --out " + file);
    ASSERT_EQ(r.code, 0) << r.output;
    const auto m = io::load_inference_model(file, "ema", torch::kCPU);
    torch::NoGradGuard no_grad;
    const auto out = m.model->forward(ref.at("input/x"), ref.at("input/time_cond"));
    const double err = max_rel(out, ref.at("output/model"));
    EXPECT_LE(err, tol) << dtype;
    RecordProperty(dtype + "_max_rel_error", std::to_string(err));
    std::printf("%s export: max relative output error %.2e\n", dtype.c_str(), err);
  }
  r = run(scorch_bin() + " convert export-ema " + dir + "/run --dtype int8 --out " + dir + "/x.safetensors");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "expected fp32, bf16 or fp16")) << r.output;
}

void expect_same(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b,
                 const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [k, v] : a) {
    ASSERT_TRUE(b.count(k)) << what << ": " << k;
    EXPECT_EQ(v.scalar_type(), b.at(k).scalar_type()) << what << ": " << k;
    EXPECT_TRUE(torch::equal(v, b.at(k))) << what << ": " << k;
  }
}

TEST(ConvertCmd, ExportThenImportIsLossless) {
  const auto dir = test::temp_dir("convert");
  const auto source = make_source();
  ASSERT_EQ(run(import_cmd(source.pth, dir + "/a")).code, 0);
  auto r = run(scorch_bin() + " convert export " + dir + "/a --out " + dir + "/exported.pth");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run(import_cmd(dir + "/exported.pth", dir + "/b"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto a = io::read_checkpoint_tensors(dir + "/a/checkpoints/latest");
  const auto b = io::read_checkpoint_tensors(dir + "/b/checkpoints/latest");
  expect_same(a.model, b.model, "model");
  expect_same(a.ema, b.ema, "ema");
  expect_same(a.optimizer, b.optimizer, "optimizer");
  EXPECT_EQ(a.ema_num_updates, b.ema_num_updates);
  EXPECT_EQ(a.ema_rate, b.ema_rate);
  EXPECT_EQ(a.optimizer_step, b.optimizer_step);
  EXPECT_EQ(io::CheckpointStore::validate(dir + "/b/checkpoints/latest")["step"], 3);

  // An existing file is replaced only with --force (a score_sde workdir's checkpoint_N.pth was overwritten).
  for (const std::string cmd : {" convert export ", " convert export-ema "}) {
    const auto out = dir + "/again" + (cmd.find("ema") != std::string::npos ? ".safetensors" : ".pth");
    write_file_atomic(out, "precious");
    r = run(scorch_bin() + cmd + dir + "/a --out " + out);
    EXPECT_NE(r.code, 0) << cmd;
    EXPECT_TRUE(contains(r.output, "'" + out + "' already exists")) << r.output;
    EXPECT_EQ(read_file(out), "precious");
    r = run(scorch_bin() + cmd + dir + "/a --out " + out + " --force");
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(read_file(out), "precious");
  }
}

TEST(ConvertCmd, ExportLoadsInScoreSdeRestoreCheckpoint) {
  const auto py = python_torch();
  SCORCH_REQUIRE_PREREQUISITE(!py.empty(), "no Python with torch to torch.load the export");
  const auto dir = test::temp_dir("convert");
  const auto source = make_source();
  ASSERT_EQ(run(import_cmd(source.pth, dir + "/a")).code, 0);
  auto r = run(scorch_bin() + " convert export " + dir + "/a --out " + dir + "/exported.pth");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run(py + " " + src("tests/apps/check_score_sde_export.py") + " --exported " + dir + "/exported.pth --source " +
          source.pth + " --order " + kOrder);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "OK")) << r.output;
}

TEST(ConvertCmd, LegacyFormatImportsTheSameTensors) {
  const auto dir = test::temp_dir("convert");
  const auto zip = make_source();
  const auto legacy = make_source(/*legacy=*/true);
  SCORCH_REQUIRE_PREREQUISITE(!legacy.pth.empty(), "no Python with torch to write a legacy-format file");
  ASSERT_EQ(run(import_cmd(zip.pth, dir + "/zip")).code, 0);
  auto r = run(import_cmd(legacy.pth, dir + "/legacy"));
  ASSERT_EQ(r.code, 0) << r.output;
  // Both were written from one seed: the same values whichever container holds them.
  const auto a = io::read_checkpoint_tensors(dir + "/zip/checkpoints/latest");
  const auto b = io::read_checkpoint_tensors(dir + "/legacy/checkpoints/latest");
  expect_same(a.model, b.model, "model");
  expect_same(a.ema, b.ema, "ema");
  expect_same(a.optimizer, b.optimizer, "optimizer");
}

TEST(ConvertCmd, TruncatedForeignAndMismatchedFilesAreRefusedByName) {
  const auto dir = test::temp_dir("convert");
  const auto source = committed_source();  // behaviour, not Python fidelity
  const std::string bytes = read_file(source.pth);
  write_file_atomic(dir + "/cut.pth", bytes.substr(0, bytes.size() / 2));
  auto r = run(import_cmd(dir + "/cut.pth", dir + "/run"));
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, dir + "/cut.pth") && contains(r.output, "truncated or corrupt")) << r.output;

  r = run(import_cmd(kParity, dir + "/run"));
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "is not a torch.save file")) << r.output;

  // An --out that is a file is named before the import's work (it was std::filesystem's message, after it).
  write_file_atomic(dir + "/afile", "x");
  r = run(import_cmd(source.pth, dir + "/afile"));
  EXPECT_TRUE(contains(r.output, "--out '" + dir + "/afile' is a file, not a directory")) << r.output;
  r = run(import_cmd(source.pth, dir + "/afile/run"));
  EXPECT_TRUE(contains(r.output, "--out '" + dir + "/afile/run': '" + dir + "/afile' is a file")) << r.output;

  r = run(scorch_bin() + " convert import " + source.pth + " --config " +
          src("tests/fixtures/parity/vp_ddpmpp_small.yaml") + " --out " + dir + "/run");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "does not match the network of the config")) << r.output;
  EXPECT_TRUE(contains(r.output, "pass the --config the checkpoint was trained with")) << r.output;

  // Same shapes, another noise ladder (bedroom's config for a church checkpoint): the file's sigmas say so.
  r = run(import_cmd(source.pth, dir + "/run") + " --set model.sigma_max=100");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output,
                       "noise levels (sigmas: 50 … 0.01 over 1000) are not the config's (100 … 0.01 over "
                       "1000)"))
      << r.output;

  r = run(scorch_bin() + " convert import " + source.pth + " --out " + dir + "/run");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "needs --config")) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/run/checkpoints/step-000000003"));

  r = run(scorch_bin() + " convert export " + dir + "/nothing --out " + dir + "/x.pth");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, dir + "/nothing")) << r.output;
}

TEST(ConvertCmd, InspectSaysWhatItRecognised) {
  const auto dir = test::temp_dir("convert");
  const auto source = committed_source();  // behaviour, not Python fidelity
  auto r = run(scorch_bin() + " convert inspect " + source.pth);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* what : {"torch.save zip", "score_sde_pytorch checkpoint: step 3", "'module.' prefix",
                           "EMA 156 shadow params", "model.module.sigmas", "float64   [1000]", "ema.shadow_params.155",
                           "optimizer.param_groups.0.lr = 0.01", "step = 3"})
    EXPECT_TRUE(contains(r.output, what)) << what << "\n" << r.output;
  ASSERT_EQ(run(import_cmd(source.pth, dir + "/run")).code, 0);
  r = run(scorch_bin() + " convert inspect " + dir + "/run");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* what : {"scorch checkpoint dir", "step 3", "score_sde_pytorch", "ema/all_modules.1.weight",
                           "optimizer/exp_avg_sq.all_modules.1.weight", "model/sigmas"})
    EXPECT_TRUE(contains(r.output, what)) << what << "\n" << r.output;
  ASSERT_EQ(run(scorch_bin() + " convert export-ema " + dir + "/run --dtype fp16 --out " + dir + "/e.safetensors").code,
            0);
  r = run(scorch_bin() + " convert inspect " + dir + "/e.safetensors");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* what : {"scorch EMA export (step 3", "float16", "scorch.config = (", "sigmas"})
    EXPECT_TRUE(contains(r.output, what)) << what << "\n" << r.output;
  r = run(scorch_bin() + " convert inspect " + src("tests/fixtures/flax/checkpoint_7"));
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* what : {"Flax msgpack", "score_sde's classifier names", "tensors: 58 ",
                           "WideResnetGroup_1.WideResnetBlock_0.conv1.kernel    float32   [3, 3, 16, 32]"})
    EXPECT_TRUE(contains(r.output, what)) << what << "\n" << r.output;
  r = run(scorch_bin() + " convert inspect " + src("tests/fixtures/flax/score/ncsnpp_skip/checkpoint_3"));
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* what : {"score_sde's Flax training state", "tensors: 871 ", "rng ", "ema_rate = 0.999"})
    EXPECT_TRUE(contains(r.output, what)) << what << "\n" << r.output;
  // A string that is not UTF-8 is shown, not thrown: 0x81 (a map of one), "a", then a 1-byte string 0xff.
  write_file_atomic(dir + "/not-utf8", std::string("\x81\xa1\x61\xa1\xff", 5));
  r = run(scorch_bin() + " convert inspect " + dir + "/not-utf8");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "a = \"")) << r.output;
  r = run(scorch_bin() + " convert inspect " + kConfig);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "is not a torch.save file, a safetensors file, a Flax checkpoint or a checkpoint dir"))
      << r.output;
}

TEST(ConvertCmd, ScorchTrainResumesFromAnImport) {
  const auto dir = test::temp_dir("convert");
  auto r = run(scorch_bin() + " data synth shapes --out " + dir + "/data --count 32 --resolution 16 --channels 3");
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_EQ(run(import_cmd(committed_source().pth, dir + "/run")).code, 0);
  r = run(scorch_bin() + " train --config " + kConfig + " --set data.path=" + dir +
          "/data --set training.batch_size=4 --set training.n_iters=5 --set training.keep_last=1 --set "
          "training.snapshot_freq_for_preemption=1 --set training.snapshot_freq=1000 --workdir " +
          dir + "/run");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "resumed from")) << r.output;
  // Adam and the EMA continue the imported counts (3) for the two new steps.
  const auto t = io::read_checkpoint_tensors(dir + "/run/checkpoints/step-000000005");
  EXPECT_EQ(t.optimizer_step, 5);
  EXPECT_EQ(t.ema_num_updates, 5);
  // The run's own rolling checkpoints are pruned to one; the import, where it came from, is never pruned.
  EXPECT_FALSE(fs::exists(dir + "/run/checkpoints/step-000000004"));
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoints/step-000000003"));
}

// A score_sde Flax training state (step 1234, Adam step 1234) imports into a run that scorch trains on.
TEST(ConvertCmd, ScorchTrainResumesFromAFlaxState) {
  const auto dir = test::temp_dir("convert-flax");
  auto r = run(scorch_bin() + " data synth shapes --out " + dir + "/data --count 32 --resolution 16 --channels 3");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string config = " --config " + src("configs/ve/cifar10_ncsnpp_continuous.yaml") +
                             " --set data.image_size=16 --set model.nf=8 --set 'model.ch_mult=[1, 2, 2]'"
                             " --set model.num_res_blocks=1 --set 'model.attn_resolutions=[8]'";
  r = run(scorch_bin() + " convert import " + src("tests/fixtures/flax/score/ncsnpp_skip/checkpoint_3") + config +
          " --out " + dir + "/run");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run(scorch_bin() + " train" + config + " --set data.path=" + dir +
          "/data --set training.batch_size=4 --set training.n_iters=1236 --set training.eval_freq=0"
          " --set training.snapshot_sampling=false --workdir " +
          dir + "/run");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "resumed from")) << r.output;
  const auto t = io::read_checkpoint_tensors(dir + "/run/checkpoints/step-000001236");
  EXPECT_EQ(t.optimizer_step, 1236);
  EXPECT_EQ(t.ema_num_updates, 1236);
}

// Every command in a ```sh block of docs/convert.md, run from the source tree with /tmp/scorch-convert
// replaced by a temp dir and build/bin/scorch by the binary under test.
TEST(ConvertCmd, DocsCommandsRunAsWritten) {
  std::ifstream in(src("docs/convert.md"));
  std::string line, command;
  std::vector<std::string> commands;
  bool in_sh = false;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      in_sh = !in_sh && line == "```sh";
      continue;
    }
    if (!in_sh) continue;
    const bool continued = !line.empty() && line.back() == '\\';
    command += continued ? line.substr(0, line.size() - 1) : line;
    if (!continued) {
      commands.push_back(command);
      command.clear();
    }
  }
  ASSERT_GE(commands.size(), 5u);
  const auto dir = test::temp_dir("convert_docs");
  for (auto c : commands) {
    c = std::regex_replace(c, std::regex("/tmp/scorch-convert"), dir);
    c = std::regex_replace(c, std::regex("^build/bin/scorch"), scorch_bin());
    auto r = run("cd " + test::source_dir() + " && " + c);
    EXPECT_EQ(r.code, 0) << c << "\n" << r.output;
  }
}

}  // namespace
}  // namespace scorch
