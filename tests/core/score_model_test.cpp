// The model factory reads every network key: the keys score_sde carries with a single implemented value
// (conv_size, normalization, attention_type) refuse any other value instead of training the implemented one.
#include "core/models/score_model.h"

#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"

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

}  // namespace
}  // namespace scorch
