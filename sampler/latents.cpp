// Latents: file reading with shape checks, and the data -> latent map (probability-flow ODE or DDIM inversion)
// over a dataset, gathered in order.
#include "sampler/latents.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/atomic_file.h"
#include "core/dir_lock.h"
#include "core/dist/communicator.h"
#include "core/dist/work_counter.h"
#include "core/error.h"
#include "core/io/npz.h"
#include "core/io/safetensors.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "sampler/few_step.h"
#include "sampler/model_images.h"
#include "sampler/ode_sampler.h"

namespace scorch::sampler {

bool is_deterministic(const SamplingOptions& o) {
  if (o.method == "ode" || o.method == "dpm_solver") return true;
  if (o.method == "ddim") return o.ddim_eta == 0;
  if (o.method == "edm") return o.edm_churn == 0;
  return false;
}

torch::Tensor read_image_array(const std::string& path, const std::vector<int64_t>& s, const std::string& flag) {
  const std::string ext = std::filesystem::path(path).extension().string();
  torch::Tensor t;
  if (ext == ".npy") {
    t = io::npz::parse_npy(read_file(path), path);
  } else if (ext == ".safetensors") {
    const auto tensors = io::read_safetensors(path).tensors;
    if (tensors.size() == 1) {
      t = tensors.begin()->second;
    } else {
      SCORCH_CHECK(tensors.count("latents"), "{} holds {} tensors and none is named 'latents'", path, tensors.size());
      t = tensors.at("latents");
    }
  } else {
    SCORCH_FAIL("{} {}: expected a .npy or .safetensors file", flag, path);
  }
  SCORCH_CHECK(t.dim() == 4 && t.size(1) == s[0] && t.size(2) == s[1] && t.size(3) == s[2],
               "{} {}: shape {} does not hold (N, {}, {}, {}) arrays for this model", flag, path, c10::str(t.sizes()),
               s[0], s[1], s[2]);
  SCORCH_CHECK(t.is_floating_point(), "{} {}: dtype {} is not a floating-point type", flag, path,
               c10::toString(t.scalar_type()));
  SCORCH_CHECK(torch::isfinite(t).all().item<bool>(), "{} {}: holds NaN or infinite values", flag, path);
  if (flag != "--dequant") return t.to(torch::kFloat32).contiguous();
  // Checked in the file's own dtype: float64 noise just below 1 (numpy's random() gives about one per 30 million
  // values above 1 - 2^-25) rounds to 1.0 in float32, and was refused as out of [0, 1). It is kept below 1.
  const auto outside = ((t < 0) | (t >= 1)).flatten().nonzero();
  SCORCH_CHECK_HINT(outside.numel() == 0, "uniform dequantisation noise lies in [0, 1)",
                    "--dequant {}: value {} at flat index {} lies outside [0, 1)", path,
                    outside.numel() ? t.flatten()[outside[0][0]].item<double>() : 0.0,
                    outside.numel() ? outside[0][0].item<int64_t>() : 0);
  return t.to(torch::kFloat32).clamp_max(std::nextafter(1.0f, 0.0f)).contiguous();
}

int64_t check_encode(const DiffusionSampler& sampler, const EncodeOptions& o) {
  data::Dataset ds(o.data);
  check_model_images(ds, sampler.image_shape());
  SCORCH_CHECK(o.batch >= 1, "--batch must be positive, got {}", o.batch);
  SCORCH_CHECK(!o.out.empty() && std::filesystem::path(o.out).extension() == ".npy",
               "scorch sample encode writes FILE.npy; --out is '{}'", o.out);
  check_output_file(o.out, "--out");  // before the ODE solves, whose latents a failed write would lose
  if (sampler.options().method == "ddim") check_ddim_encode(sampler.options());
  check_num_within(o.num, ds);
  return o.num > 0 ? o.num : ds.size();
}

EncodeReport encode_dataset(DiffusionSampler& sampler, const EncodeOptions& o, dist::Communicator& comm) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t num = check_encode(sampler, o);
  data::Dataset ds(o.data);
  const int64_t batches = (num + o.batch - 1) / o.batch;
  // DDIM inverts itself; every other method's latents are the probability-flow ODE's, which `ode` decodes.
  const bool ddim = sampler.options().method == "ddim";
  if (!ddim && sampler.options().method != "ode" && comm.rank() == 0) {
    spdlog::info(
        "encode: sampling.method {} has no inverse; the probability-flow ODE ({}) encodes, and "
        "sampling.method ode decodes",
        sampler.options().method, sampler.options().ode_solver);
  }
  OdeSampler ode(sampler.sde(), sampler.ode_score(), sampler.options());
  std::optional<FewStepSampler> few;
  if (ddim) {
    auto o = sampler.options();
    o.noise_removal = false;  // the encoder's grid is that of decoding without it, whatever the config says
    few.emplace(sampler.sde(), sampler.pc_score(), o);
  }
  auto counter = dist::make_work_counter(comm, 1);
  Progress progress("encoding", batches, "batch", comm.rank() == 0);
  std::map<int64_t, torch::Tensor> mine;
  int64_t nfe = 0;
  while (true) {
    const int64_t k = counter->fetch_add(0, 1);
    if (k >= batches) break;
    const int64_t first = k * o.batch, n = std::min(o.batch, num - first);
    // [0, 1] -> model space, as the trainer's data scaler; a whole batch, cut (model_images.h).
    const auto x =
        from_unit_range(read_unit_images(ds, first, whole_batch_rows(first, o.batch, ds.size()), sampler.device()),
                        sampler.options().centered);
    mine[k] = (ddim ? few->encode(x) : ode.encode(x)).slice(0, 0, n).to(torch::kCPU, torch::kFloat32);
    nfe += ddim ? few->nfe() : ode.last().nfe;
    progress.add(1);
  }
  progress.finish();
  comm.barrier();
  counter.reset();
  // Each rank's batches as one npy-encoded blob per batch, gathered and put back in dataset order.
  nlohmann::json index = nlohmann::json::object();
  std::string blob;
  for (const auto& [k, t] : mine) {
    const std::string bytes = io::npz::format_npy(t);
    index[std::to_string(k)] = {blob.size(), bytes.size()};
    blob += bytes;
  }
  const auto indices = comm.all_gather(index.dump());
  const auto blobs = comm.all_gather(blob);
  const int64_t nfe_all = comm.all_reduce_sum(nfe);
  EncodeReport report;
  report.count = num;
  report.mean_nfe = double(nfe_all) / double(batches);
  if (comm.rank() == 0) {
    std::map<int64_t, torch::Tensor> all;
    for (size_t r = 0; r < blobs.size(); ++r) {
      const auto part = nlohmann::json::parse(indices[r]);  // items() would not keep a temporary alive
      for (const auto& [key, where] : part.items())
        all[std::stoll(key)] = io::npz::parse_npy(blobs[r].substr(where[0].get<size_t>(), where[1].get<size_t>()),
                                                  "latents of batch " + key);
    }
    SCORCH_CHECK(static_cast<int64_t>(all.size()) == batches, "encode: {} of {} batches came back", all.size(),
                 batches);
    std::vector<torch::Tensor> parts;
    for (auto& [k, t] : all) parts.push_back(t);
    write_file_atomic(o.out, io::npz::format_npy(torch::cat(parts)));
  }
  comm.barrier();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace scorch::sampler
