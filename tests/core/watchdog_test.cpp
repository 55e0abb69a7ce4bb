// Watchdog: fires once for a section that outlives its timeout, never for short sections.
#include "core/dist/watchdog.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
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

// Records each firing's message and time.
struct Firings {
  std::atomic<int> count{0};
  std::mutex mu;
  std::string last;
  std::chrono::steady_clock::time_point at;
  std::function<void(const std::string&)> hook() {
    return [this](const std::string& m) {
      std::lock_guard<std::mutex> lock(mu);
      last = m;
      at = std::chrono::steady_clock::now();
      ++count;
    };
  }
};

// A guard inside another (the gradient all-reduce inside the capture of a training step): when the inner one ends,
// the outer section is guarded again, named, and timed from its own start. With a 1 s timeout polled every 0.25 s
// it fires 1.0-1.25 s after the outer section began; had the inner guard's end restarted the clock, 0.6 s later.
TEST(Watchdog, AnOuterSectionStaysGuardedFromItsOwnStartAfterAnInnerOneEnds) {
  Firings fired;
  Watchdog w(1.0, fired.hook());
  const auto start = std::chrono::steady_clock::now();
  {
    auto outer = w.guard("capturing step 3");
    {
      auto inner = w.guard("gradient all-reduce");
      std::this_thread::sleep_for(std::chrono::milliseconds(600));
    }
    while (fired.count.load() == 0 && std::chrono::steady_clock::now() - start < std::chrono::seconds(3))
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(fired.count.load(), 1);
  std::lock_guard<std::mutex> lock(fired.mu);
  EXPECT_NE(fired.last.find("capturing step 3"), std::string::npos) << fired.last;
  EXPECT_LT(std::chrono::duration<double>(fired.at - start).count(), 1.45) << "timed from the inner section's end";
}

// Scopes that end out of order (moved into other owners) leave only what is still open under guard: once the outer
// one has ended, the inner one is watched, and once both have, nothing is.
TEST(Watchdog, ScopesEndingOutOfOrderGuardOnlyWhatIsStillOpen) {
  Firings fired;
  Watchdog w(0.3, fired.hook());
  {
    auto outer = std::make_unique<Watchdog::Scope>(w.guard("outer"));
    auto inner = std::make_unique<Watchdog::Scope>(w.guard("inner"));
    outer.reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    inner.reset();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_EQ(fired.count.load(), 0) << "the outer section came back after it had ended: " << fired.last;
  {
    auto outer = std::make_unique<Watchdog::Scope>(w.guard("outer"));
    auto inner = std::make_unique<Watchdog::Scope>(w.guard("inner"));
    outer.reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
  }
  EXPECT_EQ(fired.count.load(), 1);
  std::lock_guard<std::mutex> lock(fired.mu);
  EXPECT_NE(fired.last.find("inner"), std::string::npos) << fired.last;
}

}  // namespace
}  // namespace scorch::dist
