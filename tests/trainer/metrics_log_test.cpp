// The metrics log on a full disk: a row that cannot be appended is an error naming metrics.jsonl, and a
// resumed log keeps the complete rows and drops the one cut short; a row whose step is no integer is an error.
#include "trainer/metrics_log.h"

#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "support/checks.h"
#include "support/file_size_limit.h"
#include "support/run.h"

namespace scorch {
namespace metrics_log {

TEST(MetricsLog, ARowThatDoesNotReachTheDiskIsAnErrorAndResumeKeepsTheCompleteRows) {
  const auto dir = test::temp_dir("metrics_log");
  {
    trainer::MetricsLog log(dir, 0, true, false);
    // Rows of ~5 KB under a 60 KB cap; metrics.png (plotted at the first row) stays well under it.
    const std::string pad(5000, 'x');
    test::FileSizeLimit limit(60000);
    int written = 0;
    try {
      for (int step = 1; step <= 20; ++step, ++written) log.append({{"step", step}, {"loss", 0.5}, {"note", pad}});
      ADD_FAILURE() << "20 rows of ~5 KB were appended under a 60 KB cap";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("metrics.jsonl"), std::string::npos) << e.what();
    }
    EXPECT_EQ(written, 11);
  }
  trainer::MetricsLog resumed(dir, 100, true, false);
  ASSERT_FALSE(resumed.rows().empty());
  for (size_t i = 0; i < resumed.rows().size(); ++i) EXPECT_EQ(resumed.rows()[i]["step"], static_cast<int>(i) + 1);
  EXPECT_EQ(resumed.rows().size(), 11u);
}

// A step that is not an integer (a hand edit, a forged file) names the file and the key instead of reaching
// nlohmann's conversion, which truncates 2.5 and is undefined for 1e300.
TEST(MetricsLog, AResumedLogRefusesARowWhoseStepIsNoInteger) {
  for (const std::string step : {"2.5", "1e300", "\"3\"", "18446744073709551615"}) {
    const auto dir = test::temp_dir("metrics_log_bad_step");
    write_file_atomic(dir + "/metrics.jsonl", "{\"step\": 1, \"loss\": 0.5}\n{\"step\": " + step + "}\n");
    test::expect_error_containing([&] { trainer::MetricsLog log(dir, 10, true, false); }, "metrics.jsonl: step");
  }
}

}  // namespace metrics_log
}  // namespace scorch
