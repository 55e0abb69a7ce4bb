// The model factory reads every network key: the keys score_sde carries with a single implemented value
// (conv_size, normalization, attention_type) refuse any other value instead of training the implemented one.
#include "core/models/score_model.h"

#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "core/models/model_weights.h"
#include "support/run.h"

namespace scorch {
namespace {

std::string error_of(const std::vector<std::string>& sets) {
  try {
    models::ModelConfig::from(Config::resolve("", sets));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ScoreModel, UnimplementedNetworkKeyValuesAreRefusedNamingKeyAndValue) {
  auto msg = error_of({"model.conv_size=5"});
  EXPECT_NE(msg.find("model.conv_size = 5 (from --set) is not implemented"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.conv_size = 3"), std::string::npos) << msg;
  msg = error_of({"model.normalization=BatchNorm"});
  EXPECT_NE(msg.find("model.normalization = BatchNorm"), std::string::npos) << msg;
  msg = error_of({"model.attention_type=legacy"});
  EXPECT_NE(msg.find("model.attention_type = legacy"), std::string::npos) << msg;
}

TEST(ScoreModel, ImplementedValuesOfThoseKeysAreAccepted) {
  EXPECT_EQ(error_of({"model.conv_size=3", "model.normalization=GroupNorm", "model.attention_type=ddpm"}), "");
}

TEST(ScoreModel, NegativeCheckpointingResolutionIsRefusedNamingTheKey) {
  const auto msg = error_of({"model.grad_checkpointing=true", "model.grad_checkpointing_min_resolution=-3"});
  EXPECT_NE(msg.find("model.grad_checkpointing_min_resolution = -3 (from --set)"), std::string::npos) << msg;
}

// A ladder of fewer than 2 levels failed in LibTorch's linspace (a stack trace naming no key), or built an NCSN.
TEST(ScoreModel, FewerThanTwoNoiseLevelsAreRefusedNamingTheKey) {
  for (const char* name : {"ncsnpp", "ncsn"}) {
    const auto msg = error_of({std::string("model.name=") + name, "model.num_scales=-5", "training.continuous=false",
                               std::string("model.normalization=") + (name[4] ? "GroupNorm" : "InstanceNorm++")});
    EXPECT_NE(msg.find("model.num_scales = -5 (from --set): expected at least 2 noise levels"), std::string::npos)
        << name << ": " << msg;
  }
}

// The Fourier embedding takes the log of the label, and the discrete objectives label the first level 0: training
// went on with NaN losses skipped and sampling gave NaN images. score_sde's discrete configs use positional.
TEST(ScoreModel, FourierEmbeddingOnDiscreteLevelsIsRefused) {
  for (const char* name : {"ncsnpp", "mlp"}) {
    const auto msg =
        error_of({std::string("model.name=") + name, "model.embedding_type=fourier", "training.continuous=false"});
    EXPECT_NE(msg.find("model.embedding_type = fourier (from --set) with training.continuous = false (from --set)"),
              std::string::npos)
        << name << ": " << msg;
  }
  EXPECT_EQ(error_of({"model.embedding_type=positional", "training.continuous=false"}), "");
  EXPECT_EQ(error_of({"model.embedding_type=fourier", "training.continuous=true"}), "");
}

// A file holding both `x` and DataParallel's `module.x` has two values for one tensor: the second read silently
// replaced the first.
TEST(ScoreModel, WeightsGivenTwiceUnderDataParallelsPrefixAreRefused) {
  const Config config = Config::resolve(test::source_dir() + "/configs/small/mixture_mlp.yaml", {});
  auto model = models::make_model(config);
  auto weights = models::state_dict(*model);
  models::load_reference_weights(*model, weights, "plain.safetensors");
  const auto first = weights.begin()->first;
  weights["module." + first] = weights.begin()->second * 0.5;
  try {
    models::load_reference_weights(*model, weights, "both.safetensors");
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weights both.safetensors: tensor '" + first + "' is given twice"),
              std::string::npos)
        << e.what();
  }
}

std::string build_error(const std::vector<std::string>& sets) {
  try {
    models::make_model(Config::resolve("", sets));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// What the U-Nets used to build without a word (no attention at a width they never have; an empty FIR kernel
// that failed at the first step) or refuse in LibTorch's terms.
TEST(ScoreModel, TheUnetLadderAndItsKeysAreCheckedByName) {
  const std::vector<std::string> small = {"model.nf=32", "model.ch_mult=[1, 2]", "model.num_res_blocks=1",
                                          "data.image_size=8", "model.attn_resolutions=[4]"};
  EXPECT_EQ(build_error(small), "");
  for (const char* name : {"ncsnpp", "ddpm"}) {
    auto sets = small;
    sets.push_back(std::string("model.name=") + name);
    sets.push_back("model.attn_resolutions=[5]");
    // Built, as score_sde builds it (checkpoints of such networks load), with a warning.
    EXPECT_EQ(build_error(sets), "") << name;
    std::string cmd = test::scorch_bin() + " model summary";
    for (const auto& kv : sets) cmd += " --set '" + kv + "'";
    const auto r = test::run(cmd + " 2>&1");
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("model.attn_resolutions holds 5, a width the network never has (its widths are 8, 4)"),
              std::string::npos)
        << name << ": " << r.output;
    sets.back() = "data.image_size=0";
    const auto msg = build_error(sets);
    EXPECT_NE(msg.find("data.image_size 0 is not a positive multiple of 2^1"), std::string::npos) << msg;
  }
  auto sets = small;
  sets.push_back("model.fir_kernel=[]");
  EXPECT_NE(build_error(sets).find("model.fir is true but model.fir_kernel is empty"), std::string::npos);
  sets.back() = "model.nf=3";
  EXPECT_NE(build_error(sets).find("a model.nf that is a multiple of 32 always works"), std::string::npos);
}

}  // namespace
}  // namespace scorch
