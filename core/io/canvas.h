// An RGB raster with lines, filled boxes and stb_easy_font text: what the PNG charts (plot.cpp,
// scatter_plot.cpp) draw on.
#pragma once
#include <stb_easy_font.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

namespace scorch::io {

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

}  // namespace scorch::io
