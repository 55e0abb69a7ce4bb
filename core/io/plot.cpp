// Rasterises line charts into an RGB buffer (axes, tick labels via stb_easy_font) and writes a PNG.
#include "core/io/plot.h"

#include <stb_easy_font.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/io/image_io.h"

namespace scorch::io {

namespace {

using Rgb = std::array<unsigned char, 3>;
const std::array<Rgb, 7> kColors = {Rgb{31, 119, 180}, Rgb{214, 39, 40},  Rgb{44, 160, 44}, Rgb{148, 103, 189},
                                    Rgb{255, 127, 14}, Rgb{23, 190, 207}, Rgb{140, 86, 75}};

struct Canvas {
  int w, h;
  std::vector<unsigned char> px;
  Canvas(int w_, int h_) : w(w_), h(h_), px(static_cast<size_t>(w_) * h_ * 3, 255) {}
  void set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    std::copy(c.begin(), c.end(), px.begin() + (static_cast<size_t>(y) * w + x) * 3);
  }
  void line(double x0, double y0, double x1, double y1, Rgb c) {
    int steps = static_cast<int>(std::max(std::abs(x1 - x0), std::abs(y1 - y0))) + 1;
    for (int i = 0; i <= steps; ++i) {
      double t = static_cast<double>(i) / steps;
      set(static_cast<int>(std::lround(x0 + t * (x1 - x0))), static_cast<int>(std::lround(y0 + t * (y1 - y0))), c);
    }
  }
  void text(int x, int y, const std::string& s, Rgb c) {
    static char buf[60000];
    std::string copy = s;
    int quads =
        stb_easy_font_print(static_cast<float>(x), static_cast<float>(y), copy.data(), nullptr, buf, sizeof(buf));
    // Each quad is 4 vertices of (x, y, z, color) = 16 bytes; fill its bounding box.
    for (int q = 0; q < quads; ++q) {
      const float* v = reinterpret_cast<const float*>(buf + q * 64);
      for (int yy = static_cast<int>(v[1]); yy < static_cast<int>(v[9]); ++yy)
        for (int xx = static_cast<int>(v[0]); xx < static_cast<int>(v[4]); ++xx) set(xx, yy, c);
    }
  }
};

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
