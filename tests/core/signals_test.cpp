// Stop signals: the first one sets the flag, the second ends the process with 128 + signal.
#include "core/signals.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace scorch {
namespace {

TEST(Signals, FirstSignalRequestsAStop) {
  install_stop_handlers();
  clear_stop_request();
  EXPECT_FALSE(stop_requested());
  raise(SIGUSR1);
  EXPECT_TRUE(stop_requested());
  EXPECT_EQ(stop_signal(), SIGUSR1);
  clear_stop_request();
}

TEST(SignalsDeathTest, SecondSignalExitsAtOnce) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        install_stop_handlers();
        clear_stop_request();
        raise(SIGTERM);
        raise(SIGTERM);
      },
      ::testing::ExitedWithCode(128 + SIGTERM), "second stop signal");
}

}  // namespace
}  // namespace scorch
