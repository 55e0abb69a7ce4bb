// NCSN (Song & Ermon 2019, the dilated RefineNet CondRefineNetDilated) and NCSNv2 (Song & Ermon 2020:
// NCSNv2, NCSNv2Deeper, NCSNv2Deepest) with the originals' (ermongroup/ncsn, ermongroup/ncsnv2) names.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "core/models/refinenet_blocks.h"
#include "core/models/score_model.h"

namespace scorch::models {

// model.name: ncsn (v1: every norm conditional on the level index, no division by σ), ncsnv2 (32²/64²;
// score_sde calls it ncsnv2_64), ncsnv2_deeper (128², one more stage; ncsnv2_128), ncsnv2_deepest (256²,
// two more; ncsnv2_256). The v2 networks are unconditional and divide their output by σ of the level.
// time_cond is the level index into the descending ladder (0: σ_max), as score_sde's discrete VE labels.
// State: `sigmas` (float32, v2 only), begin_conv, normalizer, end_conv, res1..., refine1..., as the originals.
class NCSNv2Impl : public ScoreModelImpl {
 public:
  explicit NCSNv2Impl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& time_cond) override;  // (B,C,H,W), (B,)

  ModelConfig config;
  torch::Tensor sigmas;

 private:
  // One residual stage (two blocks) and one refine block, by their reference names.
  struct Stage {
    std::string name;
    torch::nn::ModuleList blocks;
  };
  void add_stage(const std::string& name, int64_t in, int64_t out, bool down, int64_t dilation);
  void add_refine(const std::string& name, const std::vector<int64_t>& in, int64_t out, bool start, bool end);

  RefineNetOptions options_;
  torch::nn::Conv2d begin_conv_{nullptr}, end_conv_{nullptr};
  InstanceNormPlus normalizer_{nullptr};
  std::vector<Stage> stages_;
  std::map<std::string, RefineBlock> refines_;
};

}  // namespace scorch::models
