// FID against network evaluations from bench/fast_samplers.sh's table.csv, one line per sampler family.
// Usage: fast_samplers_plot TABLE.csv OUT.png. Rows named FAMILY_BUDGET (dpm_2m_10, dpm_2m_20, ...) join one
// line; a family with one row (EDM, DDIM, the ODE, PC) is one marker. NFE on a log axis: 10 to 2,000.
#include <cstdio>
#include <exception>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/io/plot.h"

namespace {

using namespace scorch;

std::vector<std::string> split_csv_head(const std::string& line, size_t fields) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string cell;
  while (out.size() < fields && std::getline(ss, cell, ',')) out.push_back(cell);
  return out;
}

double number(const std::string& s, const std::string& file, size_t line, const char* what) {
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  SCORCH_FAIL("{}:{}: {} '{}' is not a number", file, line, what, s);
}

// dpm_2m_10 -> dpm_2m; ode_rk45 -> ode_rk45 (no numeric tail).
std::string family(const std::string& name) {
  auto cut = name.find_last_of('_');
  if (cut == std::string::npos || cut + 1 == name.size()) return name;
  for (size_t i = cut + 1; i < name.size(); ++i)
    if (name[i] < '0' || name[i] > '9') return name;
  return name.substr(0, cut);
}

void plot(const std::string& csv, const std::string& png) {
  std::ifstream in(csv);
  SCORCH_CHECK(in, "cannot read '{}'", csv);
  std::string line;
  std::getline(in, line);
  SCORCH_CHECK(line.rfind("name,nfe,seconds_per_image,fid", 0) == 0,
               "{}: the header is '{}', expected bench/fast_samplers.sh's 'name,nfe,seconds_per_image,fid,...'", csv,
               line);
  std::map<std::string, io::PlotSeries> by_family;
  std::vector<std::string> order;
  for (size_t n = 2; std::getline(in, line); ++n) {
    auto f = split_csv_head(line, 4);
    SCORCH_CHECK(f.size() == 4, "{}:{}: expected name,nfe,seconds_per_image,fid, got '{}'", csv, n, line);
    const std::string fam = family(f[0]);
    if (!by_family.count(fam)) order.push_back(fam), by_family[fam].name = fam;
    by_family[fam].x.push_back(number(f[1], csv, n, "nfe"));
    by_family[fam].y.push_back(number(f[3], csv, n, "fid"));
  }
  SCORCH_CHECK(!order.empty(), "{} has no rows", csv);
  io::PlotPanel panel{"FID vs network evaluations per image", "NFE (log scale)", {}};
  panel.log_x = panel.markers = true;
  for (const auto& fam : order) panel.series.push_back(by_family[fam]);
  io::write_line_plot(png, {panel}, 800, 400);
  std::printf("wrote %s (%zu samplers)\n", png.c_str(), order.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fast_samplers_plot TABLE.csv OUT.png\n");
    return 2;
  }
  try {
    plot(argv[1], argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fast_samplers_plot: %s\n", e.what());
    return 1;
  }
  return 0;
}
