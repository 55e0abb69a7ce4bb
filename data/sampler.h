// Distributed index sampler: one global stream of batches per (seed, epoch), each rank taking its slice.
#pragma once
#include <cstdint>
#include <vector>

namespace scorch::data {

// Where the global stream stands: the epoch and how many of its images have been handed out (over all
// ranks). It does not depend on the world size, so a job may resume with a different one.
struct SamplerState {
  int64_t epoch = 0;
  int64_t consumed = 0;
  bool operator==(const SamplerState& o) const { return epoch == o.epoch && consumed == o.consumed; }
};

// The permutation of [0, n) for (seed, epoch): std::mt19937_64 (its output is fixed by the C++ standard)
// seeded with splitmix64(seed, epoch), and our own Fisher–Yates with unbiased bounded draws, so it never
// depends on the library versions or on torch's global RNG.
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

class DistributedSampler {
 public:
  // `global_batch` must be divisible by `world`; rank r gets positions [r*B/W, (r+1)*B/W) of each global batch.
  // drop_last: an epoch has floor(n/B) batches, the rest of its permutation is skipped. Otherwise the last
  // batch is completed with the first indices of the same permutation (every rank keeps B/W items).
  DistributedSampler(int64_t n, int64_t global_batch, uint64_t seed, int rank, int world, bool drop_last = true);

  // This rank's indices of the next global batch; advances the state (rolling over to the next epoch).
  // `taken_at` receives the state the batch starts at (its epoch and first global position).
  std::vector<int64_t> next(SamplerState* taken_at = nullptr);
  // The whole global batch that next() would take a slice of, without advancing (for tests and tools).
  std::vector<int64_t> peek_global();

  SamplerState state() const { return state_; }
  void set_state(const SamplerState& s);  // checks it lies within an epoch
  int64_t batches_per_epoch() const;
  int64_t global_batch() const { return batch_; }
  int64_t local_batch() const { return batch_ / world_; }
  uint64_t seed() const { return seed_; }

 private:
  void roll_epoch_if_done();
  const std::vector<int64_t>& perm();
  int64_t n_, batch_;
  uint64_t seed_;
  int rank_, world_;
  bool drop_last_;
  SamplerState state_;
  int64_t perm_epoch_ = -1;
  std::vector<int64_t> perm_;
};

}  // namespace scorch::data
