// Helpers of the trainer tests (in-process and under mpirun): a Gaussian image set, a tiny config, and
// comparison of two trainers' complete state.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/config.h"
#include "core/dist/mpi_comm.h"
#include "core/models/model_weights.h"
#include "core/rng.h"
#include "data/pack.h"
#include "support/run.h"
#include "trainer/trainer.h"

namespace scorch::test {

// `count` 8x8 grayscale images whose pixels are iid N(mu, s^2) in [0, 1] units, quantised to uint8.
inline std::string gaussian_dataset(const std::string& out, int64_t count, double mu = 0.5, double s = 0.1) {
  data::Manifest layout;
  layout.shape = {8, 8, 1};
  layout.count = count;
  layout.source = {{"type", "test-gaussian"}, {"mu", mu}, {"s", s}};
  layout.command = "tests/trainer gaussian_dataset";
  auto fill = [&](int64_t i, uint8_t* dst) {
    auto gen = cpu_generator(1234, static_cast<uint64_t>(i));
    auto px = ((mu + s * torch::randn({64}, gen)) * 255.0).round().clamp(0, 255).to(torch::kUInt8);
    std::memcpy(dst, px.data_ptr(), 64);
  };
  dist::LocalCommunicator comm;
  data::write_dataset(layout, fill, {}, {out, 0, true}, comm);
  return out;
}

// ve_tiny shrunk to 8x8x1 with nf 8: a step takes milliseconds. Extra "key=value" overrides apply last.
inline Config tiny_train_config(const std::string& data, const std::vector<std::string>& extra) {
  std::vector<std::string> sets = {"data.path=" + data,
                                   "data.image_size=8",
                                   "data.num_channels=1",
                                   "data.random_flip=false",
                                   "data.reader_threads=1",
                                   "model.nf=8",
                                   "model.attn_resolutions=[4]",
                                   "model.dropout=0.0",
                                   "training.batch_size=8",
                                   "training.log_freq=2",
                                   "training.snapshot_freq=1000",
                                   "training.snapshot_freq_for_preemption=1000",
                                   "optim.warmup=2"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return Config::resolve(source_dir() + "/configs/small/ve_tiny.yaml", sets);
}

inline void expect_close(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b,
                         double tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [name, x] : a) {
    const auto& y = b.at(name);
    if (tol == 0.0) {
      EXPECT_TRUE(torch::equal(x.cpu(), y.cpu())) << what << " " << name << " differs";
    } else {
      const double diff = (x.cpu().to(torch::kFloat64) - y.cpu().to(torch::kFloat64)).abs().max().item<double>();
      const double scale = std::max(1.0, x.abs().max().item<double>());
      EXPECT_LE(diff, tol * scale) << what << " " << name;
    }
  }
}

// Model (parameters and buffers), EMA and Adam state of two trainers agree to `tol` (0: bitwise).
inline void expect_same_state(trainer::Trainer& a, trainer::Trainer& b, double tol) {
  EXPECT_EQ(a.step(), b.step());
  EXPECT_EQ(a.optimizer().step_count(), b.optimizer().step_count());
  EXPECT_EQ(a.ema().num_updates(), b.ema().num_updates());
  expect_close(models::state_dict(a.model()), models::state_dict(b.model()), tol, "model");
  expect_close(a.ema().shadow(), b.ema().shadow(), tol, "ema");
  expect_close(a.optimizer().state(), b.optimizer().state(), tol * 10, "adam");
}

}  // namespace scorch::test
