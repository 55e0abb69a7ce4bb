// Progress inside one sample batch. A batch runs the whole reverse process, which at full size on a CPU can
// take hours: the farm's progress line only moves when a batch ends, so the samplers report their time t.
#pragma once
#include <chrono>
#include <functional>
#include <string>

namespace scorch::sampler {

// Called by the samplers with the reverse process's current time t (from T down to eps), a host value.
using TimeHook = std::function<void(double t)>;

class BatchProgress {
 public:
  // `noise_level(t)` is shown beside t (the marginal standard deviation). Nothing is logged when not
  // `enabled` (ranks other than 0), nor during a batch's first `quiet_s` seconds (short batches stay
  // silent); after that one line at most every `every_s` seconds.
  BatchProgress(std::function<double(double)> noise_level, double t_start, double t_end, bool enabled,
                double quiet_s = 5.0, double every_s = 10.0);
  // A batch starts: restarts the clock; `label` begins its lines ("sampling batch 3").
  void start(std::string label);
  void at(double t);

 private:
  using Clock = std::chrono::steady_clock;
  std::function<double(double)> noise_level_;
  double t_start_, t_end_;
  bool enabled_;
  double quiet_s_, every_s_;
  std::string label_;
  Clock::time_point start_, last_;
  bool logged_ = false;
};

}  // namespace scorch::sampler
