// Helpers shared by the launch/ tests: text files, polling, and a tiny synthetic dataset for training.
#pragma once
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "support/run.h"

namespace scorch::test {

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Polls `done` every 0.2 s until it holds or `timeout_s` passes; returns whether it held.
inline bool wait_until(const std::function<bool()>& done, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return true;
}

// 64 synthetic 16x16 RGB images (the size of configs/small/ve_tiny.yaml) in `dir`; empty string on success,
// else the command's output.
inline std::string make_tiny_dataset(const std::string& dir) {
  const auto r = run(scorch_bin() + " data synth shapes --out '" + dir + "' --count 64 --resolution 16 --channels 3");
  return r.code == 0 ? "" : r.output;
}

// The `scorch train` arguments of a tiny CPU run: ve_tiny for `n_iters` steps, a rolling checkpoint every
// `ckpt_every` steps, no sample grids.
inline std::string tiny_train_args(const std::string& data, const std::string& workdir, int n_iters, int ckpt_every) {
  return "--config '" + source_dir() +
         "/configs/small/ve_tiny.yaml' --set training.n_iters=" + std::to_string(n_iters) +
         " --set training.snapshot_freq_for_preemption=" + std::to_string(ckpt_every) +
         " --set training.snapshot_sampling=false --set data.path='" + data + "' --workdir '" + workdir + "'";
}

// The step recorded in a checkpoint dir's meta.json (the dir `checkpoints/latest` names, for instance).
inline int64_t checkpoint_step(const std::string& ckpt_dir) {
  const auto meta = nlohmann::json::parse(read_text(ckpt_dir + "/meta.json"), nullptr, false);
  return meta.is_object() && meta.contains("step") ? meta["step"].get<int64_t>() : -1;
}

}  // namespace scorch::test
