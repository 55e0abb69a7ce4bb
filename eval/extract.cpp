// Feature extraction over ranks: fixed global batches, float64 sums, one all-reduce, ordered gathers.
#include "eval/extract.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "core/error.h"
#include "eval/feature_moments.h"

namespace scorch::eval {

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
    std::vector<torch::Tensor> inputs;
    for (auto& img : source.read(begin, end))
      inputs.push_back(preprocess(img.to(options.device).unsqueeze(0), options.mode, options.input_size));
    auto f = model->features(torch::cat(inputs));  // (B, 2048)
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
