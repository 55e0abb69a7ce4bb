// Distributed index sampler: the global batch k of an epoch is perm[k*B, (k+1)*B), whatever the world size.
#include "data/sampler.h"

#include <random>

#include "core/error.h"
#include "core/rng.h"

namespace scorch::data {

namespace {

// Uniform in [0, bound) by rejection of the biased tail: exact, and fixed by mt19937_64's defined output.
uint64_t bounded(std::mt19937_64& gen, uint64_t bound) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t x;
  do x = gen();
  while (x >= limit);
  return x % bound;
}

}  // namespace

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> perm(n);
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  std::mt19937_64 gen(mix_seed(seed, static_cast<uint64_t>(epoch)));
  for (int64_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[bounded(gen, static_cast<uint64_t>(i) + 1)]);
  return perm;
}

DistributedSampler::DistributedSampler(int64_t n, int64_t global_batch, uint64_t seed, int rank, int world,
                                       bool drop_last)
    : n_(n), batch_(global_batch), seed_(seed), rank_(rank), world_(world), drop_last_(drop_last) {
  SCORCH_CHECK(world > 0 && rank >= 0 && rank < world, "sampler: rank {} is not in a world of {}", rank, world);
  SCORCH_CHECK(global_batch > 0 && global_batch % world == 0,
               "sampler: the global batch size {} must be a positive "
               "multiple of the number of ranks {}",
               global_batch, world);
  SCORCH_CHECK_HINT(n >= global_batch || !drop_last, "use a smaller batch size or a bigger dataset",
                    "sampler: the dataset has {} items, fewer than one global batch of {} (drop_last)", n,
                    global_batch);
  SCORCH_CHECK(n > 0, "sampler: the dataset is empty");
}

int64_t DistributedSampler::batches_per_epoch() const { return drop_last_ ? n_ / batch_ : (n_ + batch_ - 1) / batch_; }

void DistributedSampler::set_state(const SamplerState& s) {
  SCORCH_CHECK(s.epoch >= 0 && s.consumed >= 0 && s.consumed <= batches_per_epoch() * batch_,
               "sampler: state (epoch {}, consumed {}) does not fit {} items in batches of {}", s.epoch, s.consumed, n_,
               batch_);
  state_ = s;
}

const std::vector<int64_t>& DistributedSampler::perm() {
  if (perm_epoch_ != state_.epoch) {
    perm_ = epoch_permutation(n_, seed_, state_.epoch);
    perm_epoch_ = state_.epoch;
  }
  return perm_;
}

void DistributedSampler::roll_epoch_if_done() {
  // `consumed` counts images; a resumed state may come from another batch size, so compare with what's left.
  const int64_t usable = drop_last_ ? n_ - n_ % batch_ : n_;
  if (state_.consumed + (drop_last_ ? batch_ : 1) > usable) state_ = {state_.epoch + 1, 0};
}

std::vector<int64_t> DistributedSampler::peek_global() {
  roll_epoch_if_done();
  const auto& p = perm();
  std::vector<int64_t> out(batch_);
  // Without drop_last the short final batch wraps around to the start of the same permutation.
  for (int64_t i = 0; i < batch_; ++i) out[i] = p[(state_.consumed + i) % n_];
  return out;
}

std::vector<int64_t> DistributedSampler::next(SamplerState* taken_at) {
  const auto global = peek_global();
  if (taken_at != nullptr) *taken_at = state_;
  const int64_t local = batch_ / world_;
  std::vector<int64_t> out(global.begin() + rank_ * local, global.begin() + (rank_ + 1) * local);
  state_.consumed += batch_;
  if (state_.consumed >= n_) state_ = {state_.epoch + 1, 0};
  return out;
}

}  // namespace scorch::data
