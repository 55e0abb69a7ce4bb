// The four RefineNet score networks: one class, the stage lists differ by depth (ncsnv2 runners pick the
// class by dataset; scorch by model.name).
#include "core/models/ncsnv2.h"

#include <fmt/ranges.h>

#include "core/error.h"

namespace scorch::models {

NCSNv2Impl::NCSNv2Impl(const ModelConfig& c) : config(c) {
  const bool v1 = c.name == "ncsn";
  options_ = {make_activation(c.nonlinearity), v1 ? c.num_scales : 0};
  const int64_t ngf = c.nf, img = c.num_channels;
  if (!v1) sigmas = register_buffer("sigmas", ve_sigmas(c.sigma_min, c.sigma_max, c.num_scales).to(torch::kFloat32));
  begin_conv_ = register_module("begin_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(img, ngf, 3).padding(1)));
  normalizer_ = register_module("normalizer", InstanceNormPlus(ngf, options_.num_classes, true));
  end_conv_ = register_module("end_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(ngf, img, 3).padding(1)));
  add_stage("res1", ngf, ngf, false, 1);
  add_stage("res2", ngf, 2 * ngf, true, 1);
  if (c.name == "ncsn" || c.name == "ncsnv2") {
    add_stage("res3", 2 * ngf, 2 * ngf, true, 2);
    add_stage("res4", 2 * ngf, 2 * ngf, true, 4);
    add_refine("refine1", {2 * ngf}, 2 * ngf, true, false);
    add_refine("refine2", {2 * ngf, 2 * ngf}, 2 * ngf, false, false);
    add_refine("refine3", {2 * ngf, 2 * ngf}, ngf, false, false);
    add_refine("refine4", {ngf, ngf}, ngf, false, true);
    return;
  }
  const bool deepest = c.name == "ncsnv2_deepest";
  add_stage("res3", 2 * ngf, 2 * ngf, true, 1);
  if (deepest) add_stage("res31", 2 * ngf, 2 * ngf, true, 1);
  add_stage("res4", 2 * ngf, 4 * ngf, true, 2);
  add_stage("res5", 4 * ngf, 4 * ngf, true, 4);
  add_refine("refine1", {4 * ngf}, 4 * ngf, true, false);
  add_refine("refine2", {4 * ngf, 4 * ngf}, 2 * ngf, false, false);
  add_refine("refine3", {2 * ngf, 2 * ngf}, 2 * ngf, false, false);
  if (deepest) add_refine("refine31", {2 * ngf, 2 * ngf}, 2 * ngf, false, false);
  add_refine("refine4", {2 * ngf, 2 * ngf}, ngf, false, false);
  add_refine("refine5", {ngf, ngf}, ngf, false, true);
}

// The first block changes channels and resamples; the second keeps both (with the stage's dilation).
void NCSNv2Impl::add_stage(const std::string& name, int64_t in, int64_t out, bool down, int64_t dilation) {
  auto blocks = register_module(name, torch::nn::ModuleList());
  blocks->push_back(NcsnResidualBlock(in, out, down, dilation, options_));
  blocks->push_back(NcsnResidualBlock(out, out, false, dilation, options_));
  stages_.push_back({name, blocks});
}

void NCSNv2Impl::add_refine(const std::string& name, const std::vector<int64_t>& in, int64_t out, bool start,
                            bool end) {
  refines_.emplace(name, register_module(name, RefineBlock(in, out, start, end, options_)));
}

torch::Tensor NCSNv2Impl::forward(const torch::Tensor& x_in, const torch::Tensor& time_cond) {
  SCORCH_CHECK(time_cond.dim() == 1 && time_cond.size(0) == x_in.size(0),
               "{}: time_cond must be (B,) level indices, got shape [{}]", config.name,
               fmt::join(time_cond.sizes(), ", "));
  const auto y = time_cond.is_floating_point() ? time_cond.round().to(torch::kLong) : time_cond.to(torch::kLong);
  const auto x = config.centered ? x_in : 2 * x_in - 1.0;  // (B, C, H, W) in [-1, 1]
  std::map<std::string, torch::Tensor> l;                  // stage outputs by stage name
  auto h = begin_conv_->forward(x);
  for (auto& s : stages_) {
    for (auto& block : *s.blocks) h = block->as<NcsnResidualBlockImpl>()->forward(h, y);
    l[s.name] = h;
  }
  const auto refine = [&](const char* name, std::vector<torch::Tensor> xs) {
    return refines_.at(name)->forward(xs, y);
  };
  torch::Tensor out;
  if (l.count("res5") == 0) {
    auto r = refine("refine1", {l["res4"]});
    r = refine("refine2", {l["res3"], r});
    r = refine("refine3", {l["res2"], r});
    out = refine("refine4", {l["res1"], r});
  } else {
    auto r = refine("refine1", {l["res5"]});
    r = refine("refine2", {l["res4"], r});
    if (l.count("res31")) r = refine("refine31", {l["res31"], r});
    r = refine("refine3", {l["res3"], r});
    r = refine("refine4", {l["res2"], r});
    out = refine("refine5", {l["res1"], r});
  }
  out = end_conv_->forward(options_.act(normalizer_->forward(out, y)));  // (B, C, H, W)
  if (config.name == "ncsn") return out;
  return out / sigmas.index({y}).to(out.scalar_type()).view({-1, 1, 1, 1});
}

}  // namespace scorch::models
