// Feature extraction over ranks: fixed global batches, float64 sums, one all-reduce, ordered gathers.
#include "eval/extract.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "core/error.h"
#include "eval/feature_moments.h"

namespace scorch::eval {

namespace {

// Images of one batch, each (H, W, C) uint8 on the CPU, as the network's (B, 3, S, S) input on the device.
// Runs of equal-sized images travel together: one pinned host-to-device copy per run, not one per image.
torch::Tensor to_network_input(const std::vector<torch::Tensor>& images, const ExtractOptions& options) {
  std::vector<torch::Tensor> inputs;
  for (size_t i = 0; i < images.size();) {
    size_t j = i + 1;
    while (j < images.size() && images[j].sizes() == images[i].sizes()) ++j;
    auto run = torch::stack(std::vector<torch::Tensor>(images.begin() + i, images.begin() + j));  // (b, H, W, C)
    if (options.device.is_cuda()) run = run.pin_memory().to(options.device, /*non_blocking=*/true);
    inputs.push_back(preprocess(run, options.mode, options.input_size));
    i = j;
  }
  return inputs.size() == 1 ? inputs.front() : torch::cat(inputs);
}

}  // namespace

Extracted extract(ImageSource& source, InceptionV3& model, const ExtractOptions& options, dist::Communicator& comm,
                  dist::Communicator& cpu_comm) {
  SCORCH_CHECK(options.batch_size >= 1, "FID batch size must be >= 1, got {}", options.batch_size);
  torch::InferenceMode guard;
  model->to(options.device);
  model->eval();
  // Batch norms folded into the convs, and on the CPU NHWC weights and activations: oneDNN's channels-last
  // convolutions run the network ~1.5x faster than NCHW here (bench/fid_bench.cpp, docs/benchmarks.md);
  // the features stay within 1e-6 of the unfolded network's.
  model->fuse(options.device.is_cpu() ? c10::MemoryFormat::ChannelsLast : c10::MemoryFormat::Contiguous);
  const int64_t n = source.size(), bs = options.batch_size;
  const int64_t batches = (n + bs - 1) / bs;
  FeatureMoments moments(2048);
  std::vector<torch::Tensor> logits, feats;
  std::vector<int64_t> index;
  const auto start = std::chrono::steady_clock::now();
  int64_t done = 0;
  for (int64_t b = comm.rank(); b < batches; b += comm.world()) {
    const int64_t begin = b * bs, end = std::min(n, begin + bs);
    auto f = model->features(to_network_input(source.read(begin, end), options));  // (B, 2048)
    moments.add(f);
    if (options.logits) logits.push_back(model->logits(f).to(torch::kCPU, torch::kDouble));
    if (options.keep_features) feats.push_back(f.to(torch::kCPU, torch::kDouble));
    for (int64_t i = begin; i < end; ++i) index.push_back(i);
    done += end - begin;
    if ((b / comm.world()) % 20 == 19)
      spdlog::info("FID features: {} images on this rank ({:.1f} images/s)", done,
                   done / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  moments.all_reduce(comm);
  Extracted out;
  out.stats = moments.stats();
  SCORCH_CHECK(out.stats.count == n, "FID: ranks processed {} images, the source holds {}", out.stats.count, n);
  auto rows = [&](std::vector<torch::Tensor>& parts, int64_t width) {
    auto local = parts.empty() ? torch::zeros({0, width}, torch::kDouble) : torch::cat(parts);
    return gather_in_order(cpu_comm, local, index, n);
  };
  if (options.logits) out.logits = rows(logits, model->logits(torch::zeros({1, 2048}, options.device)).size(1));
  if (options.keep_features) out.features = rows(feats, 2048);
  return out;
}

}  // namespace scorch::eval
