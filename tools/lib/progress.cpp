// tools/lib/progress.cpp — see progress.h.
#include "progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "format.h"

namespace graft::tools {

namespace {

double rate_of(const ProgressState& s) { return s.elapsed_s > 0 ? s.done / s.elapsed_s : 0.0; }

// "ETA 0:12", or "ETA ?:??" before anything has been measured.
std::string eta_of(const ProgressState& s) {
  double r = rate_of(s);
  return "ETA " + format_duration(r > 0 ? (s.total - s.done) / r : -1);
}

std::string epoch_of(int64_t epoch, int64_t epochs) {
  return "epoch " + std::to_string(epoch) + "/" + std::to_string(epochs);
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?:??";
  auto t = static_cast<int64_t>(std::llround(seconds));
  int64_t h = t / 3600, m = (t / 60) % 60, s = t % 60;
  char b[48];
  if (h > 0) std::snprintf(b, sizeof b, "%lld:%02lld:%02lld", (long long)h, (long long)m, (long long)s);
  else std::snprintf(b, sizeof b, "%lld:%02lld", (long long)m, (long long)s);
  return b;
}

std::string format_bar(int64_t done, int64_t total, int width) {
  double f = total > 0 ? std::clamp(static_cast<double>(done) / total, 0.0, 1.0) : 0.0;
  int filled = static_cast<int>(f * width);  // whole cells done; the last one drawn as the arrow head
  // Appended piece by piece: GCC 12 gives a false -Wrestrict for "literal" + std::string&&.
  std::string bar(1, '[');
  if (filled > 0) bar.append(filled - 1, '=').push_back(filled == width ? '=' : '>');
  bar.append(width - filled, ' ').push_back(']');
  return bar;
}

std::string format_progress_line(const ProgressState& s, int bar_width) {
  return epoch_of(s.epoch, s.epochs) + " " + format_bar(s.done, s.total, bar_width) + " " +
         std::to_string(s.done) + "/" + std::to_string(s.total) + "  " + fmt("%.0f", rate_of(s)) +
         " img/s  loss " + fmt("%.4f", s.loss) + "  " + eta_of(s);
}

std::string format_progress_plain(const ProgressState& s) {
  double pct = s.total > 0 ? 100.0 * s.done / s.total : 0.0;
  return epoch_of(s.epoch, s.epochs) + "  " + std::to_string(s.done) + "/" + std::to_string(s.total) + " (" +
         fmt("%.0f", pct) + "%)  " + fmt("%.0f", rate_of(s)) + " img/s  loss " + fmt("%.4f", s.loss) + "  " +
         eta_of(s);
}

std::string format_epoch_summary(const EpochSummary& s) {
  std::string out = epoch_of(s.epoch, s.epochs) + "  train loss " + fmt("%.4f", s.train_loss) + " acc " +
                    fmt("%.2f%%", 100 * s.train_acc);
  if (!std::isnan(s.valid_loss))
    out += "  valid loss " + fmt("%.4f", s.valid_loss) + " acc " + fmt("%.2f%%", 100 * s.valid_acc);
  out += "  lr " + fmt("%g", s.lr) + "  " + fmt("%.1f", s.seconds) + "s";
  if (s.best) out += "  *best";
  return out;
}

// ---- ProgressBar ----------------------------------------------------------------------------

ProgressBar::ProgressBar(int64_t epoch, int64_t epochs, int64_t total, int tty, double interval_s,
                         std::function<void(const std::string&)> sink, std::function<double()> clock)
    : tty_(tty < 0 ? isatty(STDOUT_FILENO) == 1 : tty == 1),
      interval_s_(interval_s),
      sink_(std::move(sink)),
      clock_(std::move(clock)) {
  if (!clock_)
    clock_ = [] {
      using namespace std::chrono;
      return duration<double>(steady_clock::now().time_since_epoch()).count();
    };
  state_.epoch = epoch, state_.epochs = epochs, state_.total = total;
  start_ = clock_();
}

void ProgressBar::write(const std::string& s) {
  if (sink_) return sink_(s);
  std::fputs(s.c_str(), stdout);
  std::fflush(stdout);
}

void ProgressBar::update(int64_t done, double loss) {
  double now = clock_();
  state_.done = done, state_.loss = loss, state_.elapsed_s = now - start_;
  if (tty_) {
    // Redraw at most 10 times a second (and always at the end): terminals are slow.
    if (done < state_.total && last_draw_ >= 0 && now - last_draw_ < 0.1) return;
    last_draw_ = now;
    std::string line = format_progress_line(state_);
    size_t len = line.size();
    if (len < last_len_) line += std::string(last_len_ - len, ' ');  // erase a longer old line
    last_len_ = len;
    write("\r" + line);
    return;
  }
  // Plain: a line when a new tenth of the epoch is reached or `interval_s` has passed.
  bool decile = state_.total > 0 && done * 10 >= next_decile_ * state_.total;
  bool timed = interval_s_ > 0 && now - std::max(last_print_, start_) >= interval_s_;
  if (!decile && !timed) return;
  while (state_.total > 0 && done * 10 >= next_decile_ * state_.total) ++next_decile_;
  last_print_ = now;
  write(format_progress_plain(state_) + "\n");
}

void ProgressBar::finish(const std::string& summary) {
  if (tty_ && last_len_ > 0) {
    std::string clear(1, '\r');
    clear.append(last_len_, ' ').push_back('\r');
    write(clear);
  }
  write(summary + "\n");
}

void ProgressCallback::on_epoch_begin(FitState& s) {
  finishing_ = false;
  bar_ = std::make_unique<ProgressBar>(s.epoch, s.epochs, s.train_size, quiet_ ? 0 : -1, 10, [this](const std::string& text) {
    if (quiet_ && !finishing_) return;  // --quiet: only the epoch summary line is written
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
  });
}

void ProgressCallback::on_batch_end(FitState& s, const Batch&, const StepResult&) {
  bar_->update(s.seen, s.metrics.train_loss);
}

void ProgressCallback::on_epoch_end(FitState& s) {
  const EpochMetrics& m = s.metrics;
  finishing_ = true;
  bar_->finish(format_epoch_summary(
      EpochSummary{m.epoch, s.epochs, m.train_loss, m.train_acc, m.valid_loss, m.valid_acc, m.lr, m.seconds, s.improved}));
  if (s.stop && s.progress.epochs_since_best >= patience_ && patience_ > 0)
    std::printf("early stopping: no lower validation loss for %lld epochs (best: epoch %lld, %.4f)\n",
                static_cast<long long>(patience_), static_cast<long long>(s.progress.best_epoch),
                s.progress.best_valid_loss);
  std::fflush(stdout);
}

}  // namespace graft::tools
