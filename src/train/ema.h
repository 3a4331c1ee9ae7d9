// src/train/ema.h — an exponential moving average (EMA) of the weights, evaluated beside them
// (timm's ModelEmaV2 update, with the buffers copied rather than averaged).
//
//   when fit begins:          ema = a copy of the model's state_dict (unless restored)
//   after every optimizer step: ema_p = d * ema_p + (1 - d) * p    each parameter p
//                               ema_b = b                          each buffer (batch norm statistics)
//   after every epoch:        the model with the average is evaluated on the validation loader
// With d = 0.999 the average spans ~1/(1 - d) = 1000 steps: it smooths the last epochs' noise
// and often validates better than the raw weights late in training.
// Design note: the average lives beside the model as tensors with the state_dict's names; to
// evaluate or save it, with_average() copies it into the model and the live weights back after,
// so every evaluator and checkpoint writer works on it unchanged.
#pragma once

#include <functional>
#include <limits>

#include "train/fit.h"

namespace graft {

class ModelEma : public Callback {
 public:
  // valid: evaluated with the average after each epoch (nullptr: not evaluated).
  ModelEma(Module& model, double decay, DataLoader* valid = nullptr, Device device = Device::CPU, int64_t topk = 5);
  void on_fit_begin(FitState&) override;
  void on_step_end(FitState&) override { update(); }
  void on_epoch_end(FitState& s) override;

  void update();                                    // one EMA step from the model's weights now
  void with_average(const std::function<void()>& fn);  // fn runs while the model holds the average
  // Takes as the average what fn loads into the model (a resume: load_weights of the EMA file);
  // the model's own weights are put back after.
  void capture_average(const std::function<void()>& fn);
  const NamedTensors& average() const { return average_; }

  double decay;
  // The last epoch's evaluation of the average, and whether it was the best so far.
  EvalResult last;
  bool improved = false;
  double best_valid_loss = std::numeric_limits<double>::infinity();

 private:
  Module& model_;
  DataLoader* valid_;
  Device device_;
  int64_t topk_;
  NamedTensors average_;     // state_dict order and names
  std::vector<bool> is_param_;
};

}  // namespace graft
