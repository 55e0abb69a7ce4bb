// Metric rows kept in memory and on disk; plots of loss, throughput, gradient norm (and a classifier's
// accuracy by noise band) against step.
#include "trainer/metrics_log.h"

#include <filesystem>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/plot.h"
#include "core/json_numbers.h"

namespace scorch::trainer {

namespace fs = std::filesystem;

MetricsLog::MetricsLog(const std::string& workdir, int64_t resume_step, bool enabled, bool tensorboard)
    : jsonl_((fs::path(workdir) / "metrics.jsonl").string()),
      png_((fs::path(workdir) / "metrics.png").string()),
      enabled_(enabled) {
  if (!enabled_) return;
  if (fs::exists(jsonl_)) {
    std::istringstream in(read_file(jsonl_));
    std::string line, kept;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      nlohmann::json row;
      try {
        row = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception&) {
        continue;  // a line cut short by a crash
      }
      if (!row.contains("step") || json_int64(row["step"], jsonl_ + ": step") > resume_step) continue;
      kept += line + "\n";
      rows_.push_back(std::move(row));
    }
    write_file_atomic(jsonl_, kept);
  }
  out_.open(jsonl_, std::ios::app);
  SCORCH_CHECK(out_.good(), "cannot open {} for appending", jsonl_);
  if (tensorboard) events_ = std::make_unique<io::EventWriter>((fs::path(workdir) / "tb").string(), resume_step + 1);
}

void MetricsLog::append(const nlohmann::json& row) {
  if (!enabled_) return;
  out_ << row.dump() << "\n";
  out_.flush();
  // A row that did not reach the disk ends the run here, with the last checkpoint intact, rather than
  // leaving a gap in the curves (a line cut short is dropped on resume).
  SCORCH_CHECK(out_.good(), "appending to {} failed (disk full?)", jsonl_);
  rows_.push_back(row);
  if (events_) {
    const int64_t step = row["step"].get<int64_t>();
    for (const auto& [key, value] : row.items())
      if (key != "step" && value.is_number()) events_->scalar(key, step, value.get<double>());
    events_->flush();
  }
  const auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_plot_).count() >= plot_every_s_) plot();
}

void MetricsLog::image(const std::string& tag, int64_t step, const io::Image& image) {
  if (!enabled_ || !events_ || image.pixels.empty()) return;
  events_->image(tag, step, image);
  events_->flush();
}

void MetricsLog::plot() {
  if (!enabled_ || rows_.empty()) return;
  last_plot_ = std::chrono::steady_clock::now();
  io::PlotSeries loss{"train loss", {}, {}}, eval_loss{"eval loss (EMA)", {}, {}}, speed{"images/s", {}, {}},
      norm{"grad norm", {}, {}};
  for (const auto& r : rows_) {
    const double step = r["step"].get<double>();
    auto add = [&](io::PlotSeries& s, const char* key) {
      if (r.contains(key) && r[key].is_number()) s.x.push_back(step), s.y.push_back(r[key].get<double>());
    };
    add(loss, "loss");
    add(eval_loss, "eval_loss");
    add(speed, "images_per_s");
    add(norm, "grad_norm");
  }
  std::vector<io::PlotSeries> losses{loss};
  if (!eval_loss.x.empty()) losses.push_back(eval_loss);
  // Sliced score matching's loss is DSM's less a constant, so it goes negative: a log axis only when it can.
  bool positive = true;
  for (const auto& s : losses)
    for (const double y : s.y) positive = positive && y > 0;
  std::vector<io::PlotPanel> panels = {{"loss", "step", losses, positive},
                                       {"throughput", "step", {speed}, false},
                                       {"gradient norm (before clipping)", "step", {norm}, true}};
  // The classifier task: accuracy per noise band (band 0 the least noise).
  std::vector<io::PlotSeries> bands;
  for (int b = 0;; ++b) {
    const auto key = fmt::format("eval_acc_band{}", b);
    io::PlotSeries s{fmt::format("noise band {}", b), {}, {}};
    for (const auto& r : rows_)
      if (r.contains(key) && r[key].is_number())
        s.x.push_back(r["step"].get<double>()), s.y.push_back(r[key].get<double>());
    if (s.x.empty()) break;
    bands.push_back(std::move(s));
  }
  if (!bands.empty()) panels.push_back({"eval accuracy by noise band (EMA)", "step", bands, false, false, true});
  io::write_line_plot(png_, panels);
}

}  // namespace scorch::trainer
