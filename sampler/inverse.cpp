// Inpainting and colorization as projections around the PC sampler's updates; built-in and file masks.
#include "sampler/inverse.h"

#include <filesystem>

#include "core/error.h"
#include "core/io/image_io.h"
#include "core/rng.h"

namespace scorch::sampler {

namespace {

// Replaces the known part (mask = 1) of u by a draw of p_t(. | known): x keeps the noisy draw, x_mean the
// mean (unknown region: the update's own mean).
Update project(const Update& u, const sdes::Sde& sde, const torch::Tensor& known, const torch::Tensor& mask,
               const torch::Tensor& t, torch::Generator& gen) {
  auto ms = sde.marginal_prob(known, t);
  auto draw = ms.mean + sdes::randn_with(u.x.sizes(), gen, u.x.options()) * sdes::per_sample(ms.std);
  return {u.x * (1.0 - mask) + draw * mask, u.x_mean * (1.0 - mask) + ms.mean * mask};
}

}  // namespace

torch::Tensor inpaint(PcSampler& pc, const sdes::Sde& sde, const torch::Tensor& data, const torch::Tensor& mask,
                      torch::Generator& gen) {
  SCORCH_CHECK(data.dim() == 4, "inpaint expects data (B, C, H, W), got {}", c10::str(data.sizes()));
  auto m = mask.to(data.options()).expand_as(data);
  auto x = data * m + sde.prior_sampling(data.sizes(), gen, data.options()) * (1.0 - m);
  auto out = pc.run(x, gen, [&](const Update& u, const torch::Tensor& t, torch::Generator& g) {
    return project(u, sde, data, m, t, g);
  });
  return out * (1.0 - m) + data * m;
}

torch::Tensor colour_matrix() {
  return torch::tensor({{5.7735014e-01, -8.1649649e-01, 4.7008697e-08},
                        {5.7735026e-01, 4.0824834e-01, 7.0710671e-01},
                        {5.7735026e-01, 4.0824822e-01, -7.0710683e-01}},
                       torch::kFloat32);
}

torch::Tensor decouple(const torch::Tensor& x) {
  return torch::einsum("bihw,ij->bjhw", {x, colour_matrix().to(x.device(), x.scalar_type())});
}

torch::Tensor couple(const torch::Tensor& y) {
  // Inverted once, in float64 (LAPACK per call would dominate the sampler on a CPU).
  static const torch::Tensor inv = torch::inverse(colour_matrix().to(torch::kFloat64));
  return torch::einsum("bihw,ij->bjhw", {y, inv.to(y.device(), y.scalar_type())});
}

torch::Tensor colorize(PcSampler& pc, const sdes::Sde& sde, const torch::Tensor& gray, torch::Generator& gen) {
  SCORCH_CHECK(gray.dim() == 4 && gray.size(1) == 3, "colorize expects gray images as (B, 3, H, W), got {}",
               c10::str(gray.sizes()));
  auto mask = torch::zeros({1, 3, 1, 1}, gray.options());
  mask.index_put_({0, 0}, 1.0);  // the decoupled gray channel is known
  mask = mask.expand_as(gray);
  auto known = decouple(gray);
  // Orthonormal M: the prior's decoupled channels are the same Gaussian.
  auto x = couple(known * mask + decouple(sde.prior_sampling(gray.sizes(), gen, gray.options())) * (1.0 - mask));
  auto out = pc.run(x, gen, [&](const Update& u, const torch::Tensor& t, torch::Generator& g) {
    auto d = project({decouple(u.x), decouple(u.x_mean)}, sde, known, mask, t, g);
    return Update{couple(d.x), couple(d.x_mean)};
  });
  return couple(decouple(out) * (1.0 - mask) + known * mask);
}

torch::Tensor fit_colours(const torch::Tensor& rgb, const torch::Tensor& gray_in) {
  auto gray = gray_in.clamp(0.0, 1.0);    // (B, 1, H, W)
  auto chroma = rgb - rgb.mean(1, true);  // (B, 3, H, W)
  // Largest scale <= 1 keeping gray + scale * chroma inside [0, 1] in every channel.
  auto room = torch::where(chroma > 0, (1.0 - gray) / chroma,
                           torch::where(chroma < 0, gray / -chroma, torch::full_like(chroma, 1.0)));
  auto scale = room.amin(1, true).clamp(0.0, 1.0);
  return (gray + scale * chroma).clamp(0.0, 1.0);
}

torch::Tensor make_mask(const std::string& spec, int64_t h, int64_t w, uint64_t seed) {
  auto mask = torch::zeros({1, 1, h, w}, torch::kFloat32);
  using torch::indexing::Slice;
  if (spec == "left") {
    mask.index_put_({Slice(), Slice(), Slice(), Slice(0, w / 2)}, 1.0);
  } else if (spec == "right") {
    mask.index_put_({Slice(), Slice(), Slice(), Slice(w / 2, w)}, 1.0);
  } else if (spec == "top") {
    mask.index_put_({Slice(), Slice(), Slice(0, h / 2)}, 1.0);
  } else if (spec == "bottom") {
    mask.index_put_({Slice(), Slice(), Slice(h / 2, h)}, 1.0);
  } else if (spec == "center") {
    mask.fill_(1.0);
    mask.index_put_({Slice(), Slice(), Slice(h / 4, h / 4 + h / 2), Slice(w / 4, w / 4 + w / 2)}, 0.0);
  } else if (spec == "checker") {
    auto ys = torch::arange(h).div(8, "floor").view({h, 1});
    auto xs = torch::arange(w).div(8, "floor").view({1, w});
    mask = ((ys + xs).remainder(2) == 0).to(torch::kFloat32).view({1, 1, h, w});
  } else if (spec == "random") {
    auto gen = cpu_generator(seed, 0);
    mask = (torch::rand({1, 1, h, w}, gen) < 0.5).to(torch::kFloat32);
  } else {
    SCORCH_CHECK_HINT(std::filesystem::exists(spec),
                      "built-in masks: left, right, top, bottom, center, checker, random",
                      "mask '{}' is neither a built-in mask nor an existing PNG file", spec);
    auto im = io::read_image(spec, 1);
    SCORCH_CHECK(im.height == h && im.width == w, "mask file {} is {}x{}, the images are {}x{}", spec, im.height,
                 im.width, h, w);
    auto t = torch::from_blob(im.pixels.data(), {1, 1, h, w}, torch::kUInt8);
    mask = (t > 127).to(torch::kFloat32);
  }
  return mask;
}

}  // namespace scorch::sampler
