// What TensorBoard reads from a log dir (tests/support/tb_events.py run with the test Python).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace scorch::test {

// True when the test Python has the tensorboard package.
bool have_tensorboard();
// {"scalars": {tag: [[step, value]...]}, "images": {tag: [[step, w, h]...]}, "files": N}; fails the test
// (and returns null) when the script does not run.
nlohmann::json read_tensorboard(const std::string& logdir);

}  // namespace scorch::test
