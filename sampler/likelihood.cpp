// bits_per_dim: augmented probability-flow ODE with an autograd divergence.
#include "sampler/likelihood.h"

#include <cmath>

#include "core/error.h"
#include "core/sdes/reverse_sde.h"
#include "sampler/ode_solver.h"

namespace scorch::sampler {

namespace {

// Drift (B, C, H, W) and its divergence (B,) at x. One forward pass serves both: the Hutchinson estimate
// eps^T (d drift / dx) eps is the gradient of <drift, eps> dotted with eps; the exact trace takes one
// backward pass per dimension.
std::pair<torch::Tensor, torch::Tensor> drift_and_div(const sdes::ReverseSde& flow, const torch::Tensor& x0,
                                                      const torch::Tensor& t, const torch::Tensor& probe, bool exact) {
  torch::AutoGradMode grad(true);
  auto x = x0.detach().requires_grad_(true);
  auto drift = flow.sde(x, t).drift;
  torch::Tensor div;
  if (!exact) {
    auto g = torch::autograd::grad({(drift * probe).sum()}, {x})[0];
    div = (g * probe).flatten(1).sum(1);
  } else {
    const int64_t d = x[0].numel();
    auto flat = drift.flatten(1);
    div = torch::zeros({x.size(0)}, x.options().requires_grad(false));
    for (int64_t i = 0; i < d; ++i) {
      auto g = torch::autograd::grad({flat.select(1, i).sum()}, {x}, {}, /*retain_graph=*/true)[0];
      div = div + g.flatten(1).select(1, i);
    }
  }
  return {drift.detach(), div.detach()};
}

}  // namespace

LikelihoodResult bits_per_dim(const std::shared_ptr<sdes::Sde>& sde, const sdes::ScoreFn& score, const torch::Tensor& x,
                              bool centered, const LikelihoodOptions& o, torch::Generator& gen) {
  SCORCH_CHECK(x.dim() == 4, "bits_per_dim expects (B, C, H, W), got {}", c10::str(x.sizes()));
  SCORCH_CHECK(o.divergence == "rademacher" || o.divergence == "gaussian" || o.divergence == "exact",
               "likelihood divergence '{}' (expected rademacher, gaussian or exact)", o.divergence);
  const int64_t b = x.size(0);
  const auto shape = x.sizes().vec();
  const auto dtype = x.scalar_type();
  torch::Tensor probe;
  if (o.probe.defined() && o.divergence != "exact") {
    SCORCH_CHECK(o.probe.sizes() == x.sizes(), "likelihood probe of shape {} for data of shape {}",
                 c10::str(o.probe.sizes()), c10::str(x.sizes()));
    probe = o.probe.to(x.device(), dtype);
  } else if (o.divergence == "gaussian") {
    probe = sdes::randn_with(shape, gen, x.options());
  } else if (o.divergence == "rademacher") {
    probe = (sdes::rand_with(shape, gen, x.options()) < 0.5).to(dtype) * 2.0 - 1.0;
  }
  sdes::ReverseSde flow(sde, score, /*probability_flow=*/true);
  OdeFn f = [&](double t, const torch::Tensor& y) {
    auto xs = y.slice(0, 0, y.size(0) - b).view(shape).to(dtype);
    auto vec_t = torch::full({b}, t, x.options());
    auto [drift, div] = drift_and_div(flow, xs, vec_t, probe, o.divergence == "exact");
    return torch::cat({drift.flatten().to(torch::kDouble), div.to(torch::kDouble)});
  };
  auto y0 = torch::cat({x.detach().flatten().to(torch::kDouble), torch::zeros({b}, x.options().dtype(torch::kDouble))});
  auto r = solve_ode(o.solver, f, y0, o.eps, sde->T(), o.rtol, o.atol, o.steps);
  auto z = r.y.slice(0, 0, r.y.size(0) - b).view(shape);  // float64
  auto delta_logp = r.y.slice(0, r.y.size(0) - b);
  const double dims = static_cast<double>(x[0].numel());
  auto bpd = -(sde->prior_logp(z) + delta_logp) / std::log(2.0) / dims;
  // 7 - inverse_scaler(-1): 7 + 1 for [0, 1] data, 7 for [-1, 1] data.
  const double offset = centered ? 7.0 : 8.0;
  return {bpd + offset, z.to(dtype), r.nfe};
}

torch::Tensor dequantize(const torch::Tensor& pixels, const torch::Tensor& u) {
  SCORCH_CHECK(pixels.dim() == 4 && pixels.scalar_type() == torch::kUInt8,
               "dequantize expects uint8 (N, H, W, C), got {} {}", c10::toString(pixels.scalar_type()),
               c10::str(pixels.sizes()));
  auto x = pixels.permute({0, 3, 1, 2}).to(torch::kFloat32);  // (N, C, H, W) in 0..255
  SCORCH_CHECK(u.sizes() == x.sizes(), "dequantisation noise of shape {} for images of shape {}", c10::str(u.sizes()),
               c10::str(x.sizes()));
  return (u.to(x.options()) + x) / 256.0;
}

torch::Tensor dequantize(const torch::Tensor& pixels, torch::Generator& gen) {
  SCORCH_CHECK(pixels.dim() == 4, "dequantize expects uint8 (N, H, W, C), got {}", c10::str(pixels.sizes()));
  const auto& p = pixels.sizes();
  return dequantize(pixels, sdes::rand_with({p[0], p[3], p[1], p[2]}, gen,
                                            torch::TensorOptions().device(pixels.device()).dtype(torch::kFloat32)));
}

}  // namespace scorch::sampler
