// src/train/fit.cpp — the training loop and evaluation (see fit.h).
#include "train/fit.h"

#include <chrono>
#include <cmath>
#include <sstream>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "optim/clip_grad.h"
#include "tensor/check.h"

namespace graft {

StepResult train_step(Module& model, Optimizer& optimizer, const LossFn& loss, const Tensor& inputs,
                      const Tensor& labels) {
  StepResult r;
  optimizer.zero_grad();
  r.outputs = model(inputs);
  r.loss = loss(r.outputs, labels);
  r.loss.backward();
  optimizer.step();
  return r;
}

namespace {

std::vector<Tensor> optimizer_params(const Optimizer& optimizer) {
  std::vector<Tensor> all;
  for (const ParamGroup& g : optimizer.param_groups()) all.insert(all.end(), g.params.begin(), g.params.end());
  return all;
}

std::string non_finite_message(double loss, const FitState& s, const Optimizer& optimizer) {
  std::ostringstream m;
  m << "the training loss is " << (std::isnan(loss) ? "NaN" : loss > 0 ? "+inf" : "-inf") << " at epoch " << s.epoch
    << ", batch " << s.batch << " (optimizer step " << s.step + 1 << " of this run), lr";
  for (const ParamGroup& g : optimizer.param_groups()) m << " " << g.lr;
  m << "; training stopped before this batch's update, and the checkpoints written so far (the last after epoch "
    << s.epoch - 1 << ") are untouched. Lower the learning rate, warm it up, or clip the gradients";
  return m.str();
}

}  // namespace

int64_t steps_per_epoch(const DataLoader& train, int64_t accumulate) {
  GRAFT_CHECK(accumulate >= 1, "steps_per_epoch", "accumulate must be >= 1, got ", accumulate);
  return (train.num_batches() + accumulate - 1) / accumulate;
}

FitProgress fit(Module& model, Optimizer& optimizer, const LossFn& loss, DataLoader& train, DataLoader* valid,
                const FitOptions& options, const std::vector<Callback*>& callbacks) {
  using Clock = std::chrono::steady_clock;
  GRAFT_CHECK(options.accumulate >= 1, "fit", "accumulate must be >= 1, got ", options.accumulate);
  FitState state{model, optimizer, options.epochs, 0, EpochMetrics{}, options.progress};
  state.train_size = train.num_samples();
  for (Callback* c : callbacks) c->on_fit_begin(state);
  const PartialEpoch resumed = state.progress.partial;  // Note [Interrupted epochs]
  state.progress.partial = PartialEpoch{};
  state.progress.interrupted = false;
  auto stop_requested = [&] { return options.stop_requested && options.stop_requested(); };
  for (int64_t epoch = state.progress.epoch + 1; epoch <= options.epochs && !state.stop; ++epoch) {
    const PartialEpoch start = epoch == options.progress.epoch + 1 ? resumed : PartialEpoch{};
    const auto t0 = Clock::now() - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(start.seconds));
    state.epoch = epoch;
    state.seen = start.seen;
    state.improved = false;
    state.metrics = EpochMetrics{};
    state.metrics.epoch = epoch;
    state.metrics.lr = optimizer.param_groups().empty() ? 0.0 : optimizer.param_groups().back().lr;
    for (Callback* c : callbacks) c->on_epoch_begin(state);

    model.train();
    double loss_sum = start.loss_sum;
    int64_t correct = start.correct, epoch_steps = start.steps;
    state.batch = start.batches;
    int64_t in_group = 0, group_samples = 0;  // micro-batches and samples since the last step
    auto optimizer_step = [&] {
      const std::vector<Tensor> params = optimizer_params(optimizer);
      if (options.accumulate > 1) scale_grads_(params, 1.0f / static_cast<float>(group_samples));
      if (options.clip_grad_norm > 0) state.grad_norm = clip_grad_norm_(params, options.clip_grad_norm);
      optimizer.step();
      ++state.step;
      ++epoch_steps;
      in_group = group_samples = 0;
      for (Callback* c : callbacks) c->on_step_end(state);
    };
    train.start_epoch(epoch, start.batches);
    Batch b;
    bool interrupted = false;
    try {
      while (!interrupted && train.next(b)) {
        ++state.batch;
        for (Callback* c : callbacks) c->on_batch_begin(state, b);
        const int64_t B = b.labels.size(0);
        const Tensor& y = b.targets.defined() ? b.targets : b.labels;
        if (in_group == 0) optimizer.zero_grad();
        StepResult r;
        r.outputs = model(b.inputs.to(options.device));
        r.loss = loss(r.outputs, y.to(options.device));
        (options.accumulate > 1 ? r.loss * static_cast<float>(B) : r.loss).backward();
        const double l = r.loss.item();
        if (!std::isfinite(l)) throw NonFiniteLoss(non_finite_message(l, state, optimizer));
        ++in_group;
        group_samples += B;
        if (in_group == options.accumulate) optimizer_step();
        loss_sum += l * static_cast<double>(B);
        // Training accuracy of this batch, from the outputs before the step (as PyTorch loops report it).
        const std::vector<int64_t> pred = predictions(r.outputs.detach().to(Device::CPU)), truth = b.labels.to_labels();
        for (int64_t i = 0; i < B; ++i) correct += pred[i] == truth[i];
        state.seen += B;
        state.metrics.train_loss = loss_sum / static_cast<double>(state.seen);
        for (Callback* c : callbacks) c->on_batch_end(state, b, r);
        if (in_group == 0 && stop_requested()) {  // at a step boundary only: no half-accumulated gradients
          interrupted = true;
          state.progress.partial = PartialEpoch{b.number + 1, epoch_steps, state.seen, correct, loss_sum,
                                                std::chrono::duration<double>(Clock::now() - t0).count()};
        }
      }
    } catch (...) {
      train.stop();  // the loader's threads end before the exception leaves fit()
      throw;
    }
    if (interrupted) {
      train.stop();
      state.progress.interrupted = true;
      break;
    }
    if (in_group > 0) optimizer_step();  // the epoch's last, shorter group
    state.metrics.train_acc = static_cast<double>(correct) / static_cast<double>(state.seen);

    state.metrics.valid_loss = state.metrics.valid_acc = std::nan("");
    state.valid_seen = 0;
    if (valid) {
      const EvalResult r = evaluate(model, *valid, options.device, options.topk);
      state.metrics.valid_loss = r.mean_cross_entropy;
      state.metrics.valid_acc = r.top1;
      state.valid_seen = r.count;
    }
    for (Callback* c : callbacks) c->on_epoch_metrics(state);
    if (valid) {
      FitProgress& p = state.progress;
      state.improved = state.metrics.valid_loss < p.best_valid_loss;
      if (state.improved) {
        p.best_valid_loss = state.metrics.valid_loss;
        p.epochs_since_best = 0;
      } else {
        ++p.epochs_since_best;
      }
    } else {
      state.improved = true;  // no validation set: the latest weights are the best we know
    }
    if (state.improved) state.progress.best_epoch = epoch;
    state.metrics.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    state.progress.epoch = epoch;
    state.progress.history.push_back(state.metrics);
    for (Callback* c : callbacks) c->on_epoch_end(state);
    if (!state.stop && epoch < options.epochs && stop_requested()) {  // between epochs: partial stays empty
      state.progress.interrupted = true;
      break;
    }
  }
  if (state.progress.interrupted) return state.progress;  // no on_fit_end: the run is not over
  for (Callback* c : callbacks) c->on_fit_end(state);
  return state.progress;
}

void predict_batches(Module& model, DataLoader& loader, Device device,
                     const std::function<void(const Batch&, const Tensor&)>& fn) {
  NoGradGuard no_grad;
  model.eval();
  loader.for_each_batch(0, [&](Batch& b) { fn(b, model(b.inputs.to(device)).to(Device::CPU)); });
}

Tensor collect_outputs(Module& model, DataLoader& loader, Device device, std::vector<int64_t>* indices) {
  std::vector<Tensor> parts;
  if (indices) indices->clear();
  predict_batches(model, loader, device, [&](const Batch& b, const Tensor& out) {
    if (indices) indices->insert(indices->end(), b.indices.begin(), b.indices.end());
    parts.push_back(out);
  });
  GRAFT_CHECK_DATA(!parts.empty(), "collect_outputs", "the loader gave no batch (an empty dataset, or every image "
                   "left out by --skip-bad)");
  Shape shape = parts[0].shape();
  shape[0] = 0;
  for (const Tensor& p : parts) shape[0] += p.size(0);
  Tensor all = Tensor::empty(shape);
  int64_t row = 0;
  for (const Tensor& p : parts) {
    all.slice(row, row + p.size(0)).copy_(p);
    row += p.size(0);
  }
  return all;
}

EvalResult evaluate(Module& model, DataLoader& loader, Device device, int64_t topk) {
  EvalAccumulator acc(topk);
  predict_batches(model, loader, device, [&](const Batch& b, const Tensor& out) { acc.add(out, b.labels); });
  return acc.result();
}

void ScheduleOnPlateau::on_epoch_end(FitState& s) {
  scheduler_.step(std::isnan(s.metrics.valid_loss) ? s.metrics.train_loss : s.metrics.valid_loss);
}

void EarlyStopping::on_epoch_end(FitState& s) {
  if (s.progress.epochs_since_best >= patience_) {
    s.stop = true;
    stopped_ = true;
  }
}

}  // namespace graft
