// evaluate_bpd: dataset batches -> dequantise -> bits_per_dim, gathered in unit order.
#include "sampler/bpd_eval.h"

#include <chrono>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "core/dist/communicator.h"
#include "core/dist/work_counter.h"
#include "core/error.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "sampler/model_fn.h"
#include "sampler/model_images.h"

namespace scorch::sampler {

int64_t check_bpd(const DiffusionSampler& sampler, const BpdOptions& o) {
  data::Dataset ds(o.data);
  const auto s = sampler.image_shape();  // (C, H, W)
  check_model_images(ds, s);
  SCORCH_CHECK(o.batch >= 1 && o.repeats >= 1, "--batch and --repeats must be positive");
  check_num_within(o.num, ds);
  const int64_t num = o.num > 0 ? o.num : ds.size();
  for (const auto& [name, t] : {std::pair{"--dequant", o.dequant}, std::pair{"--probes", o.probe}}) {
    if (!t.defined()) continue;
    SCORCH_CHECK_HINT(o.repeats == 1, "drop --repeats", "{} fixes the noise of one pass; --repeats {} asks for more",
                      name, o.repeats);
    SCORCH_CHECK(t.dim() == 4 && t.size(0) >= num && t.size(1) == s[0] && t.size(2) == s[1] && t.size(3) == s[2],
                 "{}: shape {} does not hold ({}+, {}, {}, {}) values for the {} images evaluated", name,
                 c10::str(t.sizes()), num, s[0], s[1], s[2], num);
  }
  SCORCH_CHECK(!o.dequant.defined() || ((o.dequant >= 0) & (o.dequant < 1)).all().item<bool>(),
               "--dequant: values must lie in [0, 1) (uniform dequantisation noise)");
  return num;
}

BpdReport evaluate_bpd(DiffusionSampler& sampler, const BpdOptions& o, dist::Communicator& comm) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t num = check_bpd(sampler, o);
  data::Dataset ds(o.data);
  const int64_t nb = (num + o.batch - 1) / o.batch, units = nb * o.repeats;
  const bool centered = sampler.options().centered;

  auto counter = dist::make_work_counter(comm, 1);
  Progress progress("bits/dim", units, "batch", comm.rank() == 0);
  nlohmann::json mine = nlohmann::json::object();
  while (true) {
    const int64_t u = counter->fetch_add(0, 1);
    if (u >= units) break;
    const int64_t k = u % nb, first = k * o.batch, n = std::min(o.batch, num - first);
    auto gen = make_generator(sampler.device(), o.seed, static_cast<uint64_t>(u));
    // A whole batch, cut (model_images.h): as far as the data and the given noise files go.
    int64_t rows = whole_batch_rows(first, o.batch, ds.size());
    if (o.dequant.defined()) rows = std::min(rows, whole_batch_rows(first, o.batch, o.dequant.size(0)));
    if (o.probe.defined()) rows = std::min(rows, whole_batch_rows(first, o.batch, o.probe.size(0)));
    auto pixels = read_pixels(ds, first, rows).to(sampler.device());  // (rows, H, W, C)
    auto x = o.dequant.defined() ? dequantize(pixels, o.dequant.slice(0, first, first + rows).to(sampler.device()))
                                 : dequantize(pixels, gen);
    x = from_unit_range(x, centered);
    auto lo = o.likelihood;
    if (o.probe.defined()) lo.probe = o.probe.slice(0, first, first + rows);
    auto r = bits_per_dim(sampler.sde(), sampler.ode_score(), x, centered, lo, gen);
    auto bpd = r.bpd.cpu().contiguous();
    mine[std::to_string(u)] = {{"bpd", std::vector<double>(bpd.data_ptr<double>(), bpd.data_ptr<double>() + n)},
                               {"nfe", r.nfe}};
    progress.add(1);
  }
  progress.finish();
  comm.barrier();
  counter.reset();

  std::map<int64_t, nlohmann::json> all;
  for (const auto& text : comm.all_gather(mine.dump())) {
    const auto part = nlohmann::json::parse(text);  // items() would not keep a temporary alive
    for (const auto& [key, value] : part.items()) all[std::stoll(key)] = value;
  }
  SCORCH_CHECK(static_cast<int64_t>(all.size()) == units, "bits/dim: {} of {} work units came back", all.size(), units);
  BpdReport report;
  double sum = 0, sumsq = 0, nfe = 0;
  report.per_image.assign(o.repeats, {});
  for (const auto& [u, v] : all) {
    // Units run repeat-major (u = repeat * batches + batch), so each repeat's images arrive in dataset order.
    auto& row = report.per_image[u / nb];
    for (double b : v.at("bpd").get<std::vector<double>>()) {
      row.push_back(b);
      sum += b;
      sumsq += b * b;
      ++report.count;
    }
    nfe += v.at("nfe").get<double>();
  }
  report.mean = sum / static_cast<double>(report.count);
  const double var = report.count > 1 ? (sumsq - sum * report.mean) / static_cast<double>(report.count - 1) : 0.0;
  report.std_error = std::sqrt(std::max(var, 0.0) / static_cast<double>(report.count));
  report.mean_nfe = nfe / static_cast<double>(units);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace scorch::sampler
