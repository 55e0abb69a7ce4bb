// make_model_fn: precision and CUDA-graph wrapping of a models::ScoreModelImpl; its placement and process settings
// for sampling; per-device noise generators.
#include "sampler/model_fn.h"

#include <ATen/detail/CUDAHooksInterface.h>

#include "core/autocast.h"
#include "core/dist/device.h"
#include "core/dist/process.h"
#include "core/models/memory_format.h"
#include "core/rng.h"
#include "core/switch.h"
#include "sampler/cuda_graph.h"

namespace scorch::sampler {

sdes::ModelFn make_model_fn(models::ScoreModelImpl& model, const SamplingOptions& o, const torch::Device& device) {
  sdes::ModelFn fn;
  if (o.precision == "bf16") {
    const auto type = device.type();
    fn = [&model, type](const torch::Tensor& x, const torch::Tensor& labels) {
      // A scope per call: the weights' bf16 casts go with it, so none is left for a later forward after
      // the weights have changed in place (the trainer's snapshot samples with the EMA weights swapped in).
      AutocastGuard autocast(type, true, at::kBFloat16);
      return model.forward(x, labels).to(x.scalar_type()).contiguous();
    };
  } else {
    fn = [&model](const torch::Tensor& x, const torch::Tensor& labels) {
      return model.forward(x, labels).contiguous();
    };
  }
  if (o.cuda_graph && device.is_cuda()) fn = graphed(std::move(fn));
  return fn;
}

void place_for_sampling(models::ScoreModelImpl& model, const Config& config, const torch::Device& device) {
  model.to(device);
  if (switch_applies(config.get_switch("sampling.channels_last"), device.is_cuda())) models::to_channels_last(model);
}

void set_sampling_runtime(const Config& config, const torch::Device& device) {
  if (config.get_bool("sampling.deterministic")) {
    dist::set_deterministic(device, static_cast<int>(config.get_int("sampling.threads")));
    dist::set_tf32(false);
    return;
  }
  if (device.is_cpu()) dist::configure_cpu_threads(dist::info().local_world);
  dist::set_tf32(config.get_bool("sampling.tf32"));
}

torch::Generator make_generator(const torch::Device& device, uint64_t seed, uint64_t stream) {
  if (!device.is_cuda()) return cpu_generator(seed, stream);
  auto gen = at::detail::getCUDAHooks().getNewGenerator(device.index());
  gen.set_current_seed(mix_seed(seed, stream));
  return gen;
}

}  // namespace scorch::sampler
