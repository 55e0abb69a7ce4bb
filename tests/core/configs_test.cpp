// Every shipped config under configs/ loads through Config::resolve, and key values match score_sde_pytorch.
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

// Values from score_sde_pytorch configs (commit cb1f359), written out by hand from the Python files.
struct Expect {
  std::string sde;
  bool continuous;
  std::string model;
  int64_t nf, nrb;
  std::vector<int64_t> ch_mult;
  int64_t image_size, batch_size, num_scales;
  double sigma_max, ema_rate, snr, lr;
  bool reduce_mean, centered;
  std::string embedding, predictor, corrector;
  int64_t n_iters;
};

const std::map<std::string, Expect>& reference_values() {
  const std::vector<int64_t> c4 = {1, 2, 2, 2}, c7 = {1, 1, 2, 2, 2, 2, 2}, c6 = {1, 1, 2, 2, 4, 4},
                             c8 = {1, 2, 4, 8, 16, 32, 32, 32};
  static const std::map<std::string, Expect> m = {
      {"ve/cifar10_ncsnpp",
       {"vesde", false, "ncsnpp", 128, 4, c4, 32, 128, 1000, 50, 0.999, 0.16, 2e-4, false, false, "positional",
        "reverse_diffusion", "langevin", 1300001}},
      {"ve/cifar10_ncsnpp_continuous",
       {"vesde", true, "ncsnpp", 128, 4, c4, 32, 128, 1000, 50, 0.999, 0.16, 2e-4, false, false, "fourier",
        "reverse_diffusion", "langevin", 1300001}},
      {"ve/cifar10_ncsnpp_deep_continuous",
       {"vesde", true, "ncsnpp", 128, 8, c4, 32, 128, 1000, 50, 0.999, 0.16, 2e-4, false, false, "fourier",
        "reverse_diffusion", "langevin", 950001}},
      {"vp/cifar10_ddpmpp",
       {"vpsde", false, "ncsnpp", 128, 4, c4, 32, 128, 1000, 50, 0.9999, 0.16, 2e-4, true, true, "positional",
        "ancestral_sampling", "none", 1300001}},
      {"vp/cifar10_ddpmpp_continuous",
       {"vpsde", true, "ncsnpp", 128, 4, c4, 32, 128, 1000, 50, 0.9999, 0.16, 2e-4, true, true, "positional",
        "euler_maruyama", "none", 1300001}},
      {"vp/cifar10_ddpmpp_deep_continuous",
       {"vpsde", true, "ncsnpp", 128, 8, c4, 32, 128, 1000, 50, 0.9999, 0.16, 2e-4, true, true, "positional",
        "euler_maruyama", "none", 950001}},
      {"subvp/cifar10_ddpmpp_continuous",
       {"subvpsde", true, "ncsnpp", 128, 4, c4, 32, 128, 1000, 50, 0.9999, 0.16, 2e-4, true, true, "positional",
        "euler_maruyama", "none", 1300001}},
      {"subvp/cifar10_ddpmpp_deep_continuous",
       {"subvpsde", true, "ncsnpp", 128, 8, c4, 32, 128, 1000, 50, 0.9999, 0.16, 2e-4, true, true, "positional",
        "euler_maruyama", "none", 950001}},
      {"vp/cifar10_ncsnpp_continuous",
       {"vpsde", true, "ncsnpp", 128, 4, c4, 32, 128, 1000, 50, 0.9999, 0.16, 2e-4, true, true, "positional",
        "euler_maruyama", "none", 1300001}},
      {"subvp/cifar10_ncsnpp_deep_continuous",
       {"subvpsde", true, "ncsnpp", 128, 8, c4, 32, 128, 1000, 50, 0.9999, 0.16, 2e-4, true, true, "positional",
        "euler_maruyama", "none", 950001}},
      {"vp/ddpm/cifar10",
       {"vpsde", false, "ddpm", 128, 2, c4, 32, 128, 1000, 50, 0.9999, 0.16, 2e-4, true, true, "fourier",
        "ancestral_sampling", "none", 1300001}},
      {"vp/ddpm/cifar10_continuous",
       {"vpsde", true, "ddpm", 128, 2, c4, 32, 128, 1000, 50, 0.9999, 0.16, 2e-4, true, true, "fourier",
        "euler_maruyama", "none", 1300001}},
      {"subvp/cifar10_ddpm_continuous",
       {"subvpsde", true, "ddpm", 128, 2, c4, 32, 128, 1000, 50, 0.9999, 0.16, 2e-4, true, true, "fourier",
        "euler_maruyama", "none", 1300001}},
      {"vp/ddpm/church",
       {"vpsde", false, "ddpm", 128, 2, c6, 256, 64, 1000, 378, 0.9999, 0.075, 2e-5, true, true, "fourier",
        "ancestral_sampling", "none", 2400001}},
      {"ve/celebahq_256_ncsnpp_continuous",
       {"vesde", true, "ncsnpp", 128, 2, c7, 256, 64, 2000, 348, 0.999, 0.075, 2e-4, false, false, "fourier",
        "reverse_diffusion", "langevin", 2400001}},
      {"ve/ffhq_256_ncsnpp_continuous",
       {"vesde", true, "ncsnpp", 128, 2, c7, 256, 64, 2000, 348, 0.999, 0.075, 2e-4, false, false, "fourier",
        "reverse_diffusion", "langevin", 2400001}},
      {"ve/church_ncsnpp_continuous",
       {"vesde", true, "ncsnpp", 128, 2, c7, 256, 64, 2000, 380, 0.999, 0.075, 2e-4, false, false, "fourier",
        "reverse_diffusion", "langevin", 2400001}},
      {"ve/bedroom_ncsnpp_continuous",
       {"vesde", true, "ncsnpp", 128, 2, c7, 256, 64, 2000, 378, 0.999, 0.075, 2e-4, false, false, "fourier",
        "reverse_diffusion", "langevin", 2400001}},
      {"ve/ffhq_ncsnpp_continuous",
       {"vesde", true, "ncsnpp", 16, 1, c8, 1024, 8, 2000, 1348, 0.9999, 0.15, 2e-4, true, false, "fourier",
        "reverse_diffusion", "langevin", 2400001}},
      {"ve/celebahq_ncsnpp_continuous",
       {"vesde", true, "ncsnpp", 16, 1, c8, 1024, 8, 2000, 1348, 0.9999, 0.15, 2e-4, false, false, "fourier",
        "reverse_diffusion", "langevin", 2400001}},
  };
  return m;
}

TEST(Configs, KeyValuesMatchTheReference) {
  for (const auto& [name, e] : reference_values()) {
    SCOPED_TRACE(name);
    auto path = configs_dir() / (name + ".yaml");
    ASSERT_TRUE(fs::exists(path));
    Config c = Config::resolve(path.string(), {});
    EXPECT_EQ(c.get_string("training.sde"), e.sde);
    EXPECT_EQ(c.get_bool("training.continuous"), e.continuous);
    EXPECT_EQ(c.get_bool("training.reduce_mean"), e.reduce_mean);
    EXPECT_EQ(c.get_int("training.batch_size"), e.batch_size);
    EXPECT_EQ(c.get_int("training.n_iters"), e.n_iters);
    EXPECT_EQ(c.get_string("model.name"), e.model);
    EXPECT_EQ(c.get_int("model.nf"), e.nf);
    EXPECT_EQ(c.get_int("model.num_res_blocks"), e.nrb);
    EXPECT_EQ(c.get_int_list("model.ch_mult"), e.ch_mult);
    EXPECT_EQ(c.get_int("data.image_size"), e.image_size);
    EXPECT_EQ(c.get_bool("data.centered"), e.centered);
    EXPECT_EQ(c.get_int("model.num_scales"), e.num_scales);
    EXPECT_DOUBLE_EQ(c.get_float("model.sigma_max"), e.sigma_max);
    EXPECT_DOUBLE_EQ(c.get_float("model.sigma_min"), 0.01);
    EXPECT_DOUBLE_EQ(c.get_float("model.ema_rate"), e.ema_rate);
    EXPECT_DOUBLE_EQ(c.get_float("sampling.snr"), e.snr);
    EXPECT_DOUBLE_EQ(c.get_float("optim.lr"), e.lr);
    EXPECT_EQ(c.get_string("model.embedding_type"), e.embedding);
    EXPECT_EQ(c.get_string("sampling.predictor"), e.predictor);
    EXPECT_EQ(c.get_string("sampling.corrector"), e.corrector);
  }
}

TEST(Configs, NcsnppVariantsDifferWhereTheReferenceDoes) {
  auto load = [](const std::string& n) { return Config::resolve((configs_dir() / (n + ".yaml")).string(), {}); };
  // DDPM++ = NCSN++ without FIR and without the input pyramid.
  Config ddpmpp = load("vp/cifar10_ddpmpp_continuous"), ncsnpp = load("vp/cifar10_ncsnpp_continuous");
  EXPECT_FALSE(ddpmpp.get_bool("model.fir"));
  EXPECT_EQ(ddpmpp.get_string("model.progressive_input"), "none");
  EXPECT_TRUE(ncsnpp.get_bool("model.fir"));
  EXPECT_EQ(ncsnpp.get_string("model.progressive_input"), "residual");
  // High-resolution VE models use the output-skip / input-skip pyramids and no dropout.
  Config hq = load("ve/celebahq_256_ncsnpp_continuous");
  EXPECT_EQ(hq.get_string("model.progressive"), "output_skip");
  EXPECT_EQ(hq.get_string("model.progressive_input"), "input_skip");
  EXPECT_DOUBLE_EQ(hq.get_float("model.dropout"), 0.0);
  EXPECT_DOUBLE_EQ(load("ve/cifar10_ncsnpp_continuous").get_float("model.dropout"), 0.1);
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

// score_sde's ve/ncsn and ve/ncsnv2 files (commit cb1f359): NCSNv2's ablations on NCSN, sampled with
// score_sde's pc + none + ald; snr = sqrt(step_lr / 2) / sigma_min rounded, as the originals' epsilon.
TEST(Configs, ScoreSdeNcsnKeyValues) {
  struct E {
    std::string model;
    int64_t image_size, batch_size, num_scales, n_steps_each;
    double sigma_max, ema_rate, snr, lr;
  };
  const std::map<std::string, E> m = {
      {"ve/ncsn/cifar10", {"ncsn", 32, 128, 10, 100, 1, 0.0, 0.316, 1e-3}},
      {"ve/ncsn/cifar10_5", {"ncsn", 32, 128, 10, 100, 1, 0.999, 0.316, 1e-3}},
      {"ve/ncsn/cifar10_124", {"ncsn", 32, 128, 232, 5, 50, 0.0, 0.176, 1e-3}},
      {"ve/ncsn/cifar10_1245", {"ncsn", 32, 128, 232, 5, 50, 0.999, 0.176, 1e-3}},
      {"ve/ncsn/celeba", {"ncsn", 64, 128, 10, 100, 1, 0.0, 0.316, 1e-3}},
      {"ve/ncsn/celeba_5", {"ncsn", 64, 128, 10, 100, 1, 0.999, 0.316, 1e-3}},
      {"ve/ncsn/celeba_124", {"ncsn", 64, 128, 500, 5, 90, 0.0, 0.128, 1e-3}},
      {"ve/ncsn/celeba_1245", {"ncsn", 64, 128, 500, 5, 90, 0.999, 0.128, 1e-3}},
      {"ve/ncsnv2/cifar10", {"ncsnv2_64", 32, 128, 232, 5, 50, 0.999, 0.176, 1e-4}},
      {"ve/ncsnv2/celeba", {"ncsnv2_64", 64, 128, 500, 5, 90, 0.999, 0.128, 1e-4}},
      // score_sde's value (ncsnv2 used 0.999); its batch size 128 overrides default_lsun's 64.
      {"ve/ncsnv2/bedroom", {"ncsnv2_128", 128, 128, 1086, 3, 190, 0.9999, 0.095, 1e-4}},
  };
  for (const auto& [name, e] : m) {
    SCOPED_TRACE(name);
    Config c = Config::resolve((configs_dir() / (name + ".yaml")).string(), {});
    EXPECT_EQ(c.get_string("model.name"), e.model);
    EXPECT_EQ(c.get_int("model.nf"), 128);
    EXPECT_EQ(c.get_int("data.image_size"), e.image_size);
    EXPECT_EQ(c.get_int("training.batch_size"), e.batch_size);
    // Both typos (ve/ncsn/celeba's training.loss, ve/ncsnv2/bedroom's continuouse) are resolved to the meaning.
    EXPECT_EQ(c.get_string("training.sde"), "vesde");
    EXPECT_FALSE(c.get_bool("training.continuous"));
    EXPECT_FALSE(c.get_bool("training.reduce_mean"));
    EXPECT_EQ(c.get_string("sampling.method"), "pc");
    EXPECT_EQ(c.get_string("sampling.predictor"), "none");
    EXPECT_EQ(c.get_string("sampling.corrector"), "ald");
    EXPECT_EQ(c.get_int("sampling.n_steps_each"), e.n_steps_each);
    EXPECT_DOUBLE_EQ(c.get_float("sampling.snr"), e.snr);
    EXPECT_EQ(c.get_int("model.num_scales"), e.num_scales);
    EXPECT_DOUBLE_EQ(c.get_float("model.sigma_max"), e.sigma_max);
    EXPECT_DOUBLE_EQ(c.get_float("model.ema_rate"), e.ema_rate);
    EXPECT_DOUBLE_EQ(c.get_float("optim.lr"), e.lr);
    EXPECT_EQ(c.get_int("optim.warmup"), 0);
    EXPECT_LT(c.get_float("optim.grad_clip"), 0.0);
  }
  // The other NCSNv2-paper experiments of score_sde: a DDPM and an NCSN++ network trained with SMLD, and a
  // DDPM without the time input (NCSNv2's technique 3 on DDPM).
  auto load = [](const std::string& n) { return Config::resolve((configs_dir() / (n + ".yaml")).string(), {}); };
  Config ddpm = load("ve/cifar10_ddpm");
  EXPECT_EQ(ddpm.get_string("model.name"), "ddpm");
  EXPECT_TRUE(ddpm.get_bool("model.scale_by_sigma"));
  EXPECT_FALSE(ddpm.get_bool("training.continuous"));
  EXPECT_EQ(ddpm.get_string("training.sde"), "vesde");
  Config celeba = load("ve/celeba_ncsnpp");
  EXPECT_EQ(celeba.get_string("model.name"), "ncsnpp");
  EXPECT_EQ(celeba.get_int("data.image_size"), 64);
  EXPECT_DOUBLE_EQ(celeba.get_float("model.sigma_max"), 90.0);
  EXPECT_DOUBLE_EQ(celeba.get_float("sampling.snr"), 0.17);
  EXPECT_EQ(celeba.get_string("model.embedding_type"), "positional");
  EXPECT_FALSE(celeba.get_bool("training.continuous"));
  Config uncond = load("vp/ddpm/cifar10_unconditional");
  EXPECT_FALSE(uncond.get_bool("model.conditional"));
  EXPECT_EQ(uncond.get_string("training.sde"), "vpsde");
  EXPECT_TRUE(uncond.get_bool("training.reduce_mean"));
  EXPECT_TRUE(uncond.get_bool("data.centered"));
  EXPECT_EQ(uncond.get_string("sampling.predictor"), "ancestral_sampling");
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
