// The metrics log on a full disk: a row that cannot be appended is an error naming metrics.jsonl, and a
// resumed log keeps the complete rows and drops the one cut short.
#include "trainer/metrics_log.h"

#include <gtest/gtest.h>

#include "core/error.h"
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

}  // namespace metrics_log
}  // namespace scorch
