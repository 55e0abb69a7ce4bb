// make_model_fn: precision and CUDA-graph wrapping of a ScoreModelImpl; per-device noise generators.
#include "sampler/model_fn.h"

#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include "core/rng.h"
#include "sampler/cuda_graph.h"

namespace scorch::sampler {

ModelFn make_model_fn(ScoreModelImpl& model, const SamplingOptions& o, const torch::Device& device) {
  ModelFn fn;
  if (o.precision == "bf16") {
    const auto type = device.type();
    fn = [&model, type](const torch::Tensor& x, const torch::Tensor& labels) {
      const bool was = at::autocast::is_autocast_enabled(type);
      const auto was_dtype = at::autocast::get_autocast_dtype(type);
      at::autocast::set_autocast_enabled(type, true);
      at::autocast::set_autocast_dtype(type, at::kBFloat16);
      torch::Tensor out;
      try {
        out = model.forward(x, labels);
      } catch (...) {
        at::autocast::set_autocast_enabled(type, was);
        at::autocast::set_autocast_dtype(type, was_dtype);
        throw;
      }
      at::autocast::set_autocast_enabled(type, was);
      at::autocast::set_autocast_dtype(type, was_dtype);
      return out.to(x.scalar_type());
    };
  } else {
    fn = [&model](const torch::Tensor& x, const torch::Tensor& labels) { return model.forward(x, labels); };
  }
  if (o.cuda_graph && device.is_cuda()) fn = graphed(std::move(fn));
  return fn;
}

torch::Generator make_generator(const torch::Device& device, uint64_t seed, uint64_t stream) {
  if (!device.is_cuda()) return cpu_generator(seed, stream);
  auto gen = at::detail::getCUDAHooks().getNewGenerator(device.index());
  gen.set_current_seed(mix_seed(seed, stream));
  return gen;
}

}  // namespace scorch::sampler
