// Synthetic sets from counter-based streams (seed, item index) with our own uniform/normal draws, so the
// bytes never depend on library versions or on how many ranks write them.
#include "data/synth.h"

#include <cmath>
#include <random>

#include "core/error.h"
#include "core/rng.h"

namespace scorch::data {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Uniform [0,1) and standard normal (Box–Muller) from mt19937_64, whose output the standard fixes.
struct Draw {
  std::mt19937_64 gen;
  explicit Draw(uint64_t s) : gen(s) {}
  double uniform() { return double(gen() >> 11) * (1.0 / 9007199254740992.0); }
  double normal() { return std::sqrt(-2.0 * std::log(1.0 - uniform())) * std::cos(2.0 * kPi * uniform()); }
};

}  // namespace

nlohmann::json Mixture::to_json() const { return {{"weights", weights}, {"means", means}, {"stds", stds}}; }

Mixture Mixture::from_json(const nlohmann::json& j) {
  Mixture m;
  m.weights = j.at("weights").get<std::vector<double>>();
  m.means = j.at("means").get<std::vector<std::vector<double>>>();
  m.stds = j.at("stds").get<std::vector<double>>();
  return m;
}

double Mixture::log_density(const std::vector<double>& x, std::vector<double>* score) const {
  const size_t d = x.size(), k = weights.size();
  std::vector<double> logs(k);
  for (size_t c = 0; c < k; ++c) {
    double sq = 0;
    for (size_t i = 0; i < d; ++i) sq += (x[i] - means[c][i]) * (x[i] - means[c][i]);
    logs[c] = std::log(weights[c]) - 0.5 * sq / (stds[c] * stds[c]) - d * std::log(stds[c] * std::sqrt(2 * kPi));
  }
  double top = logs[0];
  for (double l : logs) top = std::max(top, l);
  double sum = 0;
  for (double l : logs) sum += std::exp(l - top);
  const double lp = top + std::log(sum);
  if (score != nullptr) {
    score->assign(d, 0.0);
    for (size_t c = 0; c < k; ++c) {
      const double r = std::exp(logs[c] - lp);  // responsibility
      for (size_t i = 0; i < d; ++i) (*score)[i] -= r * (x[i] - means[c][i]) / (stds[c] * stds[c]);
    }
  }
  return lp;
}

Mixture make_mixture(int dim, int components, uint64_t seed) {
  SCORCH_CHECK(dim >= 1 && components >= 1, "mixture: need dim >= 1 and components >= 1, got {} and {}", dim,
               components);
  Mixture m;
  Draw draw(mix_seed(seed, 0x6d6978ULL));
  for (int c = 0; c < components; ++c) {
    std::vector<double> mu(dim);
    if (dim == 2) {
      mu = {4.0 * std::cos(2 * kPi * c / components), 4.0 * std::sin(2 * kPi * c / components)};
    } else {
      for (auto& v : mu) v = 3.0 * draw.normal();
    }
    m.means.push_back(mu);
    m.weights.push_back(1.0 / components);
    m.stds.push_back(0.5);
  }
  return m;
}

Mixture mixture_from_lists(int dim, const std::vector<double>& weights, const std::vector<double>& means,
                           const std::vector<double>& stds) {
  const size_t k = weights.size();
  SCORCH_CHECK(dim >= 1 && k >= 1, "mixture: need --dim >= 1 and at least one --weights entry");
  SCORCH_CHECK(means.size() == k * dim, "mixture: --means holds {} numbers; {} components in {} dimensions need {}",
               means.size(), k, dim, k * dim);
  SCORCH_CHECK(stds.size() == k, "mixture: --stds holds {} numbers, --weights {}", stds.size(), k);
  double total = 0;
  for (const double w : weights) {
    SCORCH_CHECK(w > 0, "mixture: --weights must be positive, got {}", w);
    total += w;
  }
  SCORCH_CHECK(std::abs(total - 1) < 1e-6, "mixture: --weights sum to {}, not 1", total);
  for (const double sd : stds)
    SCORCH_CHECK(sd > 0 && std::isfinite(sd), "mixture: --stds must be positive and finite, got {}", sd);
  // NaN passed every comparison above as false, then wrote NaN points and a manifest with null means.
  for (const double mu : means) SCORCH_CHECK(std::isfinite(mu), "mixture: --means must be finite, got {}", mu);
  Mixture m;
  m.weights = weights;
  m.stds = stds;
  for (size_t c = 0; c < k; ++c) m.means.emplace_back(means.begin() + c * dim, means.begin() + (c + 1) * dim);
  return m;
}

Mixture pitfall_mixture() { return mixture_from_lists(2, {0.2, 0.8}, {-5, -5, 5, 5}, {1, 1}); }

Manifest synth_mixture(const Mixture& mixture, int64_t count, uint64_t seed, const std::string& command,
                       const WriteOptions& options, dist::Communicator& comm) {
  const int dim = static_cast<int>(mixture.means.at(0).size());
  Manifest layout;
  layout.kind = "points";
  layout.dtype = "float32";
  layout.shape = {dim};
  layout.count = count;
  layout.has_labels = true;
  layout.source = {{"type", "synth-mixture"}, {"seed", seed}};
  layout.command = command;
  layout.extra = {{"mixture", mixture.to_json()}};
  auto component = [&](int64_t i, Draw& draw) {
    double u = draw.uniform(), acc = 0;
    for (size_t c = 0; c < mixture.weights.size(); ++c)
      if (u < (acc += mixture.weights[c])) return static_cast<int64_t>(c);
    return static_cast<int64_t>(mixture.weights.size() - 1);
  };
  auto fill = [&](int64_t i, uint8_t* dst) {
    Draw draw(mix_seed(seed, static_cast<uint64_t>(i)));
    const int64_t c = component(i, draw);
    auto* out = reinterpret_cast<float*>(dst);
    for (int d = 0; d < dim; ++d) out[d] = static_cast<float>(mixture.means[c][d] + mixture.stds[c] * draw.normal());
  };
  auto label = [&](int64_t i) {
    Draw draw(mix_seed(seed, static_cast<uint64_t>(i)));
    return component(i, draw);
  };
  return write_dataset(layout, fill, label, options, comm);
}

void draw_shape(uint64_t seed, int64_t index, int res, int channels, uint8_t* dst, int64_t* label) {
  Draw draw(mix_seed(seed, static_cast<uint64_t>(index)));
  const int cls = static_cast<int>(draw.gen() % kShapeClasses);
  std::vector<uint8_t> bg(channels), fg(channels);
  for (int c = 0; c < channels; ++c) bg[c] = uint8_t(draw.uniform() * 96), fg[c] = uint8_t(128 + draw.uniform() * 127);
  // Centre and size in units of the image side, so any resolution shows the same picture.
  const double cx = 0.3 + 0.4 * draw.uniform(), cy = 0.3 + 0.4 * draw.uniform(), r = 0.12 + 0.15 * draw.uniform();
  const bool vertical = draw.uniform() < 0.5;
  for (int y = 0; y < res; ++y) {
    for (int x = 0; x < res; ++x) {
      const double px = (x + 0.5) / res - cx, py = (y + 0.5) / res - cy, dist = std::sqrt(px * px + py * py);
      bool in = false;
      switch (cls) {
        case 0: in = py <= r && py >= -r && std::abs(px) <= (py + r) / 2; break;  // triangle
        case 1:
          in = vertical ? std::abs(px) <= r / 4 && std::abs(py) <= r * 1.5
                        : std::abs(py) <= r / 4 && std::abs(px) <= r * 1.5;
          break;
        case 2: in = dist <= r && std::fmod(dist / (r / 4), 2.0) < 1.0; break;  // rings
        case 3: in = dist <= r; break;                                          // disc
        default: in = std::abs(px) <= r && std::abs(py) <= r; break;            // square
      }
      for (int c = 0; c < channels; ++c) dst[(int64_t(y) * res + x) * channels + c] = in ? fg[c] : bg[c];
    }
  }
  if (label != nullptr) *label = cls;
}

Manifest synth_shapes(int64_t count, int resolution, int channels, uint64_t seed, const std::string& command,
                      const WriteOptions& options, dist::Communicator& comm) {
  SCORCH_CHECK(resolution >= 4, "shapes: --resolution must be at least 4, got {}", resolution);
  SCORCH_CHECK(channels == 1 || channels == 3, "shapes: --channels must be 1 or 3, got {}", channels);
  Manifest layout;
  layout.shape = {resolution, resolution, channels};
  layout.count = count;
  layout.has_labels = true;
  layout.source = {{"type", "synth-shapes"}, {"seed", seed}};
  layout.command = command;
  layout.extra = {{"classes", {"triangle", "bar", "concentric circles", "disc", "square"}}};
  auto fill = [&](int64_t i, uint8_t* dst) { draw_shape(seed, i, resolution, channels, dst, nullptr); };
  auto label = [&](int64_t i) {
    Draw draw(mix_seed(seed, static_cast<uint64_t>(i)));
    return static_cast<int64_t>(draw.gen() % kShapeClasses);
  };
  return write_dataset(layout, fill, label, options, comm);
}

}  // namespace scorch::data
