// Preemption signals: SIGTERM / SIGUSR1 / SIGINT ask the run to stop after the current step; a second
// signal ends the process at once. Shared by the trainer and the sampler farm.
#pragma once

namespace scorch {

// Exit status of a run that stopped cleanly on a signal after checkpointing, so a Slurm script can tell
// "preempted, requeue me" from success (0) and failure (1).
constexpr int kExitPreempted = 3;

void install_stop_handlers();
// The signal number that asked to stop, or 0.
int stop_signal();
inline bool stop_requested() { return stop_signal() != 0; }
// The run has saved what a stop needs (its checkpoint is on disk): a further signal now exits at once with
// kExitPreempted instead of 128+sig, so a launcher that signals the slower ranks after the first one exited
// (srun --kill-on-bad-exit) does not turn a clean preemption into a failure.
void mark_stop_saved();
// Forgets a stop request (tests, or a run that handled it and goes on).
void clear_stop_request();

}  // namespace scorch
