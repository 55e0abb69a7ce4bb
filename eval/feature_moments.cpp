// Float64 feature sums, their all-reduce, and the ordered gather of per-image rows across ranks.
#include "eval/feature_moments.h"

#include "core/error.h"

namespace scorch::eval {

FeatureMoments::FeatureMoments(int64_t dim) : dim_(dim) {}

void FeatureMoments::add(const torch::Tensor& features) {
  SCORCH_CHECK(features.dim() == 2 && features.size(1) == dim_, "features must be (B, {}), got {}", dim_,
               c10::str(features.sizes()));
  auto f = features.to(torch::kDouble);
  if (!sum_.defined()) {
    sum_ = torch::zeros({dim_}, f.options());
    sum_outer_ = torch::zeros({dim_, dim_}, f.options());
  }
  sum_ += f.sum(0);
  sum_outer_.addmm_(f.transpose(0, 1), f);
  count_ += f.size(0);
}

void FeatureMoments::all_reduce(dist::Communicator& comm) {
  if (!sum_.defined()) {  // a rank that got no images still takes part in the collectives
    const auto options = torch::TensorOptions(torch::kDouble).device(comm.device());
    sum_ = torch::zeros({dim_}, options);
    sum_outer_ = torch::zeros({dim_, dim_}, options);
  }
  comm.all_reduce_sum(sum_);
  comm.all_reduce_sum(sum_outer_);
  count_ = comm.all_reduce_sum(count_);
}

GaussianStats FeatureMoments::stats() const {
  SCORCH_CHECK(count_ >= 2, "FID statistics need at least 2 images, got {}", count_);
  const double n = static_cast<double>(count_);
  auto mu = (sum_ / n).to(torch::kCPU);
  auto sigma = (sum_outer_.to(torch::kCPU) - torch::outer(mu, mu) * n) / (n - 1);
  return {mu, sigma, count_};
}

torch::Tensor gather_in_order(dist::Communicator& comm, const torch::Tensor& rows, const std::vector<int64_t>& index,
                              int64_t total) {
  SCORCH_CHECK(rows.dim() == 2 && rows.size(0) == static_cast<int64_t>(index.size()),
               "gather_in_order: {} rows for {} indices", rows.size(0), index.size());
  const int64_t width = rows.size(1);
  const int64_t most = comm.all_reduce_max(static_cast<int64_t>(index.size()));
  // Pad every rank to the same row count; index -1 marks padding.
  auto padded = torch::zeros({most, width + 1}, torch::kDouble);
  padded.index_put_({torch::indexing::Slice(), 0}, -1.0);
  if (!index.empty()) {
    padded.index_put_({torch::indexing::Slice(0, rows.size(0)), 0},
                      torch::tensor(index, torch::kLong).to(torch::kDouble));
    padded.index_put_({torch::indexing::Slice(0, rows.size(0)), torch::indexing::Slice(1)},
                      rows.to(torch::kCPU, torch::kDouble));
  }
  auto all = comm.world() > 1 ? comm.all_gather(padded).reshape({-1, width + 1}) : padded;
  auto keep = all.select(1, 0) >= 0;
  auto idx = all.select(1, 0).masked_select(keep).to(torch::kLong);
  auto vals = all.index({keep}).slice(1, 1);
  SCORCH_CHECK(idx.size(0) == total, "gather_in_order: ranks hold {} rows, expected {}", idx.size(0), total);
  auto out = torch::empty({total, width}, torch::kDouble);
  out.index_put_({idx}, vals);
  return out;
}

}  // namespace scorch::eval
