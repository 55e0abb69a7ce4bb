// TrainingOptions: every key the trainer reads comes from the config, out-of-range values fail naming their
// key, and the global batch splits over the ranks only when it divides.
#include "trainer/training_options.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "support/run.h"
#include "trainer/trainer.h"

namespace scorch {
namespace {

Config tiny(const std::vector<std::string>& extra) {
  std::vector<std::string> sets = {"data.path=/data/set"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml", sets);
}

// The message of the Error that `f` throws ("" when it throws none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

TEST(TrainingOptions, ReadsEveryKeyFromTheConfig) {
  const auto o = trainer::TrainingOptions::from(tiny({"seed=7",
                                                      "training.batch_size=12",
                                                      "training.micro_batch=3",
                                                      "training.n_iters=40",
                                                      "training.precision=bf16",
                                                      "training.tf32=true",
                                                      "training.channels_last=true",
                                                      "model.ema_rate=0.5",
                                                      "training.grad_bucket_mb=2.5",
                                                      "training.max_nonfinite_steps=4",
                                                      "training.log_freq=0",
                                                      "training.eval_freq=6",
                                                      "training.snapshot_freq=8",
                                                      "training.snapshot_freq_for_preemption=9",
                                                      "training.snapshot_sampling=false",
                                                      "training.keep_last=1",
                                                      "data.eval_path=/data/eval",
                                                      "data.image_size=16",
                                                      "data.num_channels=1",
                                                      "dist.timeout_s=30",
                                                      "dist.check_weights=true"}));
  EXPECT_EQ(o.seed, 7u);
  EXPECT_EQ(o.batch_size, 12);
  EXPECT_EQ(o.micro_batch, 3);
  EXPECT_EQ(o.n_iters, 40);
  EXPECT_EQ(o.precision, trainer::Precision::BF16);
  EXPECT_TRUE(o.tf32 && o.check_weights);
  EXPECT_EQ(o.channels_last, Switch::On);
  EXPECT_FALSE(o.snapshot_sampling);
  EXPECT_EQ(o.ema_rate, 0.5);
  EXPECT_EQ(o.grad_bucket_mb, 2.5);
  EXPECT_EQ(o.max_nonfinite_steps, 4);
  EXPECT_EQ(o.log_freq, 1);  // 0 would divide by zero in the loop's schedule
  EXPECT_EQ(o.eval_freq, 6);
  EXPECT_EQ(o.snapshot_freq, 8);
  EXPECT_EQ(o.snapshot_freq_for_preemption, 9);
  EXPECT_EQ(o.keep_last, 1);
  EXPECT_EQ(o.data_path, "/data/set");
  EXPECT_EQ(o.eval_path, "/data/eval");
  EXPECT_EQ(o.image_size, 16);
  EXPECT_EQ(o.num_channels, 1);
  EXPECT_EQ(o.timeout_s, 30);
}

TEST(TrainingOptions, OutOfRangeValuesFailNamingTheKey) {
  for (const std::string set : {"training.batch_size=0", "training.micro_batch=-1", "training.n_iters=-1",
                                "training.precision=fp8", "data.path="}) {
    const auto key = set.substr(0, set.find('='));
    const auto message = error_of([&] { trainer::TrainingOptions::from(tiny({set})); });
    EXPECT_NE(message.find(key), std::string::npos) << set << ": '" << message << "'";
  }
}

// What `scorch train --dry-run` runs (trainer::check_config) refuses every value the run would refuse when it
// starts, naming the key: the EMA rate, the checkpoints kept, the loader's threads and queue (checked only by the
// Loader, the EMA and the store before), and the network's widths and dropout (checked by LibTorch's layers, in a
// stack trace naming no key). Each such value passed the dry run and failed the run.
TEST(TrainingOptions, TheDryRunsChecksRefuseWhatTheRunWould) {
  for (const std::string set :
       {"model.ema_rate=2", "model.ema_rate=-0.5", "training.keep_last=-1", "data.reader_threads=0",
        "data.prefetch_batches=-1", "data.reader_threads=99999999999", "model.nf=0", "model.nf=99999999999",
        "data.num_channels=0", "model.dropout=1.5", "model.dropout=-0.1"}) {
    const auto key = set.substr(0, set.find('='));
    const auto message = error_of([&] { trainer::check_config(tiny({set}), 1); });
    EXPECT_NE(message.find(key), std::string::npos) << set << ": '" << message << "'";
  }
  EXPECT_NO_THROW(trainer::check_config(tiny({"model.ema_rate=1", "training.keep_last=0", "model.dropout=0"}), 1));
}

TEST(TrainingOptions, TheBatchSplitsOverRanksOnlyWhenItDivides) {
  const auto whole = trainer::TrainingOptions::from(tiny({"training.batch_size=8", "training.micro_batch=0"}));
  EXPECT_EQ(whole.local_batch(2), 4);
  EXPECT_EQ(whole.local_micro_batch(2), 4);  // 0: the rank's whole share
  EXPECT_NE(error_of([&] { whole.local_batch(3); }).find("training.batch_size = 8"), std::string::npos);
  const auto micro = trainer::TrainingOptions::from(tiny({"training.batch_size=8", "training.micro_batch=2"}));
  EXPECT_EQ(micro.local_micro_batch(1), 2);
  EXPECT_EQ(micro.local_micro_batch(4), 2);
  const auto odd = trainer::TrainingOptions::from(tiny({"training.batch_size=12", "training.micro_batch=4"}));
  EXPECT_EQ(odd.local_micro_batch(1), 4);
  EXPECT_NE(error_of([&] { odd.local_micro_batch(2); }).find("training.micro_batch = 4"), std::string::npos);
}

}  // namespace
}  // namespace scorch
