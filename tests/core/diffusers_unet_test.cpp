// The NCSN++ -> diffusers UNet2DModel mapping without Python: which shipped configs it takes (the networks of the
// published google/ncsnpp-* models) and refuses, and that every tensor of a deep network finds one place.
#include "core/io/diffusers_unet.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/models/model_weights.h"
#include "core/models/score_model.h"
#include "support/checks.h"
#include "support/run.h"

namespace scorch {
namespace {

Config shipped_diffusers_config(const std::string& name, const std::vector<std::string>& overrides = {}) {
  return Config::resolve(test::source_dir() + "/configs/" + name, overrides);
}

// The refusal message of `config`, or "" when it is expressible.
std::string diffusers_refusal(const Config& config) {
  try {
    io::check_diffusers_expressible(config);
    return "";
  } catch (const Error& e) {
    return e.message();
  }
}

TEST(DiffusersUnet, ThePublishedNcsnppNetworksAreExpressible) {
  // score_sde's ve/*_ncsnpp_continuous networks at 256 and 1024 pixels: output_skip / input_skip pyramids.
  for (const char* name : {"ve/celebahq_256_ncsnpp_continuous.yaml", "ve/ffhq_256_ncsnpp_continuous.yaml",
                           "ve/church_ncsnpp_continuous.yaml", "ve/bedroom_ncsnpp_continuous.yaml",
                           "ve/ffhq_ncsnpp_continuous.yaml", "ve/celebahq_ncsnpp_continuous.yaml"}) {
    SCOPED_TRACE(name);
    const auto config = shipped_diffusers_config(name);
    EXPECT_EQ(diffusers_refusal(config), "");
    const auto unet = io::diffusers_unet_config(config);
    const auto size = config.get_int("data.image_size");
    const auto levels = static_cast<int64_t>(config.get_int_list("model.ch_mult").size());
    ASSERT_EQ(unet["down_block_types"].size(), static_cast<size_t>(levels));
    // Attention at 16x16 only, in the down block of that resolution and the up block of the same one.
    for (int64_t i = 0; i < levels; ++i) {
      const bool attn = (size >> i) == 16;
      EXPECT_EQ(unet["down_block_types"][i], attn ? "AttnSkipDownBlock2D" : "SkipDownBlock2D") << i;
      EXPECT_EQ(unet["up_block_types"][levels - 1 - i], attn ? "AttnSkipUpBlock2D" : "SkipUpBlock2D") << i;
    }
    EXPECT_EQ(unet["sample_size"], size);
  }
}

TEST(DiffusersUnet, OtherShippedNetworksAreRefusedByKey) {
  EXPECT_TRUE(test::contains(diffusers_refusal(shipped_diffusers_config("ve/cifar10_ncsnpp_continuous.yaml")),
                             "model.progressive = none cannot be exported to diffusers"));
  EXPECT_TRUE(test::contains(diffusers_refusal(shipped_diffusers_config("vp/cifar10_ddpmpp_continuous.yaml")),
                             "training.sde = vpsde cannot be exported"));
  const std::vector<std::string> skips = {"model.progressive=output_skip", "model.progressive_input=input_skip"};
  // Each condition on its own, on a network that is otherwise the published celebahq_256 one.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"model.embedding_type=positional", "model.embedding_type = positional"},
      {"model.scale_by_sigma=false", "model.scale_by_sigma = false"},
      {"model.resblock_type=ddpm", "model.resblock_type = ddpm"},
      {"model.progressive_combine=cat", "model.progressive_combine = cat"},
      {"model.fir_kernel=[1,1]", "model.fir_kernel = 1,1"},
      {"model.skip_rescale=false", "model.skip_rescale = false"},
      {"model.nonlinearity=elu", "model.nonlinearity = elu"},
      {"model.ch_mult=[2,2,2,2,2,2,2]", "model.ch_mult = 2,2,2,2,2,2,2"},
      {"data.centered=true", "data.centered = true"},
      {"model.nf=16",
       "model.attn_resolutions = 16 cannot be exported to diffusers: attention at resolution 16 runs "
       "on nf * ch_mult[4] = 32 channels"},
  };
  for (const auto& [set, message] : cases) {
    const auto refusal = diffusers_refusal(shipped_diffusers_config("ve/celebahq_256_ncsnpp_continuous.yaml", {set}));
    EXPECT_TRUE(test::contains(refusal, message)) << set << ": " << refusal;
  }
  // Attention on 128 channels, but with no resnet per level the up path's only resnet at 8x8 concatenates 32 + 32
  // channels: diffusers' AttnSkipUpBlock2D gives it min(32 + 32 // 4, 32) = 32 groups, NCSN++ 16.
  const auto refusal = diffusers_refusal(shipped_diffusers_config(
      "small/ve_tiny.yaml", {"model.progressive=output_skip", "model.progressive_input=input_skip", "model.nf=32",
                             "model.ch_mult=[1,4,1]", "model.num_res_blocks=0"}));
  EXPECT_TRUE(test::contains(refusal,
                             "model.ch_mult = 1,4,1 cannot be exported to diffusers: the up-path resnet 0 at "
                             "resolution 8 takes 64 input channels"))
      << refusal;
}

TEST(DiffusersUnet, EveryTensorOfADeepNetworkFindsOnePlace) {
  // celebahq_256's seven resolutions at half the width (attention still on 128 channels).
  const auto config = shipped_diffusers_config("ve/celebahq_256_ncsnpp_continuous.yaml", {"model.nf=64"});
  torch::NoGradGuard no_grad;
  auto model = models::make_model(config);
  const auto state = models::state_dict(*model);
  const auto out = io::to_diffusers_unet(state, config, "test");
  EXPECT_EQ(out.size(), state.size() - 1);  // all but the sigmas buffer, no name twice
  // Module order (core/models/ncsnpp.cpp): W, two Dense, conv_in, then level 0 of the down path.
  EXPECT_TRUE(torch::equal(out.at("time_proj.weight"), state.at("all_modules.0.W")));
  EXPECT_TRUE(torch::equal(out.at("down_blocks.0.resnets.0.conv1.weight"), state.at("all_modules.4.Conv_0.weight")));
  // Level 4 (16x16) holds attention; the mid block's attention NIN W is (in, out), a Linear weight (out, in).
  EXPECT_TRUE(out.count("down_blocks.4.attentions.1.to_out.0.weight"));
  EXPECT_TRUE(out.count("up_blocks.2.attentions.0.group_norm.bias"));
  EXPECT_FALSE(out.count("up_blocks.6.skip_conv.weight"));  // full resolution: UNet2DModel's conv_out instead
  EXPECT_EQ(out.at("conv_out.weight").size(0), 3);
}

TEST(DiffusersUnet, AMissingTensorIsNamed) {
  const auto config = shipped_diffusers_config(
      "small/ve_tiny.yaml",
      {"model.progressive=output_skip", "model.progressive_input=input_skip", "model.nf=32", "model.ch_mult=[1,4]"});
  torch::NoGradGuard no_grad;
  auto state = models::state_dict(*models::make_model(config));
  state.erase("all_modules.3.bias");
  try {
    io::to_diffusers_unet(state, config, "ck.safetensors");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(test::contains(e.message(), "ck.safetensors: tensor 'all_modules.3.bias' (diffusers' 'conv_in.bias')"))
        << e.message();
  }
}

}  // namespace
}  // namespace scorch
