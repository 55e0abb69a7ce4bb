// <workdir>/metrics.jsonl (one JSON object per log interval) and the metrics.png plot drawn from it.
#pragma once
#include <chrono>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace scorch::trainer {

class MetricsLog {
 public:
  // Opens <workdir>/metrics.jsonl for appending. Rows of a previous attempt past `resume_step` (logged after
  // the checkpoint this run resumes from) are dropped, so the file reads as one uninterrupted run.
  // `enabled` false (ranks other than 0) makes every call a no-op.
  MetricsLog(const std::string& workdir, int64_t resume_step, bool enabled);

  // Appends `row` (must hold "step"); redraws metrics.png at most every `plot_every_s` seconds.
  void append(const nlohmann::json& row);
  void plot();  // writes metrics.png now
  const std::vector<nlohmann::json>& rows() const { return rows_; }

 private:
  std::string jsonl_, png_;
  bool enabled_;
  std::ofstream out_;
  std::vector<nlohmann::json> rows_;
  std::chrono::steady_clock::time_point last_plot_{};
  double plot_every_s_ = 10.0;
};

}  // namespace scorch::trainer
