// Watchdog: fires once for a section that outlives its timeout, never for short sections.
#include "core/dist/watchdog.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace scorch::dist {
namespace {

TEST(Watchdog, FiresForAStalledSectionNamingIt) {
  std::atomic<int> fired{0};
  std::string message;
  std::mutex mu;
  Watchdog w(0.2, [&](const std::string& m) {
    std::lock_guard<std::mutex> lock(mu);
    message = m;
    ++fired;
  });
  {
    auto scope = w.guard("all-reduce at step 7");
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
  }
  EXPECT_EQ(fired.load(), 1);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_NE(message.find("all-reduce at step 7"), std::string::npos) << message;
  EXPECT_NE(message.find("rank 0"), std::string::npos) << message;
}

TEST(Watchdog, QuietForShortSections) {
  std::atomic<int> fired{0};
  Watchdog w(0.5, [&](const std::string&) { ++fired; });
  for (int i = 0; i < 10; ++i) {
    auto scope = w.guard("step");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // idle time outside sections never counts
  EXPECT_EQ(fired.load(), 0);
}

// A guard inside another (the gradient all-reduce inside the capture of a training step): when the inner one ends,
// the outer section is guarded again, timed from its own start and named.
TEST(Watchdog, AnOuterSectionStaysGuardedAfterAnInnerOneEnds) {
  std::atomic<int> fired{0};
  std::string message;
  std::mutex mu;
  Watchdog w(0.3, [&](const std::string& m) {
    std::lock_guard<std::mutex> lock(mu);
    message = m;
    ++fired;
  });
  {
    auto outer = w.guard("capturing step 3");
    { auto inner = w.guard("gradient all-reduce"); }
    std::this_thread::sleep_for(std::chrono::milliseconds(900));
  }
  EXPECT_EQ(fired.load(), 1);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_NE(message.find("capturing step 3"), std::string::npos) << message;
}

// Nesting does not restart the clock of the outer section, nor leave a guard behind once both have ended.
TEST(Watchdog, NestedSectionsEndCleanly) {
  std::atomic<int> fired{0};
  Watchdog w(0.4, [&](const std::string&) { ++fired; });
  for (int i = 0; i < 5; ++i) {
    auto outer = w.guard("step");
    auto inner = w.guard("all-reduce");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(fired.load(), 0);
}

}  // namespace
}  // namespace scorch::dist
