// 2-D panels written as PNG: a density as a heat map, points, and a vector field as arrows (scorch lab).
#pragma once
#include <array>
#include <string>
#include <vector>

namespace scorch::io {

struct ScatterPanel {
  std::string title;
  double lo = -10, hi = 10;  // the square [lo, hi]^2 shown
  // log density on a grid x grid lattice over the square, row 0 at the top (y = hi), column 0 at x = lo;
  // drawn in shades of blue from its maximum down to 12 nats below. Empty: white.
  std::vector<double> log_density;
  int grid = 0;
  std::vector<std::array<double, 2>> points;  // drawn as small dark dots
  // (x, y, dx, dy) in data units: each arrow from (x, y) along (dx, dy), scaled so the longest spans one
  // grid cell of the arrow lattice (arrows are meant to be on a lattice of `arrow_cells` per side).
  std::vector<std::array<double, 4>> arrows;
  int arrow_cells = 20;
  bool unit_arrows = false;  // every arrow the same length: a direction field
};

// Panels in rows of `columns`, each `size` x `size` pixels plus its title; written atomically.
void write_scatter_plot(const std::string& path, const std::vector<ScatterPanel>& panels, int columns = 4,
                        int size = 300);

}  // namespace scorch::io
