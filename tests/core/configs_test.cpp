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
  // 25 reference configs + 4 small ones; fewer means a file went missing.
  EXPECT_GE(files.size(), 29u);
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
}

}  // namespace
}  // namespace scorch
