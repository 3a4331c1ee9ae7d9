// src/train/interrupt.h — Ctrl-C (SIGINT) and SIGTERM during training: finish the step, save,
// and exit with the shell's code, instead of dying with the work of the epoch lost.
//
//   InterruptGuard guard;                     // installs the handlers; the destructor restores them
//   fit_options.stop_requested = [] { return interrupt_signal() != 0; };
//   ... fit() returns with progress.interrupted: save a checkpoint, then
//   return 128 + interrupt_signal();          // 130 for SIGINT, 143 for SIGTERM, as shells expect
//
// The handler only stores the signal number in a lock-free atomic and writes one line with
// write(2) (both async-signal-safe); the training loop reads it between steps (train/fit.h Note [Interrupted epochs]). A second signal
// while the first is being handled (the user presses Ctrl-C again because saving takes long)
// writes one line with write(2) and calls _exit(128 + signal) at once: the checkpoint being
// written is then only a "<name>.tmp" file, and the previous checkpoint stays as it was
// (tensor/hdf5_io.h save_tensors writes to a temporary name and renames).
#pragma once

namespace graft {

// 0, or the first SIGINT / SIGTERM received while an InterruptGuard was alive.
int interrupt_signal();
// The signal's name for messages: "SIGINT", "SIGTERM" ("signal N" otherwise).
const char* signal_name(int sig);

class InterruptGuard {
 public:
  InterruptGuard();   // clears interrupt_signal() and installs the handlers
  ~InterruptGuard();  // puts the previous handlers back (Ctrl-C kills at once again)
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
};

}  // namespace graft
