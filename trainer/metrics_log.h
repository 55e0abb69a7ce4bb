// <workdir>/metrics.jsonl (one JSON object per log interval), the metrics.png plot drawn from it, and the
// same scalars (plus snapshot grids) as TensorBoard events in <workdir>/tb.
#pragma once
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/io/image_io.h"
#include "core/io/tensorboard.h"

namespace scorch::trainer {

class MetricsLog {
 public:
  // Opens <workdir>/metrics.jsonl for appending. Rows of a previous attempt past `resume_step` (logged after
  // the checkpoint this run resumes from) are dropped, so the file reads as one uninterrupted run.
  // `enabled` false (ranks other than 0) makes every call a no-op. `tensorboard` adds a new event file
  // under <workdir>/tb for this attempt.
  MetricsLog(const std::string& workdir, int64_t resume_step, bool enabled, bool tensorboard);

  // Appends `row` (must hold "step"), and each of its numbers as a TensorBoard scalar of the same name;
  // redraws metrics.png at most every `plot_every_s` seconds.
  void append(const nlohmann::json& row);
  // A TensorBoard image (the snapshot grid), written at once.
  void image(const std::string& tag, int64_t step, const io::Image& image);
  void plot();  // writes metrics.png now
  const std::vector<nlohmann::json>& rows() const { return rows_; }

 private:
  std::string jsonl_, png_;
  bool enabled_;
  std::ofstream out_;
  std::unique_ptr<io::EventWriter> events_;
  std::vector<nlohmann::json> rows_;
  std::chrono::steady_clock::time_point last_plot_{};
  double plot_every_s_ = 10.0;
};

}  // namespace scorch::trainer
