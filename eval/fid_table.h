// The FID-vs-step table of a checkpoint series: rows in fid.json and fid.csv plus fid_vs_step.png and
// TensorBoard events, rewritten
// under a file lock so that concurrent jobs (a Slurm array scoring one checkpoint each) never lose a row.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace scorch::eval {

// A row: {"step", "checkpoint", "settings": {...}, "fid", optional "is_mean"/"is_std", "kid_mean"/"kid_std",
// "images", "samples", "seconds_sampling", "seconds_fid", "date"}. `settings` says what makes two rows
// comparable (images, sampling batch and seed, ema/model weights, preprocessing, reference, Inception weights).
class FidTable {
 public:
  // The table lives in `dir` (created when missing): fid.json, fid.csv, fid_vs_step.png.
  explicit FidTable(std::string dir);

  std::string json_path() const;
  std::string csv_path() const;
  std::string plot_path() const;

  // The row of `step` made with exactly `settings`, or null when there is none.
  nlohmann::json find(int64_t step, const nlohmann::json& settings) const;
  // Adds `row`, replacing one of the same step and settings, then rewrites both tables and the plot.
  void add(const nlohmann::json& row);
  // Redraws fid_vs_step.png from the rows made with `settings` (FID, and IS / KID panels where present), and
  // replaces the TensorBoard events in tb/ with the same curves (scalars fid, is_mean, is_std, kid_mean,
  // kid_std against the checkpoint step), so `tensorboard --logdir` shows them next to the training curves.
  void plot(const nlohmann::json& settings) const;
  std::string tensorboard_dir() const { return dir_ + "/tb"; }

 private:
  nlohmann::json read_rows() const;
  void write_rows(const nlohmann::json& rows) const;

  std::string dir_;
};

}  // namespace scorch::eval
