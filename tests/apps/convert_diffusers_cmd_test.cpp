// `scorch convert export-diffusers`: a tiny NCSN++ VE checkpoint of the kind diffusers expresses becomes a folder
// that diffusers' UNet2DModel and ScoreSdeVePipeline load, whose UNet computes what scorch's network computes
// (checked by tests/apps/check_diffusers_export.py), and networks UNet2DModel cannot express are refused by key.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/io/checkpoint_files.h"
#include "core/io/checkpoint_store.h"
#include "core/io/diffusers_export.h"
#include "core/io/safetensors.h"
#include "core/models/model_weights.h"
#include "support/checks.h"
#include "support/prerequisite.h"
#include "support/run.h"

namespace scorch {
namespace {

namespace fs = std::filesystem;
using test::contains;
using test::run;
using test::scorch_bin;

// The published google/ncsnpp-* networks' layout (score_sde's ve/celebahq_256_ncsnpp_continuous) shrunk: three
// resolutions, attention at the lowest on 128 channels (diffusers' attention norms need >= 128, see
// core/io/diffusers_unet.cpp), two resnets per level so the skip order matters.
const std::vector<std::string> kDiffusersExpressible = {
    "model.progressive=output_skip", "model.progressive_input=input_skip", "model.nf=32",
    "model.ch_mult=[1,2,4]",         "model.attn_resolutions=[4]",         "model.num_res_blocks=2"};

// A checkpoint of configs/small/<config> + overrides whose weights are all far from their initial values: the
// reference init leaves biases at 0, GroupNorm at (1, 0) and the last conv of every branch near 1e-10, which would
// hide a mix-up of those tensors. EMA = weights + other noise, so the two exports differ.
std::string write_diffusers_test_run(const std::string& run_dir, const std::string& config_name,
                                     const std::vector<std::string>& overrides) {
  auto config = Config::resolve(test::source_dir() + "/configs/small/" + config_name, overrides);
  torch::manual_seed(7);
  auto model = models::make_model(config);
  io::CheckpointTensors t;
  torch::NoGradGuard no_grad;
  for (const auto& p : model->named_parameters()) {
    auto v = p.value().detach().clone();
    if (p.value().requires_grad()) {
      const double scale = v.dim() > 1 ? 1.0 / std::sqrt(static_cast<double>(v.numel() / v.size(0))) : 0.2;
      v = (v.dim() > 1 ? torch::zeros_like(v) : v) + scale * torch::randn_like(v);
      t.ema[p.key()] = v + 0.02 * scale * torch::randn_like(v);
    }
    t.model[p.key()] = v;
  }
  for (const auto& b : model->named_buffers()) t.model[b.key()] = b.value().detach().clone();
  io::CheckpointStore store(run_dir + "/checkpoints");
  store.save(5, io::checkpoint_meta(config, 5), [&](const std::string& d) { io::write_checkpoint_tensors(d, t); });
  return run_dir;
}

std::string export_diffusers_cmd(const std::string& ckpt, const std::string& out) {
  return scorch_bin() + " convert export-diffusers " + ckpt + " --out " + out;
}

bool python_has_diffusers() {
  const auto py = test::python();
  return !py.empty() && run(py + " -c 'import diffusers, safetensors, torch'").code == 0;
}

TEST(ConvertDiffusersCmd, UnetMatchesScorchAndThePipelineSamples) {
  SCORCH_REQUIRE_PREREQUISITE(
      python_has_diffusers(),
      "Python with diffusers, safetensors and torch not found (SCORCH_PYTHON=" << test::python() << ")");
  const auto dir = test::temp_dir("diffusers");
  const auto run_dir = write_diffusers_test_run(dir + "/run", "ve_tiny.yaml", kDiffusersExpressible);
  auto r = run(export_diffusers_cmd(run_dir, dir + "/pipe"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "exported the ema weights of step 5")) << r.output;

  // scorch's output on the EMA weights: the network of the checkpoint's config, run by `scorch model forward`.
  ASSERT_EQ(run(scorch_bin() + " convert export-ema " + run_dir + " --out " + dir + "/ema.safetensors").code, 0);
  Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml", kDiffusersExpressible).save(dir + "/config.yaml");
  torch::manual_seed(3);
  const auto sigma = torch::tensor({0.01f, 0.7f, 28.0f});  // σ_min, a middle level, σ_max of ve_tiny
  const auto x = torch::rand({3, 3, 16, 16}) + sigma.view({-1, 1, 1, 1}) * torch::randn({3, 3, 16, 16});
  io::write_safetensors(dir + "/inputs.safetensors", {{"input/x", x}, {"input/time_cond", sigma}});
  r = run(scorch_bin() + " model forward --config " + dir + "/config.yaml --weights " + dir +
          "/ema.safetensors --inputs " + dir + "/inputs.safetensors --out " + dir + "/scorch_out.safetensors");
  ASSERT_EQ(r.code, 0) << r.output;

  // Float32 on the CPU in both; the two compute the same operations in other groupings (diffusers' attention
  // through scaled_dot_product_attention, FIR resampling by another upfirdn), so 1e-4 of the output's scale.
  r = run(test::python() + " " + test::source_dir() + "/tests/apps/check_diffusers_export.py --pipeline " + dir +
              "/pipe --inputs " + dir + "/inputs.safetensors --expected " + dir + "/scorch_out.safetensors --tol 1e-4",
          300);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "OK")) << r.output;
  std::printf("%s\n", r.output.c_str());
}

TEST(ConvertDiffusersCmd, FolderHoldsTheConfigAndTheChosenWeights) {
  const auto dir = test::temp_dir("diffusers");
  const auto run_dir = write_diffusers_test_run(dir + "/run", "ve_tiny.yaml", kDiffusersExpressible);
  ASSERT_EQ(run(export_diffusers_cmd(run_dir, dir + "/ema")).code, 0);
  auto r = run(export_diffusers_cmd(run_dir, dir + "/raw") + " --weights model");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "exported the model weights of step 5")) << r.output;

  const auto unet = nlohmann::json::parse(read_file(dir + "/ema/unet/config.json"));
  EXPECT_EQ(unet["_class_name"], "UNet2DModel");
  EXPECT_EQ(unet["time_embedding_type"], "fourier");
  EXPECT_EQ(unet["center_input_sample"], true);  // data.centered = false: the network maps [0, 1] to [-1, 1]
  EXPECT_EQ(unet["block_out_channels"], nlohmann::json({32, 64, 128}));
  EXPECT_EQ(unet["down_block_types"], nlohmann::json({"SkipDownBlock2D", "SkipDownBlock2D", "AttnSkipDownBlock2D"}));
  EXPECT_EQ(unet["up_block_types"], nlohmann::json({"AttnSkipUpBlock2D", "SkipUpBlock2D", "SkipUpBlock2D"}));
  EXPECT_EQ(unet["layers_per_block"], 2);
  const auto sched = nlohmann::json::parse(read_file(dir + "/ema/scheduler/scheduler_config.json"));
  EXPECT_EQ(sched["_class_name"], "ScoreSdeVeScheduler");
  EXPECT_EQ(sched["sigma_min"].get<double>(), 0.01);  // configs/small/ve_tiny.yaml
  EXPECT_EQ(sched["sigma_max"].get<double>(), 28.0);
  EXPECT_EQ(sched["num_train_timesteps"], 100);
  EXPECT_EQ(sched["snr"].get<double>(), 0.16);
  EXPECT_EQ(sched["sampling_eps"].get<double>(), 1e-5);
  EXPECT_EQ(sched["correct_steps"], 1);
  // Without a corrector the pipeline runs 0 Langevin steps per level (it was exported as 1, with a warning).
  EXPECT_EQ(io::diffusers_scheduler_config(Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml",
                                                           {"sampling.corrector=none"}))["correct_steps"],
            0);
  const auto index = nlohmann::json::parse(read_file(dir + "/ema/model_index.json"));
  EXPECT_EQ(index["_class_name"], "ScoreSdeVePipeline");
  EXPECT_EQ(index["unet"], nlohmann::json({"diffusers", "UNet2DModel"}));

  // --weights picks the EMA averages or the raw weights; the frozen Fourier W is the same in both.
  const auto ck = io::read_checkpoint_tensors(io::resolve_checkpoint_dir(run_dir), false);
  const auto ema = io::read_safetensors(dir + "/ema/unet/diffusion_pytorch_model.safetensors");
  const auto raw = io::read_safetensors(dir + "/raw/unet/diffusion_pytorch_model.safetensors").tensors;
  EXPECT_TRUE(torch::equal(ema.tensors.at("conv_in.weight"), ck.ema.at("all_modules.3.weight")));
  EXPECT_TRUE(torch::equal(raw.at("conv_in.weight"), ck.model.at("all_modules.3.weight")));
  EXPECT_TRUE(torch::equal(ema.tensors.at("time_proj.weight"), raw.at("time_proj.weight")));
  EXPECT_EQ(ema.metadata.at("scorch.weights"), "ema");
  EXPECT_EQ(ema.metadata.at("scorch.step"), "5");
  EXPECT_EQ(ema.tensors.size(), raw.size());

  // An export-ema file is an input too, with the same result as its checkpoint.
  ASSERT_EQ(run(scorch_bin() + " convert export-ema " + run_dir + " --out " + dir + "/ema.safetensors").code, 0);
  ASSERT_EQ(run(export_diffusers_cmd(dir + "/ema.safetensors", dir + "/from-file")).code, 0);
  const auto from_file = io::read_safetensors(dir + "/from-file/unet/diffusion_pytorch_model.safetensors").tensors;
  ASSERT_EQ(from_file.size(), ema.tensors.size());
  for (const auto& [name, t] : ema.tensors) EXPECT_TRUE(torch::equal(from_file.at(name), t)) << name;
}

// A folder holding anything is written into only with --force, which replaces the pipeline's own files and
// leaves the rest; a file is never taken for the folder.
TEST(ConvertDiffusersCmd, NonEmptyOutNeedsForceAndAFileIsRefused) {
  const auto dir = test::temp_dir("diffusers_force");
  const auto run_dir = write_diffusers_test_run(dir + "/run", "ve_tiny.yaml", kDiffusersExpressible);
  ASSERT_EQ(run(export_diffusers_cmd(run_dir, dir + "/pipe") + " --weights model").code, 0);
  write_file_atomic(dir + "/pipe/README.md", "my notes\n");
  const auto before = read_file(dir + "/pipe/unet/diffusion_pytorch_model.safetensors");

  auto r = run(export_diffusers_cmd(run_dir, dir + "/pipe"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "/pipe' is not empty")) << r.output;
  EXPECT_TRUE(contains(r.output, "pass --force")) << r.output;
  EXPECT_EQ(read_file(dir + "/pipe/unet/diffusion_pytorch_model.safetensors"), before);

  r = run(export_diffusers_cmd(run_dir, dir + "/pipe") + " --force");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "1 file(s) in " + dir +
                                     "/pipe that this export did not write stay as they were: "
                                     "README.md"))
      << r.output;
  EXPECT_EQ(io::read_safetensors(dir + "/pipe/unet/diffusion_pytorch_model.safetensors").metadata.at("scorch.weights"),
            "ema");
  EXPECT_EQ(read_file(dir + "/pipe/README.md"), "my notes\n");

  fs::create_directories(dir + "/empty");
  EXPECT_EQ(run(export_diffusers_cmd(run_dir, dir + "/empty")).code, 0);
  r = run(export_diffusers_cmd(run_dir, dir + "/pipe/README.md") + " --force");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "README.md' is a file")) << r.output;
}

// Each network is refused before anything is written, with the key, its value and the reason in the message.
TEST(ConvertDiffusersCmd, RefusesWhatUnet2dModelCannotExpress) {
  const auto dir = test::temp_dir("diffusers");
  struct Case {
    std::string config;
    std::vector<std::string> overrides;
    std::string message;
  };
  const std::vector<Case> cases = {
      // DDPM++ on the VP SDE (configs/small/vp_tiny.yaml)
      {"vp_tiny.yaml", {}, "training.sde = vpsde cannot be exported to diffusers"},
      // NCSN++ as score_sde's cifar10 networks: no output pyramid, residual input pyramid
      {"ve_tiny.yaml", {}, "model.progressive = none cannot be exported to diffusers"},
      {"ve_tiny.yaml", {"model.progressive=output_skip"}, "model.progressive_input = residual cannot be exported"},
      // attention on 32 channels: diffusers' 32-group attention norm differs from NCSN++'s 8 groups
      {"ve_tiny.yaml",
       {"model.progressive=output_skip", "model.progressive_input=input_skip"},
       "model.attn_resolutions = 8 cannot be exported to diffusers: attention at resolution 8 runs on nf * "
       "ch_mult[1] = 32 channels"},
      {"ve_tiny.yaml",
       [] {
         auto o = kDiffusersExpressible;
         o.push_back("model.fir=false");
         return o;
       }(),
       "model.fir = false cannot be exported to diffusers"},
  };
  int i = 0;
  for (const auto& c : cases) {
    const auto run_dir = write_diffusers_test_run(dir + "/run" + std::to_string(i), c.config, c.overrides);
    const auto out = dir + "/out" + std::to_string(i++);
    auto r = run(export_diffusers_cmd(run_dir, out));
    EXPECT_NE(r.code, 0) << c.message;
    EXPECT_TRUE(contains(r.output, c.message)) << r.output;
    EXPECT_TRUE(contains(r.output, "export-diffusers takes score_sde's VE NCSN++")) << r.output;  // the hint
    EXPECT_FALSE(fs::exists(out)) << out;
  }
}

}  // namespace
}  // namespace scorch
