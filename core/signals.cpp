// Async-signal-safe stop flag: the handler only stores the signal number, or _exits on the second one.
#include "core/signals.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace scorch {

namespace {

std::atomic<int> g_signal{0};
std::atomic<bool> g_saved{false};

extern "C" void on_stop_signal(int sig) {
  int expected = 0;
  if (!g_signal.compare_exchange_strong(expected, sig) && g_saved.load()) {
    static const char msg[] = "scorch: signal after the stop checkpoint was written, exiting now\n";
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(kExitPreempted);
  }
  if (expected != 0) {
    static const char msg[] = "scorch: second stop signal, exiting now without a checkpoint\n";
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(128 + sig);
  }
  static const char msg[] = "scorch: stop requested; finishing the current step and checkpointing\n";
  (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGTERM, SIGUSR1, SIGINT}) sigaction(sig, &sa, nullptr);
}

int stop_signal() { return g_signal.load(); }

void mark_stop_saved() { g_saved.store(true); }

void clear_stop_request() {
  g_signal.store(0);
  g_saved.store(false);
}

}  // namespace scorch
