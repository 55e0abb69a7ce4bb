// Reference .npz files: the two layouts in use (mu/sigma, raw pool_3 activations), scorch's sidecar check.
#include "eval/fid_reference.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/npz.h"

namespace scorch::eval {

namespace fs = std::filesystem;
using nlohmann::json;

Extracted read_reference_stats(const std::string& path, const std::string& preprocessing) {
  const auto arrays = io::npz::read_npz(path);
  const fs::path sidecar = path + ".json";
  int64_t count = 0;  // pytorch-fid's .npz does not say how many images it summarises; scorch's sidecar does
  if (fs::exists(sidecar)) {
    const auto meta = json::parse(read_file(sidecar.string()));
    SCORCH_CHECK_HINT(meta.value("preprocessing", preprocessing) == preprocessing,
                      "pass --preprocessing " + meta.value("preprocessing", ""),
                      "{} was computed with preprocessing '{}', this run uses '{}': the FID would mix two pipelines",
                      path, meta.value("preprocessing", ""), preprocessing);
    count = meta.value("images", int64_t{0});
  }
  Extracted out;
  if (arrays.count("mu") && arrays.count("sigma")) {
    out.stats = checked_stats(arrays.at("mu"), arrays.at("sigma"), count, path);
  } else if (arrays.count("pool_3")) {
    auto act = arrays.at("pool_3").to(torch::kDouble);
    if (act.dim() == 4) act = act.flatten(1);  // (N, 1, 1, 2048) as TF writes it
    SCORCH_CHECK(act.dim() == 2 && act.size(0) >= 2, "{}: pool_3 must be (N, 2048) activations, got {}", path,
                 c10::str(act.sizes()));
    out.stats = checked_stats(act.mean(0), torch::cov(act.t()), act.size(0), path);
    out.features = act;  // (N, 2048)
  } else {
    std::string keys;
    for (const auto& [k, v] : arrays) keys += " " + k;
    SCORCH_FAIL("{}: expected keys mu + sigma (pytorch-fid) or pool_3 (score_sde), found:{}", path, keys);
  }
  SCORCH_CHECK(out.stats.mu.size(0) == 2048, "{}: statistics are {}-d, the FID Inception pool features are 2048-d",
               path, out.stats.mu.size(0));
  return out;
}

WrittenStats write_reference_stats(const std::string& data, const std::string& out, const ExtractorSettings& settings) {
  FidExtractor extractor(settings);
  const std::string mode = to_string(extractor.mode());
  WrittenStats w;
  w.path = out.empty() ? fmt::format("{}-fid-stats-{}.npz", fs::path(data).filename().string(), mode) : out;
  const auto e = extractor.run(data, false, false);
  w.images = e.stats.count;
  if (extractor.cpu_comm().rank() != 0) return w;
  io::npz::write_npz(w.path, {{"mu", e.stats.mu}, {"sigma", e.stats.sigma}});
  auto meta = extractor.identity();
  meta["images"] = e.stats.count;
  meta["source"] = data;
  write_file_atomic(w.path + ".json", meta.dump(2) + "\n");
  return w;
}

}  // namespace scorch::eval
