// Small line charts written as PNG (training metrics, FID against step): no plotting library needed.
#pragma once
#include <string>
#include <vector>

namespace scorch::io {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
};

struct PlotPanel {
  std::string title;
  std::string x_label;
  std::vector<PlotSeries> series;
  bool log_y = false;
  bool log_x = false;
  // A filled square at every point: sparse series (a benchmark's few budgets, a single-point sampler) are
  // readable, where lines alone draw nothing for one point.
  bool markers = false;
};

// Panels stacked vertically, each `width` x `panel_height` pixels; written atomically.
void write_line_plot(const std::string& path, const std::vector<PlotPanel>& panels, int width = 800,
                     int panel_height = 300);

}  // namespace scorch::io
