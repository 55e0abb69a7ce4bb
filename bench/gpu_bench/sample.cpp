// gpu_bench sample: PC sampling eager, from CUDA graphs and in bf16, and the RK45 ODE, after validating that
// the graphed sampler draws the eager one's images; the graphed PC and the ODE again with TF32 convolutions
// (PyTorch's default, which score_sde_pytorch runs with); then the graphed rows with channels_last weights
// (sampling.channels_last), validated against the NCHW images.
#include "bench/gpu_bench/bench.h"
#include "core/error.h"
#include "core/io/checkpoint_files.h"
#include "sampler/cuda_graph.h"
#include "sampler/diffusion_sampler.h"
#include "sampler/model_fn.h"
#include "sampler/pc_step_graph.h"

namespace scorch::gpu_bench {

const std::vector<SampleRow>& sample_rows() {
  static const std::vector<SampleRow> rows = {
      {"pc_fp32_eager", {"sampling.cuda_graph=false"}},
      {"pc_fp32_graph", {"sampling.cuda_graph=true"}},
      {"pc_bf16_eager", {"sampling.cuda_graph=false", "sampling.precision=bf16"}},
      {"pc_bf16_graph", {"sampling.cuda_graph=true", "sampling.precision=bf16"}},
      {"ode_rk45_fp32", {"sampling.cuda_graph=false", "sampling.method=ode"}},
      {"pc_tf32_graph", {"sampling.cuda_graph=true", "sampling.tf32=true"}},
      {"ode_rk45_tf32", {"sampling.cuda_graph=false", "sampling.method=ode", "sampling.tf32=true"}},
      // Last: the shared network turns channels_last at the first of these and stays so.
      {"pc_fp32_graph_cl", {"sampling.cuda_graph=true", "sampling.channels_last=true"}},
      {"pc_bf16_graph_cl", {"sampling.cuda_graph=true", "sampling.precision=bf16", "sampling.channels_last=true"}},
  };
  return rows;
}

Config sample_base(const Bench& b, const std::string& num_scales) {
  return b.config({"model.num_scales=" + num_scales, "device=" + b.device.str()});
}

std::shared_ptr<models::ScoreModelImpl> sample_model(const Bench& b, const Config& base, const std::string& ckpt) {
  if (!ckpt.empty()) return io::load_inference_model(ckpt, "ema", b.device).model;
  torch::manual_seed(0);
  auto model = models::make_model(base);
  model->to(b.device);
  return model;
}

Config sample_row_config(const Bench& b, const Config& base, const SampleRow& row, models::ScoreModelImpl& model) {
  Config c = base;
  for (const auto& kv : row.sets) c.set_assignment(kv, "gpu_bench");
  sampler::set_sampling_runtime(c, b.device);  // TF32 as the row says, as scorch sample sets it
  sampler::place_for_sampling(model, c, b.device);
  return c;
}

int cmd_sample(Bench& b, int64_t batch, const std::string& num_scales, const std::string& ckpt) {
  const auto base = sample_base(b, num_scales);
  const auto model = sample_model(b, base, ckpt);
  torch::Tensor reference;
  for (const auto& row : sample_rows()) {
    const Config c = sample_row_config(b, base, row, *model);
    sampler::DiffusionSampler diffusion(*model, c, b.device);
    const auto row_start = sampler::cuda_graph_stats();
    const auto step_row_start = sampler::pc_step_graph_stats();
    // Untimed first batch: cuDNN's algorithm choice and the CUDA-graph capture (the PC rows capture whole
    // steps; the counts of network-call graphs and of whole-step graphs are reported apart).
    auto first = diffusion.sample(batch, 0, 0);
    synchronize(b.device);
    SCORCH_CHECK(torch::isfinite(first).all().item<bool>(), "validation: {}: non-finite samples", row.name);
    // The graphed fp32 sampler must draw the eager sampler's images (same seed, same batch).
    if (row.name == "pc_fp32_eager") reference = first;
    if (row.name == "pc_fp32_graph") {
      const double diff = (first - reference).abs().max().item<double>();
      SCORCH_CHECK(diff <= 1e-4, "validation: CUDA-graph samples differ from eager ones by {}", diff);
    }
    // NHWC convolutions add in another order than NCHW ones, which 100 steps amplify; a channel read in the wrong
    // layout would move the [0, 1] images by far more than 1e-2.
    if (row.name == "pc_fp32_graph_cl") {
      const double diff = (first - reference).abs().max().item<double>();
      SCORCH_CHECK(diff <= 1e-2, "validation: channels_last samples differ from NCHW ones by {}", diff);
    }
    const auto t = Clock::now();
    auto x = diffusion.sample(batch, 0, 1);
    synchronize(b.device);
    const double s = seconds_since(t);
    emit({{"bench", "sample"},
          {"config", b.config_path},
          {"sampler", row.name},
          {"batch", batch},
          {"num_scales", num_scales},
          {"seconds", s},
          {"nfe", diffusion.last_nfe()},
          {"samples_per_s", batch / s},
          {"weights", ckpt.empty() ? "fresh" : ckpt},
          {"tf32", c.get_bool("sampling.tf32")},
          // This row's own counts over both its batches (the counters are process-wide).
          {"graphs_captured", sampler::cuda_graph_stats().captured - row_start.captured},
          {"graph_captures_failed", sampler::cuda_graph_stats().fell_back - row_start.fell_back},
          {"step_graphs_captured", sampler::pc_step_graph_stats().captured - step_row_start.captured},
          {"step_graph_captures_failed", sampler::pc_step_graph_stats().fell_back - step_row_start.fell_back}},
         b.device);
  }
  return 0;
}

}  // namespace scorch::gpu_bench
