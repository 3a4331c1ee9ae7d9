// src/train/fit.h — graft's one training loop: fit() and evaluate(), with callbacks.
//
//   for epoch = progress.epoch + 1 .. epochs:
//     model.train()
//     for each batch of the train loader (its shuffle is a function of (seed, epoch)):
//       callbacks: on_batch_begin (mixup/cutmix may rewrite the inputs and set soft targets)
//       zero_grad (first micro-batch of a step); out = model(x); loss = loss_fn(out, y); backward
//       a NaN or infinite loss stops here, before the step (NonFiniteLoss)
//       every `accumulate` batches: [clip the gradients' norm] step; callbacks: on_step_end
//       callbacks: on_batch_end (a progress bar)
//     with a validation loader: evaluate() -> validation loss and top-1, in eval mode
//     callbacks: on_epoch_metrics (a data-parallel run sums the ranks' numbers here)
//     the best validation loss so far: improved? (always true without validation)
//     callbacks: on_epoch_end (schedules, checkpoints, early stopping, reports) — any may stop
//
// Every command that trains (graft train, graft demo, graft bench's train steps) and the tour's
// exercises run this loop; what differs between them is only their callbacks. Frozen batch
// norm needs nothing here: a frozen BatchNorm2d keeps its running statistics by itself
// (layers/batch_norm2d.h).
//
// Shapes: the loader gives inputs [B, ...] and labels Int64 [B]; the model maps inputs to
// outputs [B, L] (L = 1 for a binary BCE model); loss_fn(outputs, labels) is a scalar. A batch
// whose `targets` a callback set ([B, L] float, soft targets) passes those to loss_fn instead.
//
// Note [Gradient accumulation]
// With accumulate = N the gradients of N micro-batches add up (autograd accumulates with +=)
// before one optimizer step. Each micro-batch's (mean) loss is backpropagated times its size
// B_i, and before the step the sum is divided by G = sum B_i: the gradient of the mean loss over
// the G samples, i.e. that of one batch of G samples (for a model without batch norm, whose
// statistics are per micro-batch). An epoch's last, shorter group steps with what it has.
#pragma once

#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/loader.h"
#include "layers/module.h"
#include "optim/optimizer.h"
#include "optim/plateau.h"
#include "optim/scheduler.h"
#include "train/metrics.h"

namespace graft {

// One epoch's numbers (accuracies are fractions; NaN where there is no validation set).
struct EpochMetrics {
  int64_t epoch = 0;
  double train_loss = 0, train_acc = 0;
  double valid_loss = 0, valid_acc = 0;
  double lr = 0, seconds = 0;
};

// An epoch stopped part way by FitOptions::stop_requested (Note [Interrupted epochs]): epoch
// `FitProgress::epoch + 1` has trained its first `batches` loader batches.
struct PartialEpoch {
  int64_t batches = 0;   // loader batches consumed (the next one to build is number `batches`)
  int64_t steps = 0;     // optimizer steps taken in them
  int64_t seen = 0, correct = 0;  // training samples and correct top-1 so far
  double loss_sum = 0;   // sum of the samples' losses so far
  double seconds = 0;    // time spent in the epoch so far
};

// How far a run has come: what a training checkpoint saves so that fit() can continue it.
struct FitProgress {
  int64_t epoch = 0;  // epochs completed
  double best_valid_loss = std::numeric_limits<double>::infinity();
  int64_t epochs_since_best = 0;
  int64_t best_epoch = 0;
  std::vector<EpochMetrics> history;
  PartialEpoch partial;      // batches == 0: none (the run stopped at an epoch's end)
  bool interrupted = false;  // fit() returned because stop_requested() said so (not saved)
};

using LossFn = std::function<Tensor(const Tensor& outputs, const Tensor& labels)>;

struct StepResult {
  Tensor outputs;  // [B, L], on the model's device
  Tensor loss;     // [] scalar
};
// One optimization step on one batch (already on the model's device).
StepResult train_step(Module& model, Optimizer& optimizer, const LossFn& loss, const Tensor& inputs,
                      const Tensor& labels);

// What the callbacks see, and may change.
struct FitState {
  Module& model;
  Optimizer& optimizer;
  int64_t epochs;           // the last epoch
  int64_t epoch = 0;        // the epoch running now (1-based)
  EpochMetrics metrics;     // this epoch's (complete in on_epoch_end)
  FitProgress progress;     // finished epochs, best validation loss; metrics joins history at the end
  bool improved = false;    // this epoch's validation loss is the best so far
  int64_t train_size = 0;   // training samples per epoch (a data-parallel rank: its shard)
  int64_t seen = 0;         // training samples of this epoch so far
  int64_t valid_seen = 0;   // validation samples of this epoch (0 without validation)
  int64_t batch = 0;        // batches of this epoch so far (1-based in on_batch_* callbacks)
  int64_t step = 0;         // optimizer steps in this call of fit()
  double grad_norm = std::numeric_limits<double>::quiet_NaN();  // before clipping (with clip_grad_norm)
  bool stop = false;        // set by a callback: no more epochs after this one
  // Sums a vector over the processes of a data-parallel run, in place (set by src/dist's
  // DataParallel; empty in one process). For callbacks that evaluate on their own: each
  // process sees only its shard of the validation set.
  std::function<void(std::vector<double>&)> sum_over_processes;
};

// What fit() throws when a training loss is NaN or infinite: the message names the epoch, the
// batch and the lr. It is thrown before that batch's optimizer step, so the model still holds
// the weights of the step before, and the checkpoints written so far are untouched.
struct NonFiniteLoss : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_fit_begin(FitState&) {}
  virtual void on_epoch_begin(FitState&) {}
  virtual void on_batch_begin(FitState&, Batch&) {}  // may change the batch (on the CPU)
  virtual void on_step_end(FitState&) {}             // after each optimizer step
  virtual void on_batch_end(FitState&, const Batch&, const StepResult&) {}
  // This epoch's train and validation numbers are in s.metrics; the best-so-far bookkeeping
  // that follows reads them, so a callback may replace them (src/dist: the mean over ranks).
  virtual void on_epoch_metrics(FitState&) {}
  virtual void on_epoch_end(FitState&) {}
  virtual void on_fit_end(FitState&) {}
};

struct FitOptions {
  int64_t epochs = 10;           // the last epoch to train (with progress: the total)
  Device device = Device::CPU;
  FitProgress progress;          // where to start (a resumed run), default: epoch 0
  int64_t topk = 5;              // for the validation metrics
  int64_t accumulate = 1;        // batches per optimizer step (Note [Gradient accumulation])
  double clip_grad_norm = 0;     // > 0: clip the gradients' total 2-norm to this (clip_grad.h)
  // Asked after every batch that ends an optimizer step, and after every epoch: true -> fit()
  // stops there and returns with interrupted = true (Note [Interrupted epochs]). For Ctrl-C
  // (train/interrupt.h); empty: never.
  std::function<bool()> stop_requested;
};

// Note [Interrupted epochs]
// When stop_requested() turns true after batch k of epoch E (and the group of accumulated
// batches is complete), fit() stops the loader's threads and returns progress.epoch = E - 1
// with progress.partial = {k batches, their steps, their running sums}. Passing that progress
// back (a checkpoint, train/checkpoint.h) continues epoch E at batch k: the loader's order and
// every augmentation are functions of (seed, epoch, index), mixup's of (seed, epoch, batch
// number), dropout draws from the default generator (saved with the checkpoint), and a per-step
// schedule is stepped partial.steps more times. So the resumed run takes the same steps as an
// uninterrupted one. Between epochs (e.g. during validation) it stops after on_epoch_end with
// partial.batches = 0.

// Trains `model` (its trainable parameters are the optimizer's) and returns the final progress.
FitProgress fit(Module& model, Optimizer& optimizer, const LossFn& loss, DataLoader& train, DataLoader* valid,
                const FitOptions& options, const std::vector<Callback*>& callbacks = {});

// Runs the model in eval mode without gradients over the loader's batches in order (epoch 0),
// calling fn(batch, outputs) with the outputs copied to the CPU: [B, L].
void predict_batches(Module& model, DataLoader& loader, Device device,
                     const std::function<void(const Batch&, const Tensor&)>& fn);
// All outputs stacked: [N, L] on the CPU, in loader order. `indices` (if given) receives the
// dataset index of each row (images left out by skip_bad have no row).
Tensor collect_outputs(Module& model, DataLoader& loader, Device device, std::vector<int64_t>* indices = nullptr);
// Top-1, top-k, mean cross-entropy and the confusion matrix over the loader's samples.
EvalResult evaluate(Module& model, DataLoader& loader, Device device, int64_t topk = 5);

// ---- callbacks that most runs want --------------------------------------------------------

// Stops once the validation loss has not improved for `patience` epochs (the seeds' loops);
// a resumed run that had already run out of patience trains no further.
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(int64_t patience) : patience_(patience) {}
  void on_fit_begin(FitState& s) override { on_epoch_end(s); }
  void on_epoch_end(FitState& s) override;
  bool stopped() const { return stopped_; }
  int64_t patience() const { return patience_; }

 private:
  int64_t patience_;
  bool stopped_ = false;
};

// Steps an epoch-based learning-rate schedule after every epoch.
class ScheduleEveryEpoch : public Callback {
 public:
  explicit ScheduleEveryEpoch(LRScheduler& scheduler) : scheduler_(scheduler) {}
  void on_epoch_end(FitState&) override { scheduler_.step(); }

 private:
  LRScheduler& scheduler_;
};

// Steps a schedule after every optimizer step (OneCycleLR, WarmupCosineLR). Make the schedule
// with total_steps = epochs * steps_per_epoch(loader, accumulate).
class SchedulePerStep : public Callback {
 public:
  explicit SchedulePerStep(LRScheduler& scheduler) : scheduler_(scheduler) {}
  void on_step_end(FitState&) override { scheduler_.step(); }

 private:
  LRScheduler& scheduler_;
};
// Steps ReduceLROnPlateau after every epoch with the validation loss (the training loss when
// there is no validation set).
class ScheduleOnPlateau : public Callback {
 public:
  explicit ScheduleOnPlateau(ReduceLROnPlateau& scheduler) : scheduler_(scheduler) {}
  void on_epoch_end(FitState& s) override;

 private:
  ReduceLROnPlateau& scheduler_;
};

// Optimizer steps in one epoch: ceil(batches / accumulate).
int64_t steps_per_epoch(const DataLoader& train, int64_t accumulate = 1);

// A callback made of functions, for the few lines a command adds (print a line, save a file).
struct LambdaCallback : Callback {
  std::function<void(FitState&)> epoch_begin, epoch_end;
  std::function<void(FitState&, const Batch&, const StepResult&)> batch_end;
  void on_epoch_begin(FitState& s) override {
    if (epoch_begin) epoch_begin(s);
  }
  void on_batch_end(FitState& s, const Batch& b, const StepResult& r) override {
    if (batch_end) batch_end(s, b, r);
  }
  void on_epoch_end(FitState& s) override {
    if (epoch_end) epoch_end(s);
  }
};

}  // namespace graft
