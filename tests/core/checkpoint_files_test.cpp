// Checkpoint tensors + meta.json round trip, EMA vs raw weights at load time, EMA export, path resolution.
#include "core/io/checkpoint_files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/io/checkpoint_store.h"
#include "core/io/safetensors.h"
#include "core/models/model_weights.h"
#include "support/checks.h"
#include "support/run.h"

namespace scorch {
namespace {

namespace fs = std::filesystem;

Config tiny_config() { return Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml", {"model.nf=8"}); }

// A checkpoint of a fresh tiny model whose EMA differs from the raw weights by +1 everywhere.
io::CheckpointTensors make_tensors(const Config& config) {
  auto model = models::make_model(config);
  io::CheckpointTensors t;
  t.model = models::state_dict(*model);
  for (const auto& p : model->named_parameters())
    if (p.value().requires_grad()) t.ema[p.key()] = p.value().detach() + 1.0;
  t.ema_num_updates = 7;
  for (const auto& [name, avg] : t.ema) {
    t.optimizer["exp_avg." + name] = torch::zeros_like(avg);
    t.optimizer["exp_avg_sq." + name] = torch::ones_like(avg);
  }
  t.optimizer_step = 7;
  return t;
}

std::string save(const std::string& run, const Config& config, int64_t step, const io::CheckpointTensors& t) {
  io::CheckpointStore store(run + "/checkpoints");
  return store.save(step, io::checkpoint_meta(config, step),
                    [&](const std::string& d) { io::write_checkpoint_tensors(d, t); });
}

TEST(CheckpointFiles, RoundTripIsExact) {
  auto run = test::temp_dir("ckfiles");
  auto config = tiny_config();
  auto t = make_tensors(config);
  auto dir = save(run, config, 5, t);
  auto back = io::read_checkpoint_tensors(dir);
  ASSERT_EQ(back.model.size(), t.model.size());
  for (const auto& [k, v] : t.model) {
    EXPECT_TRUE(torch::equal(back.model.at(k), v)) << k;
    EXPECT_EQ(back.model.at(k).scalar_type(), v.scalar_type()) << k;
  }
  EXPECT_EQ(back.model.at("sigmas").scalar_type(), torch::kFloat64);
  EXPECT_EQ(back.ema_num_updates, 7);
  EXPECT_DOUBLE_EQ(back.ema_rate, 0.999);
  EXPECT_EQ(back.optimizer_step, 7);
  EXPECT_EQ(back.optimizer.size(), 2 * t.ema.size());
}

TEST(CheckpointFiles, LoadsEmaOrRawWeightsFromRunDirOrLatest) {
  auto run = test::temp_dir("ckload");
  auto config = tiny_config();
  auto t = make_tensors(config);
  save(run, config, 3, t);
  auto ema = io::load_inference_model(run, "ema", torch::kCPU);
  auto raw = io::load_inference_model(run + "/checkpoints/latest", "model", torch::kCPU);
  EXPECT_EQ(ema.step, 3);
  EXPECT_EQ(ema.config.get_int("model.nf"), 8);
  EXPECT_FALSE(ema.model->is_training());
  auto ema_state = models::state_dict(*ema.model);
  auto raw_state = models::state_dict(*raw.model);
  for (const auto& [name, avg] : t.ema) {
    EXPECT_TRUE(torch::equal(ema_state.at(name), avg)) << name;
    EXPECT_TRUE(torch::equal(raw_state.at(name), t.model.at(name))) << name;
  }
  // Buffers and the frozen Fourier W are not averaged: both loads carry the model's.
  EXPECT_TRUE(torch::equal(ema_state.at("sigmas"), t.model.at("sigmas")));
}

// What scorch sample and fid --ckpts load: a bit flipped in the EMA file on disk is an error naming the file,
// not a model with one weight changed.
TEST(CheckpointFiles, AnInferenceLoadChecksTheDigests) {
  auto run = test::temp_dir("ckflip");
  auto config = tiny_config();
  const auto dir = save(run, config, 3, make_tensors(config));
  {
    std::fstream f(dir + "/" + io::kEmaFile, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-3, std::ios::end);
    const char c = static_cast<char>(f.get() ^ 0x10);
    f.seekp(-3, std::ios::end);
    f.put(c);
  }
  test::expect_error_containing([&] { io::load_inference_model(run, "ema", torch::kCPU); },
                                std::string(io::kEmaFile) + " has SHA-256");
}

TEST(CheckpointFiles, EmaExportLoadsBackWithinDtypeRounding) {
  auto run = test::temp_dir("ckexport");
  auto config = tiny_config();
  auto t = make_tensors(config);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    const auto path = run + "/ema.safetensors";
    io::write_ema_export(path, config, 11, t, dtype);
    auto loaded = io::load_inference_model(path, "ema", torch::kCPU);
    EXPECT_EQ(loaded.step, 11);
    auto state = models::state_dict(*loaded.model);
    for (const auto& [name, avg] : t.ema) {
      // bf16 keeps 8 mantissa bits: relative rounding error at most 2^-8.
      const double tol = dtype == torch::kFloat32 ? 0.0 : 1.0 / 256;
      EXPECT_LE((state.at(name) - avg).abs().max().item<double>(), tol * avg.abs().max().item<double>() + 1e-30)
          << name;
    }
    // What training never changes is not rounded: the float64 sigmas, and the Fourier embedding's frozen W,
    // whose rounding in bf16 moved a real network's output by a quarter of its range at small sigma.
    const auto file = io::read_safetensors(path).tensors;
    int64_t frozen = 0;
    for (const auto& [name, value] : t.model) {
      if (t.ema.count(name)) continue;
      ++frozen;
      EXPECT_EQ(file.at(name).scalar_type(), value.scalar_type()) << name;
      EXPECT_TRUE(torch::equal(state.at(name), value)) << name;
    }
    EXPECT_TRUE(t.model.count("all_modules.0.W") && !t.ema.count("all_modules.0.W"));
    EXPECT_GE(frozen, 2);
  }
  EXPECT_THROW(io::load_inference_model(run + "/ema.safetensors", "model", torch::kCPU), Error);
}

TEST(CheckpointFiles, RefusesMissingOrForeignPaths) {
  auto run = test::temp_dir("ckbad");
  EXPECT_THROW(io::resolve_checkpoint_dir(run + "/nope"), Error);
  EXPECT_THROW(io::resolve_checkpoint_dir(run), Error);  // empty dir: no checkpoints
  auto config = tiny_config();
  auto t = make_tensors(config);
  t.ema.begin()->second = torch::zeros({3});  // wrong shape
  auto dir = save(run, config, 1, t);
  try {
    io::load_inference_model(dir, "ema", torch::kCPU);
    FAIL() << "a mis-shaped EMA tensor was accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find(t.ema.begin()->first), std::string::npos) << e.message();
  }
  fs::remove(fs::path(dir) / io::kModelFile);
  EXPECT_THROW(io::load_inference_model(dir, "model", torch::kCPU), Error);
}

}  // namespace
}  // namespace scorch
