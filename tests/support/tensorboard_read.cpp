// Runs tb_events.py and parses its JSON; the tensorboard package is the independent reader of our files.
#include "support/tensorboard_read.h"

#include <gtest/gtest.h>

#include "support/run.h"

namespace scorch::test {

bool have_tensorboard() {
  return !python().empty() && run(python() + " -c 'import tensorboard.backend.event_processing'").code == 0;
}

nlohmann::json read_tensorboard(const std::string& logdir) {
  const auto r = run(python() + " " + source_dir() + "/tests/support/tb_events.py " + logdir);
  EXPECT_EQ(r.code, 0) << r.output;
  if (r.code != 0) return nullptr;
  // The JSON is the last line; TensorBoard may warn before it.
  const auto start = r.output.rfind("\n{");
  return nlohmann::json::parse(start == std::string::npos ? r.output : r.output.substr(start + 1));
}

}  // namespace scorch::test
