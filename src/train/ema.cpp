// src/train/ema.cpp — see ema.h.
#include "train/ema.h"

#include <set>

#include "autograd/engine.h"
#include "tensor/check.h"
#include "tensor/elementwise.h"

namespace graft {

ModelEma::ModelEma(Module& model, double d, DataLoader* valid, Device device, int64_t topk)
    : decay(d), model_(model), valid_(valid), device_(device), topk_(topk) {
  GRAFT_CHECK(d >= 0 && d < 1, "ModelEma", "decay must be in [0, 1), got ", d, " (e.g. 0.999)");
}

void ModelEma::on_fit_begin(FitState&) {
  if (!average_.empty()) return;  // restored by capture_average
  capture_average([] {});
}

void ModelEma::capture_average(const std::function<void()>& fn) {
  const NamedTensors live = model_.state_dict();
  std::vector<Tensor> backup;
  for (const auto& [k, t] : live) backup.push_back(t.clone());
  fn();
  std::set<std::string> params;
  for (const auto& [k, t] : model_.named_parameters()) params.insert(k);
  average_.clear();
  is_param_.clear();
  for (const auto& [k, t] : model_.state_dict()) {
    average_.emplace_back(k, t.clone());
    is_param_.push_back(params.count(k) > 0);
  }
  for (size_t i = 0; i < live.size(); ++i) {
    Tensor t = live[i].second;
    t.copy_(backup[i]);
  }
}

void ModelEma::update() {
  NoGradGuard no_grad;
  const NamedTensors live = model_.state_dict();
  GRAFT_ASSERT(live.size() == average_.size(), "ModelEma", "the model has ", live.size(), " tensors, the average ",
               average_.size());
  const float d = static_cast<float>(decay);
  for (size_t i = 0; i < live.size(); ++i) {
    Tensor& e = average_[i].second;
    if (e.device() != live[i].second.device()) e = e.to(live[i].second.device());
    if (is_param_[i] && e.dtype() == DType::Float32)
      axpby_(e, 1 - d, live[i].second, d);  // e = (1 - d) * p + d * e
    else
      e.copy_(live[i].second);  // buffers: batch norm statistics, counters
  }
}

void ModelEma::with_average(const std::function<void()>& fn) {
  const NamedTensors live = model_.state_dict();
  std::vector<Tensor> backup;
  for (const auto& [k, t] : live) backup.push_back(t.clone());
  auto put = [&](auto source) {
    for (size_t i = 0; i < live.size(); ++i) {
      Tensor t = live[i].second;
      t.copy_(source(i));
    }
  };
  put([&](size_t i) { return average_[i].second; });
  try {
    fn();
  } catch (...) {
    put([&](size_t i) { return backup[i]; });
    throw;
  }
  put([&](size_t i) { return backup[i]; });
}

void ModelEma::on_epoch_end(FitState& s) {
  improved = false;
  if (!valid_) return;
  with_average([&] { last = evaluate(model_, *valid_, device_, topk_); });
  if (s.sum_over_processes) {  // data-parallel: this process validated its shard; all of them together
    std::vector<double> v = {last.mean_cross_entropy * double(last.count), last.top1 * double(last.count),
                             double(last.count)};
    s.sum_over_processes(v);
    last.count = int64_t(v[2]);
    last.mean_cross_entropy = v[0] / v[2];
    last.top1 = v[1] / v[2];
  }
  improved = last.mean_cross_entropy < best_valid_loss;
  if (improved) best_valid_loss = last.mean_cross_entropy;
}

}  // namespace graft
