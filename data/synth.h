// Synthetic datasets: Gaussian mixtures (exact density and score known) and a "shapes" image set.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "data/format.h"
#include "data/pack.h"

namespace scorch::data {

// Isotropic mixture sum_k w_k N(mu_k, s_k^2 I). Stored in the manifest's extra["mixture"] so that tests
// can evaluate log p and grad log p exactly.
struct Mixture {
  std::vector<double> weights, stds;
  std::vector<std::vector<double>> means;
  nlohmann::json to_json() const;
  static Mixture from_json(const nlohmann::json& j);
  // log p(x) and its gradient (the score) at x (size D).
  double log_density(const std::vector<double>& x, std::vector<double>* score) const;
};

// dim 2: `components` means evenly on a circle of radius 4, std 0.5. dim > 2: means ~ N(0, 3^2 I) from the
// seed, std 0.5. Equal weights.
Mixture make_mixture(int dim, int components, uint64_t seed);
// A mixture from its parameters: K weights (positive, summing to 1), K x D means (row after row) and K stds;
// errors name the option each list came from (--weights, --means, --stds).
Mixture mixture_from_lists(int dim, const std::vector<double>& weights, const std::vector<double>& means,
                           const std::vector<double>& stds);
// Song & Ermon (2019) §3.2: 0.2 N((-5,-5), I) + 0.8 N((5,5), I), on which plain Langevin dynamics gets the
// weights wrong and annealed Langevin does not.
Mixture pitfall_mixture();
// Writes `count` points as a "points" dataset (float32 [D], labels = component).
Manifest synth_mixture(const Mixture& mixture, int64_t count, uint64_t seed, const std::string& command,
                       const WriteOptions& options, dist::Communicator& comm);

// Shape classes (the labels): 0 triangle, 1 bar, 2 concentric circles, 3 disc, 4 square.
inline constexpr int kShapeClasses = 5;
// One image (HWC uint8) for item `index` of seed `seed`; depends only on (seed, index).
void draw_shape(uint64_t seed, int64_t index, int resolution, int channels, uint8_t* dst, int64_t* label);
Manifest synth_shapes(int64_t count, int resolution, int channels, uint64_t seed, const std::string& command,
                      const WriteOptions& options, dist::Communicator& comm);

}  // namespace scorch::data
