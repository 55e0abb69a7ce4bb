// gpu_bench profile-sample: a Kineto trace of one batch of one of gpu_bench sample's rows, for trace_summary.py.
#include <algorithm>

#include "bench/gpu_bench/bench.h"
#include "core/error.h"
#include "sampler/diffusion_sampler.h"

namespace scorch::gpu_bench {

int cmd_profile_sample(Bench& b, int64_t batch, const std::string& num_scales, const std::string& row,
                       const std::string& trace) {
  const auto& rows = sample_rows();
  const auto it = std::find_if(rows.begin(), rows.end(), [&](const SampleRow& r) { return r.name == row; });
  if (it == rows.end()) {
    std::string names;
    for (const auto& r : rows) names += (names.empty() ? "" : ", ") + r.name;
    SCORCH_FAIL("gpu_bench profile-sample: no sample row '{}'; expected one of {}", row, names);
  }
  const auto base = sample_base(b, num_scales);
  const auto model = sample_model(b, base, "");
  const Config c = sample_row_config(b, base, *it, *model);
  sampler::DiffusionSampler diffusion(*model, c, b.device);
  // Untimed first batch: cuDNN's algorithm choice and the CUDA graphs' capture stay out of the window.
  const auto first = diffusion.sample(batch, 0, 0);
  synchronize(b.device);
  SCORCH_CHECK(torch::isfinite(first).all().item<bool>(), "validation: {}: non-finite samples", row);
  TraceWindow window(b.device);
  window.start();
  const auto t = Clock::now();
  diffusion.sample(batch, 0, 1);
  synchronize(b.device);
  const double s = seconds_since(t);
  window.stop(trace);
  emit({{"bench", "profile_run"},
        {"config", b.config_path},
        {"sampler", row},
        {"batch", batch},
        {"num_scales", num_scales},
        {"nfe", diffusion.last_nfe()},
        {"seconds", s},
        {"trace", trace}},
       b.device);
  return 0;
}

}  // namespace scorch::gpu_bench
