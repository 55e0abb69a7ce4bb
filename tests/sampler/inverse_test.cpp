// Inpainting keeps the known pixels exactly and fills the rest from the model; colorization keeps the gray
// channel; masks.
#include "sampler/inverse.h"

#include <gtest/gtest.h>

#include "core/rng.h"
#include "core/sdes/ve_sde.h"
#include "core/sdes/vp_sde.h"
#include "support/gaussian.h"

namespace scorch::sampler {
namespace {

using test::Gaussian;

SamplingOptions small_pc() {
  SamplingOptions o;
  o.predictor = "reverse_diffusion";
  o.corrector = "langevin";
  o.eps = 1e-5;
  return o;
}

TEST(Inverse, InpaintingKeepsKnownPixelsAndFillsTheRest) {
  for (auto sde : std::vector<std::shared_ptr<sdes::Sde>>{std::make_shared<sdes::VESDE>(0.01, 10.0, 200),
                                                          std::make_shared<sdes::VPSDE>(0.1, 20.0, 200)}) {
    Gaussian g{0.4, 0.2};
    PcSampler pc(sde, g.score(sde), small_pc());
    auto gen = cpu_generator(4, 0);
    auto data = torch::full({256, 1, 8, 8}, 0.9);  // known pixels far from the model's mean 0.4
    auto mask = make_mask("left", 8, 8);
    auto out = inpaint(pc, *sde, data, mask, gen);
    auto known = mask.expand_as(out).to(torch::kBool);
    EXPECT_TRUE(torch::equal(out.masked_select(known), data.masked_select(known))) << sdes::sde_name(sde->kind());
    // The unknown half is a draw of the model (independent pixels): mean 0.4, std 0.2 (5 standard errors).
    auto fill = out.masked_select(~known).to(torch::kDouble);
    const double n = static_cast<double>(fill.numel());
    EXPECT_NEAR(fill.mean().item<double>(), 0.4, 5 * 0.2 / std::sqrt(n) + 0.004);
    EXPECT_NEAR(fill.std().item<double>(), 0.2, 5 * 0.2 / std::sqrt(2 * n) + 0.004);
  }
}

TEST(Inverse, ColorizationKeepsTheGrayChannel) {
  auto sde = std::make_shared<sdes::VESDE>(0.01, 10.0, 200);
  Gaussian g{0.5, 0.2};
  PcSampler pc(sde, g.score(sde), small_pc());
  auto gen = cpu_generator(5, 0);
  auto gray = torch::rand({16, 1, 4, 4}, gen).expand({16, 3, 4, 4}).contiguous();
  auto out = colorize(pc, *sde, gray, gen);
  using torch::indexing::Slice;
  auto kept = decouple(out).index({Slice(), 0}), want = decouple(gray).index({Slice(), 0});
  // Couple(decouple(.)) in float32: a few ulps.
  EXPECT_LT((kept - want).abs().max().item<double>(), 1e-5);
  // The colour channels were sampled: not the gray input's (zero) colour components.
  EXPECT_GT(decouple(out).index({Slice(), Slice(1, 3)}).abs().mean().item<double>(), 0.05);
  // M is orthonormal: couple inverts decouple.
  auto x = torch::randn({2, 3, 2, 2});
  EXPECT_LT((couple(decouple(x)) - x).abs().max().item<double>(), 1e-5);
}

TEST(Inverse, FitColoursKeepsTheGrayInsideTheUnitRange) {
  auto rgb = torch::tensor({1.4f, 0.2f, 0.3f, -0.3f, 0.5f, 0.4f, 0.2f, 0.3f, 0.4f}).view({3, 3, 1, 1});
  auto fit = fit_colours(rgb, rgb.mean(1, true));
  EXPECT_GE(fit.min().item<double>(), 0.0);
  EXPECT_LE(fit.max().item<double>(), 1.0);
  EXPECT_LT((fit.mean(1) - rgb.mean(1)).abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(torch::allclose(fit[2], rgb[2]));  // already inside: unchanged
}

TEST(Inverse, Masks) {
  EXPECT_EQ(make_mask("left", 4, 4).sum().item<double>(), 8);
  EXPECT_EQ(make_mask("center", 8, 8).sum().item<double>(), 64 - 16);
  EXPECT_EQ(make_mask("checker", 16, 16).sum().item<double>(), 128);
  EXPECT_TRUE(torch::equal(make_mask("random", 8, 8, 3), make_mask("random", 8, 8, 3)));
  try {
    make_mask("nonexistent.png", 8, 8);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("nonexistent.png"), std::string::npos);
  }
}

}  // namespace
}  // namespace scorch::sampler
