// Distributed feature extraction: images -> Inception features -> float64 moments (and ordered rows for IS/KID).
#pragma once
#include <torch/torch.h>

#include "core/dist/communicator.h"
#include "eval/frechet.h"
#include "eval/image_source.h"
#include "eval/inception.h"
#include "eval/preprocess.h"

namespace scorch::eval {

struct ExtractOptions {
  Preprocessing mode = Preprocessing::PytorchFid;
  int64_t batch_size = 50;  // fixed global batches, so every image sees the same batch for any rank count
  torch::Device device = torch::kCPU;
  int64_t input_size = 299;    // the network's input; smaller (>= 75) only in tests
  bool logits = false;         // keep (N, 1008) logits without bias, in image order (for IS)
  bool keep_features = false;  // keep (N, 2048) features in image order (for KID)
};

struct Extracted {
  GaussianStats stats;
  torch::Tensor logits;    // (N, 1008) float64 or undefined
  torch::Tensor features;  // (N, 2048) float64 or undefined
};

// Batch b (images [b B, (b + 1) B)) runs on rank b % world; sums are all-reduced over `comm` (its
// device's backend), ordered rows gathered over `cpu_comm`. Every rank returns the same result.
Extracted extract(ImageSource& source, InceptionV3& model, const ExtractOptions& options, dist::Communicator& comm,
                  dist::Communicator& cpu_comm);

}  // namespace scorch::eval
