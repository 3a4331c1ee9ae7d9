// tools/lib/progress.h — progress of one training epoch, for people and for log files.
//
// On a terminal (isatty) one line is redrawn in place with '\r':
//   epoch 3/10 [=====>    ] 120/200  412 img/s  loss 0.4321  ETA 0:12
// Otherwise (a pipe, a log file, CI) plain lines are written, one about every 10% of the
// epoch or every `interval_s` seconds, whichever comes first, so logs stay short and readable.
// Either way the epoch ends with one summary line written by the caller (format_epoch_summary).
//
// The formatting functions are pure (numbers in, text out) and tested; ProgressBar only decides
// when to write. Rates and ETA: rate = done / elapsed, ETA = (total - done) / rate.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "train/fit.h"

namespace graft::tools {

// "0:07", "1:05", "1:02:03" (hours only when needed); "?:??" for negative or non-finite.
std::string format_duration(double seconds);
// `width` cells between brackets, floor(done/total*width) of them filled, the last filled one
// drawn as the arrow head: 120/200 in 10 cells -> "[=====>    ]"; done -> "[==========]".
std::string format_bar(int64_t done, int64_t total, int width);

struct ProgressState {
  int64_t epoch = 1, epochs = 1;  // 1-based
  int64_t done = 0, total = 0;    // images so far / in the epoch
  double elapsed_s = 0;           // since the epoch started
  double loss = 0;                // running mean loss so far
};
// The terminal line (no '\r', no newline).
std::string format_progress_line(const ProgressState& s, int bar_width = 20);
// The plain line: "epoch 3/10  120/200 (60%)  412 img/s  loss 0.4321  ETA 0:12".
std::string format_progress_plain(const ProgressState& s);

struct EpochSummary {
  int64_t epoch = 1, epochs = 1;
  double train_loss = 0, train_acc = 0;
  double valid_loss = 0, valid_acc = 0;  // NaN when there is no validation set
  double lr = 0, seconds = 0;
  bool best = false;                     // marks a new best validation loss
};
// "epoch 3/10  train loss 0.4321 acc 81.20%  valid loss 0.5012 acc 78.00%  lr 0.001  12.3s  *best"
std::string format_epoch_summary(const EpochSummary& s);

class ProgressBar {
 public:
  // `sink` receives the text to write (default: fputs to stdout + fflush). `tty`: -1 asks
  // isatty(stdout), 0/1 force it. `clock` returns seconds (default: steady_clock).
  ProgressBar(int64_t epoch, int64_t epochs, int64_t total, int tty = -1, double interval_s = 10,
              std::function<void(const std::string&)> sink = {}, std::function<double()> clock = {});
  // Reports `done` images processed so far and the running mean loss.
  void update(int64_t done, double loss);
  // Clears the terminal line (or writes nothing in plain mode), then writes `summary` + '\n'.
  void finish(const std::string& summary);
  bool tty() const { return tty_; }

 private:
  void write(const std::string& s);
  ProgressState state_;
  bool tty_;
  double interval_s_, start_, last_print_ = -1, last_draw_ = -1;
  int64_t next_decile_ = 1;
  size_t last_len_ = 0;
  std::function<void(const std::string&)> sink_;
  std::function<double()> clock_;
};

// The training loop's callback (train/fit.h) that draws the bar during an epoch, writes the
// summary line at its end, and says when early stopping ended the run. quiet: the summary
// lines only.
class ProgressCallback : public Callback {
 public:
  explicit ProgressCallback(bool quiet, int64_t patience = 0) : quiet_(quiet), patience_(patience) {}
  void on_epoch_begin(FitState& s) override;
  void on_batch_end(FitState& s, const Batch&, const StepResult&) override;
  void on_epoch_end(FitState& s) override;

 private:
  bool quiet_, finishing_ = false;
  int64_t patience_;
  std::unique_ptr<ProgressBar> bar_;
};

}  // namespace graft::tools
