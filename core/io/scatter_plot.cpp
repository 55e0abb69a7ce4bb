// Rasterises 2-D panels (heat map, points, arrows) onto one canvas and writes it as PNG.
#include "core/io/scatter_plot.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/io/canvas.h"
#include "core/io/image_io.h"

namespace scorch::io {

namespace {

constexpr int kTitle = 18;  // pixels above each panel for its title

void draw_panel(Canvas& cv, const ScatterPanel& p, int left, int top, int size) {
  const double span = p.hi - p.lo;
  SCORCH_CHECK(span > 0, "scatter panel '{}': empty range [{}, {}]", p.title, p.lo, p.hi);
  const auto px = [&](double x) { return left + (x - p.lo) / span * (size - 1); };
  const auto py = [&](double y) { return top + (p.hi - y) / span * (size - 1); };
  if (!p.log_density.empty()) {
    SCORCH_CHECK(p.grid > 0 && static_cast<int>(p.log_density.size()) == p.grid * p.grid,
                 "scatter panel '{}': {} density values for a {}x{} grid", p.title, p.log_density.size(), p.grid,
                 p.grid);
    const double top_value = *std::max_element(p.log_density.begin(), p.log_density.end());
    for (int y = 0; y < size; ++y)
      for (int x = 0; x < size; ++x) {
        const int gi = std::min(p.grid - 1, y * p.grid / size), gj = std::min(p.grid - 1, x * p.grid / size);
        const double v = std::clamp((p.log_density[gi * p.grid + gj] - top_value + 12.0) / 12.0, 0.0, 1.0);
        cv.set(left + x, top + y,
               Rgb{static_cast<unsigned char>(255 - 160 * v), static_cast<unsigned char>(255 - 110 * v), 255});
      }
  }
  const Rgb frame{90, 90, 90}, dot{20, 20, 20}, arrow{200, 40, 40};
  cv.line(left, top, left + size - 1, top, frame);
  cv.line(left, top + size - 1, left + size - 1, top + size - 1, frame);
  cv.line(left, top, left, top + size - 1, frame);
  cv.line(left + size - 1, top, left + size - 1, top + size - 1, frame);
  for (const auto& [x, y] : p.points) {
    const int cx = static_cast<int>(std::lround(px(x))), cy = static_cast<int>(std::lround(py(y)));
    if (cx < left || cx >= left + size || cy < top || cy >= top + size) continue;
    for (int d = 0; d < 4; ++d) cv.set(cx + d % 2, cy + d / 2, dot);
  }
  double longest = 0;
  for (const auto& a : p.arrows) longest = std::max(longest, std::hypot(a[2], a[3]));
  const double cell = span / std::max(p.arrow_cells, 1);
  for (const auto& a : p.arrows) {
    if (longest <= 0) break;
    const double length = std::hypot(a[2], a[3]);
    if (length <= 0) continue;
    const double k = 0.9 * cell / (p.unit_arrows ? length : longest), x1 = a[0] + k * a[2], y1 = a[1] + k * a[3];
    cv.line(px(a[0]), py(a[1]), px(x1), py(y1), arrow);
    cv.set(static_cast<int>(std::lround(px(x1))), static_cast<int>(std::lround(py(y1))), dot);
  }
  cv.text(left + 2, top - kTitle + 4, p.title, Rgb{0, 0, 0});
}

}  // namespace

void write_scatter_plot(const std::string& path, const std::vector<ScatterPanel>& panels, int columns, int size) {
  SCORCH_CHECK(!panels.empty() && columns >= 1 && size >= 50, "scatter plot '{}' needs at least one panel", path);
  const int n = static_cast<int>(panels.size()), cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  const int margin = 10, cell_w = size + margin, cell_h = size + kTitle + margin;
  Canvas cv(cols * cell_w + margin, rows * cell_h + margin);
  for (int i = 0; i < n; ++i)
    draw_panel(cv, panels[i], margin + (i % cols) * cell_w, margin + kTitle + (i / cols) * cell_h, size);
  write_png(path, Image{cv.h, cv.w, 3, std::move(cv.px)});
}

}  // namespace scorch::io
