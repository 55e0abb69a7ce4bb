// run_inverse_farm: checks the dataset against the model, then one farm batch per data batch, each solved
// by a fresh PC sampler seeded from its batch id.
#include "sampler/inverse_farm.h"

#include <filesystem>

#include "core/dist/communicator.h"
#include "core/error.h"
#include "core/sha256.h"
#include "data/dataset.h"
#include "data/format.h"
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

FarmOptions inverse_farm_options(const InverseProblem& p, FarmOptions o) {
  o.num = std::min(o.num, data::Dataset(p.data).size());
  o.round_pixels = true;
  // The data by its manifest (which holds every shard's digest), not by how its path was spelled.
  o.task = {{"kind", p.colorization ? "colorize" : "inpaint"},
            {"data_sha256", sha256_file((std::filesystem::path(p.data) / data::kManifestName).string())}};
  // A mask file by its bytes, however its path is spelled; a built-in one by name.
  if (!p.colorization) {
    if (std::filesystem::is_regular_file(p.mask))
      o.task["mask_sha256"] = sha256_file(p.mask);
    else
      o.task["mask"] = p.mask;
  }
  return o;
}

FarmReport run_inverse_farm(DiffusionSampler& sampler, const InverseProblem& p, const Config& config, FarmOptions o,
                            dist::Communicator& comm) {
  const auto mask = check_inverse(sampler, p, o.seed);  // (1, 1, H, W), 1 = known
  data::Dataset ds(p.data);
  const auto s = sampler.image_shape();  // (C, H, W)
  const auto device = sampler.device();
  o = inverse_farm_options(p, std::move(o));
  auto so = sampler.options();
  so.eps = so.inverse_eps;
  // `rows` images from `first` on in [0, 1], (rows, C, H, W); colorization gets their gray as RGB.
  auto inputs = [&](int64_t first, int64_t rows) {
    auto x = read_unit_images(ds, first, rows, device);
    return p.colorization ? x.mean(1, true).expand({rows, 3, s[1], s[2]}).contiguous() : x;
  };
  BatchProducer produce = [&](int64_t id, int64_t count, int64_t* nfe) {
    auto gen = make_generator(device, o.seed, static_cast<uint64_t>(id));
    PcSampler pc(sampler.sde(), sampler.pc_score(), so);
    // Solved as a whole batch and cut (model_images.h): the noise is drawn for the whole batch.
    auto x = from_unit_range(inputs(id * o.batch, whole_batch_rows(id * o.batch, o.batch, ds.size())), so.centered);
    auto y = p.colorization ? colorize(pc, *sampler.sde(), x, gen) : inpaint(pc, *sampler.sde(), x, mask, gen);
    *nfe = pc.nfe();
    auto rgb = to_unit_range(y, so.centered);
    rgb = p.colorization ? fit_colours(rgb, to_unit_range(x, so.centered).mean(1, true)) : rgb.clamp(0.0, 1.0);
    return rgb.slice(0, 0, count);
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
