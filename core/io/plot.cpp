// Rasterises line charts into an RGB buffer (axes, tick labels via stb_easy_font) and writes a PNG.
#include "core/io/plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/io/canvas.h"
#include "core/io/image_io.h"

namespace scorch::io {

namespace {

std::string tick_label(double v) {
  if (v == 0) return "0";
  double a = std::abs(v);
  if (a >= 1e5 || a < 1e-3) return fmt::format("{:.2e}", v);
  return fmt::format("{:.4g}", v);
}

void draw_panel(Canvas& cv, const PlotPanel& p, int top, int height) {
  const int left = 70, right = cv.w - 20, ptop = top + 25, pbottom = top + height - 35;
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  auto ty = [&](double y) { return p.log_y ? std::log10(std::max(y, 1e-30)) : y; };
  auto tx = [&](double x) { return p.log_x ? std::log10(std::max(x, 1e-30)) : x; };
  for (const auto& s : p.series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, tx(s.x[i])), xmax = std::max(xmax, tx(s.x[i]));
      ymin = std::min(ymin, ty(s.y[i])), ymax = std::max(ymax, ty(s.y[i]));
    }
  cv.text(left, top + 6, p.title, {0, 0, 0});
  const Rgb axis{90, 90, 90}, grid{225, 225, 225};
  cv.line(left, pbottom, right, pbottom, axis);
  cv.line(left, ptop, left, pbottom, axis);
  if (!std::isfinite(xmin)) {
    cv.text(left + 10, ptop + 10, "no data yet", axis);
    return;
  }
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + 1;
  auto px = [&](double x) { return left + (tx(x) - xmin) / (xmax - xmin) * (right - left); };
  auto py = [&](double y) { return pbottom - (ty(y) - ymin) / (ymax - ymin) * (pbottom - ptop); };
  for (int k = 0; k <= 4; ++k) {
    double fy = ymin + (ymax - ymin) * k / 4.0, y = pbottom - (pbottom - ptop) * k / 4.0;
    cv.line(left + 1, y, right, y, grid);
    cv.text(4, static_cast<int>(y) - 3, tick_label(p.log_y ? std::pow(10.0, fy) : fy), axis);
    double fx = xmin + (xmax - xmin) * k / 4.0, x = left + (right - left) * k / 4.0;
    cv.text(static_cast<int>(x) - 10, pbottom + 6, tick_label(p.log_x ? std::pow(10.0, fx) : fx), axis);
  }
  cv.text((left + right) / 2 - 20, pbottom + 20, p.x_label, axis);
  for (size_t si = 0; si < p.series.size(); ++si) {
    const auto& s = p.series[si];
    Rgb c = kColors[si % kColors.size()];
    for (size_t i = 1; i < std::min(s.x.size(), s.y.size()); ++i)
      if (std::isfinite(s.y[i - 1]) && std::isfinite(s.y[i]))
        cv.line(px(s.x[i - 1]), py(s.y[i - 1]), px(s.x[i]), py(s.y[i]), c);
    if (p.markers)
      for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
        if (std::isfinite(s.y[i]))
          for (int d = -2; d <= 2; ++d) cv.line(px(s.x[i]) - 2, py(s.y[i]) + d, px(s.x[i]) + 2, py(s.y[i]) + d, c);
    cv.text(right - 150, ptop + 4 + 12 * static_cast<int>(si), s.name, c);
  }
}

}  // namespace

void write_line_plot(const std::string& path, const std::vector<PlotPanel>& panels, int width, int panel_height) {
  SCORCH_CHECK(!panels.empty() && width >= 200 && panel_height >= 100, "plot '{}' needs at least one panel", path);
  Canvas cv(width, panel_height * static_cast<int>(panels.size()));
  for (size_t i = 0; i < panels.size(); ++i)
    draw_panel(cv, panels[i], static_cast<int>(i) * panel_height, panel_height);
  write_png(path, Image{cv.h, cv.w, 3, std::move(cv.px)});
}

}  // namespace scorch::io
