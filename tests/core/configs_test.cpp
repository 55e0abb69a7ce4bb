// Every shipped config under configs/ loads through Config::resolve; the ermongroup originals' key values and the
// small configs' sizes. (score_sde's own configs are compared field by field in configs_reference_test.cpp.)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/config.h"
#include "support/run.h"

namespace scorch {
namespace {

namespace fs = std::filesystem;

fs::path configs_dir() { return fs::path(test::source_dir()) / "configs"; }

std::vector<fs::path> all_configs() {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(configs_dir()))
    if (e.is_regular_file() && e.path().extension() == ".yaml") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Configs, EveryFileResolvesAndStartsWithAComment) {
  auto files = all_configs();
  // 25 + 14 score_sde configs, 7 ncsnv2 and 2 ncsn ones, 5 small ones; fewer means a file went missing.
  EXPECT_GE(files.size(), 53u);
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    // resolve() rejects unknown keys and wrong value types, so this is the schema check.
    Config c = Config::resolve(f.string(), {});
    std::ifstream in(f);
    std::string first;
    std::getline(in, first);
    EXPECT_EQ(first.rfind("# ", 0), 0u) << "first line must say what the config is";
    const auto sde = c.get_string("training.sde");
    EXPECT_TRUE(sde == "vesde" || sde == "vpsde" || sde == "subvpsde") << sde;
    // Sub-VP has no discrete training objective (the reference raises too).
    if (sde == "subvpsde") {
      EXPECT_TRUE(c.get_bool("training.continuous"));
    }
    // The sampler's last time is run_lib's sampling_eps, which depends on the SDE.
    EXPECT_DOUBLE_EQ(c.get_float("sampling.eps"), sde == "vesde" ? 1e-5 : 1e-3);
  }
}

// ermongroup/ncsnv2 (1bcea03) and ermongroup/ncsn (7f27f4a) configs as their runners read them: the
// network each builds, the ladder (sigma_begin -> sigma_max, num_classes -> num_scales), Adam, EMA and the
// sampler's step_lr / n_steps_each / denoise. Parameter counts: models_parity_test's NcsnppCounts.
struct OriginalExpect {
  std::string model;
  int64_t nf, image_size, channels, batch_size, n_iters, num_scales;
  double sigma_max, ema_rate, lr, adam_eps, step_lr;
  int64_t n_steps_each;
  bool denoise, dequantize, flip;
};

TEST(Configs, NcsnOriginalsKeyValues) {
  const std::map<std::string, OriginalExpect> m = {
      {"ncsnv2/cifar10", {"ncsnv2", 128, 32, 3, 128, 300001, 232, 50, 0.999, 1e-4, 1e-8, 6.2e-6, 5, true, false, true}},
      {"ncsnv2/celeba", {"ncsnv2", 128, 64, 3, 128, 210001, 500, 90, 0.999, 1e-4, 1e-8, 3.3e-6, 5, true, false, true}},
      {"ncsnv2/church",
       {"ncsnv2_deeper", 128, 64, 3, 128, 200001, 788, 140, 0.999, 1e-4, 1e-8, 4.9e-6, 4, true, false, true}},
      {"ncsnv2/bedroom",
       {"ncsnv2_deeper", 128, 128, 3, 128, 150001, 1086, 190, 0.999, 1e-4, 1e-8, 1.8e-6, 3, true, false, true}},
      {"ncsnv2/tower",
       {"ncsnv2_deeper", 128, 128, 3, 128, 150001, 1086, 190, 0.999, 1e-4, 1e-8, 1.8e-6, 3, true, false, true}},
      {"ncsnv2/ffhq",
       {"ncsnv2_deepest", 128, 256, 3, 32, 80001, 2311, 348, 0.999, 1e-4, 1e-3, 9e-7, 3, true, false, true}},
      // Named after NCSN but trains NCSNv2 (ncsnv2 picks the class from the dataset), without EMA.
      {"ncsnv2/ncsn_original",
       {"ncsnv2", 128, 32, 3, 128, 300001, 10, 1, 0.0, 1e-3, 1e-8, 2e-5, 100, false, true, true}},
      {"ncsn/mnist", {"ncsn", 64, 28, 1, 128, 200001, 10, 1, 0.0, 1e-3, 1e-8, 2e-5, 100, false, true, false}},
      {"ncsn/cifar10", {"ncsn", 128, 32, 3, 128, 200001, 10, 1, 0.0, 1e-3, 1e-8, 2e-5, 100, false, true, true}},
  };
  for (const auto& [name, e] : m) {
    SCOPED_TRACE(name);
    Config c = Config::resolve((configs_dir() / (name + ".yaml")).string(), {});
    EXPECT_EQ(c.get_string("model.name"), e.model);
    EXPECT_EQ(c.get_int("model.nf"), e.nf);
    EXPECT_EQ(c.get_int("data.image_size"), e.image_size);
    EXPECT_EQ(c.get_int("data.num_channels"), e.channels);
    EXPECT_FALSE(c.get_bool("data.centered"));  // the originals' rescaled: false
    EXPECT_EQ(c.get_bool("data.uniform_dequantization"), e.dequantize);
    EXPECT_EQ(c.get_bool("data.random_flip"), e.flip);
    EXPECT_EQ(c.get_int("training.batch_size"), e.batch_size);
    EXPECT_EQ(c.get_int("training.n_iters"), e.n_iters);
    EXPECT_EQ(c.get_int("training.snapshot_freq"), 5000);
    // The originals' DSM loss with anneal_power 2 is the discrete SMLD loss with a half sum over pixels.
    EXPECT_EQ(c.get_string("training.sde"), "vesde");
    EXPECT_FALSE(c.get_bool("training.continuous"));
    EXPECT_FALSE(c.get_bool("training.reduce_mean"));
    EXPECT_EQ(c.get_int("model.num_scales"), e.num_scales);
    EXPECT_DOUBLE_EQ(c.get_float("model.sigma_max"), e.sigma_max);
    EXPECT_DOUBLE_EQ(c.get_float("model.sigma_min"), 0.01);
    EXPECT_EQ(c.get_string("model.normalization"), "InstanceNorm++");
    EXPECT_EQ(c.get_string("model.nonlinearity"), "elu");
    EXPECT_DOUBLE_EQ(c.get_float("model.ema_rate"), e.ema_rate);
    EXPECT_DOUBLE_EQ(c.get_float("optim.lr"), e.lr);
    EXPECT_DOUBLE_EQ(c.get_float("optim.eps"), e.adam_eps);
    EXPECT_DOUBLE_EQ(c.get_float("optim.beta1"), 0.9);
    EXPECT_DOUBLE_EQ(c.get_float("optim.weight_decay"), 0.0);
    EXPECT_EQ(c.get_int("optim.warmup"), 0);
    EXPECT_LT(c.get_float("optim.grad_clip"), 0.0);
    EXPECT_EQ(c.get_string("sampling.method"), "ald");
    EXPECT_DOUBLE_EQ(c.get_float("sampling.step_lr"), e.step_lr);
    EXPECT_EQ(c.get_int("sampling.n_steps_each"), e.n_steps_each);
    EXPECT_EQ(c.get_bool("sampling.noise_removal"), e.denoise);
    EXPECT_EQ(c.get_int("seed"), 1234);
  }
}

TEST(Configs, SmallConfigsAreSmall) {
  for (const char* n : {"small/ve_tiny", "small/vp_tiny", "small/subvp_tiny", "small/fashion_mnist_32"}) {
    SCOPED_TRACE(n);
    Config c = Config::resolve((configs_dir() / (std::string(n) + ".yaml")).string(), {});
    EXPECT_LE(c.get_int("model.nf"), 32);
    EXPECT_LE(c.get_int("model.num_res_blocks"), 1);
    const auto size = c.get_int("data.image_size");
    // The image must halve cleanly at every level below the top one.
    const auto levels = static_cast<int64_t>(c.get_int_list("model.ch_mult").size());
    EXPECT_EQ(size % (int64_t{1} << (levels - 1)), 0);
    EXPECT_LE(size, 32);
  }
  Config fm = Config::resolve((configs_dir() / "small/fashion_mnist_32.yaml").string(), {});
  EXPECT_EQ(fm.get_int("data.num_channels"), 1);
  EXPECT_EQ(fm.get_int("data.image_size"), 32);
  // NCSNv2 halves once (res2) and has no ch_mult; its sampler costs num_scales x n_steps_each (+1) calls.
  Config v2 = Config::resolve((configs_dir() / "small/ncsnv2_fashion_mnist.yaml").string(), {});
  EXPECT_EQ(v2.get_string("model.name"), "ncsnv2");
  EXPECT_LE(v2.get_int("model.nf"), 32);
  EXPECT_EQ(v2.get_int("data.num_channels"), 1);
  EXPECT_EQ(v2.get_int("data.image_size"), 32);
  EXPECT_EQ(v2.get_string("sampling.method"), "ald");
  EXPECT_LE(v2.get_int("model.num_scales") * v2.get_int("sampling.n_steps_each"), 1000);
  EXPECT_FALSE(v2.get_bool("training.continuous"));
}

}  // namespace
}  // namespace scorch
