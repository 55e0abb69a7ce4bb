// run_inverse_farm: checks the dataset against the model, then one farm batch per data batch, each solved
// by a fresh PC sampler seeded from its batch id.
#include "sampler/inverse_farm.h"

#include <filesystem>

#include "core/dist/communicator.h"
#include "core/error.h"
#include "data/dataset.h"
#include "sampler/inverse.h"
#include "sampler/model_fn.h"
#include "sampler/model_images.h"
#include "sampler/options.h"
#include "sampler/pc_sampler.h"

namespace scorch::sampler {

torch::Tensor check_inverse(const DiffusionSampler& sampler, const InverseProblem& p, uint64_t seed) {
  data::Dataset ds(p.data);
  const auto s = sampler.image_shape();  // (C, H, W)
  check_model_images(ds, s);
  SCORCH_CHECK(!p.colorization || s[0] == 3, "colorization needs an RGB model, this one has {} channel(s)", s[0]);
  SCORCH_CHECK_HINT(sampler.options().method == "pc", "set --sampling.method pc",
                    "inpainting and colorization use the PC sampler");
  if (p.colorization) return {};
  return make_mask(p.mask, s[1], s[2], seed).to(sampler.device());
}

FarmReport run_inverse_farm(DiffusionSampler& sampler, const InverseProblem& p, const Config& config, FarmOptions o,
                            dist::Communicator& comm) {
  const auto mask = check_inverse(sampler, p, o.seed);  // (1, 1, H, W), 1 = known
  data::Dataset ds(p.data);
  const auto s = sampler.image_shape();  // (C, H, W)
  const auto device = sampler.device();
  o.num = std::min(o.num, ds.size());
  o.round_pixels = true;
  auto so = sampler.options();
  so.eps = so.inverse_eps;
  // Images [first, first + count) in [0, 1], (count, C, H, W); colorization gets their gray as RGB.
  auto inputs = [&](int64_t first, int64_t count) {
    auto x = read_unit_images(ds, first, count, device);
    return p.colorization ? x.mean(1, true).expand({count, 3, s[1], s[2]}).contiguous() : x;
  };
  BatchProducer produce = [&](int64_t id, int64_t count, int64_t* nfe) {
    auto gen = make_generator(device, o.seed, static_cast<uint64_t>(id));
    PcSampler pc(sampler.sde(), sampler.pc_score(), so);
    auto x = from_unit_range(inputs(id * o.batch, count), so.centered);
    auto y = p.colorization ? colorize(pc, *sampler.sde(), x, gen) : inpaint(pc, *sampler.sde(), x, mask, gen);
    *nfe = pc.nfe();
    auto rgb = to_unit_range(y, so.centered);
    return p.colorization ? fit_colours(rgb, to_unit_range(x, so.centered).mean(1, true)) : rgb.clamp(0.0, 1.0);
  };
  const auto report = run_farm(produce, s, config, o, comm);
  if (comm.rank() == 0 && o.grid > 0) {
    auto x = inputs(0, std::min(o.grid, o.num));
    if (!p.colorization) x = x * mask + 0.5 * (1.0 - mask);  // unknown pixels gray
    write_grid_png((std::filesystem::path(o.out) / "input-grid.png").string(), x);
  }
  return report;
}

}  // namespace scorch::sampler
