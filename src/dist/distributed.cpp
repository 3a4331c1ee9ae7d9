// src/dist/distributed.cpp — see distributed.h.
#include "dist/distributed.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "autograd/engine.h"
#include "layers/sync_batch_norm2d.h"
#include "tensor/check.h"

namespace graft::dist {

void broadcast_module(Module& model) {
  NoGradGuard no_grad;  // copies of weights, not ops to differentiate
  for (auto& [name, t] : model.state_dict()) {
    // Once per run: GPU tensors go through the host, which keeps this to one path (MPI).
    Tensor host = t.is_cuda() ? t.to(Device::CPU) : t;
    void* data = host.dtype() == DType::Int64 ? static_cast<void*>(host.data_ptr<int64_t>())
                                              : static_cast<void*>(host.data_ptr<float>());
    broadcast(data, size_t(host.numel()) * dtype_size(host.dtype()), 0,
              "broadcast of the initial weights ('" + name + "')");
    if (t.is_cuda()) t.copy_(host);
  }
}

void DataParallel::on_fit_begin(FitState& s) {
  broadcast_module(s.model);
  s.sum_over_processes = [](std::vector<double>& v) { all_reduce_sum(v, "all-reduce of a callback's numbers"); };
  reducer_ = std::make_unique<GradientReducer>(s.model.parameters(/*trainable_only=*/true), bucket_bytes_);
  if (sync_bn_)
    set_batch_norm_sync([this](std::vector<double>& v) {
      reducer_->run_now([&] { all_reduce_sum(v, "all-reduce of synchronized batch norm statistics"); });
    });
}

void DataParallel::on_batch_end(FitState&, const Batch&, const StepResult&) { inject_fault(++step_); }

void DataParallel::on_epoch_metrics(FitState& s) {
  // Sums of loss * samples, correct predictions and samples, train and validation.
  EpochMetrics& m = s.metrics;
  const double nv = double(s.valid_seen);
  std::vector<double> sums = {m.train_loss * double(s.seen), m.train_acc * double(s.seen), double(s.seen),
                              nv > 0 ? m.valid_loss * nv : 0.0, nv > 0 ? m.valid_acc * nv : 0.0, nv};
  all_reduce_sum(sums, "all-reduce of epoch " + std::to_string(s.epoch) + "'s metrics");
  m.train_loss = sums[0] / sums[2];
  m.train_acc = sums[1] / sums[2];
  if (sums[5] > 0) {
    m.valid_loss = sums[3] / sums[5];
    m.valid_acc = sums[4] / sums[5];
  }
  s.seen = int64_t(sums[2]);
  s.valid_seen = int64_t(sums[5]);
}

void DataParallel::on_fit_end(FitState&) {
  set_batch_norm_sync({});
  set_backward_observer(nullptr);
}

LoaderOptions evaluation_shard(LoaderOptions lo) {
  lo.rank = world().rank;
  lo.world_size = world().size;
  lo.pad_shards = false;
  return lo;
}

Tensor collect_outputs_over_ranks(Module& model, DataLoader& loader, Device device, std::vector<int64_t>* indices) {
  if (world().size == 1) return collect_outputs(model, loader, device, indices);
  std::vector<int64_t> mine;
  const Tensor local = collect_outputs(model, loader, device, &mine);  // [n_r, ...]
  const Shape row(local.shape().begin() + 1, local.shape().end());
  const int64_t per = shape_numel(row);
  const std::vector<float> values = all_gather(local.to_vector(), "all-gather of the outputs");
  const std::vector<int64_t> all = all_gather(mine, "all-gather of the outputs' dataset indices");
  // Rows in dataset-index order (the ranks hold interleaved positions of the order).
  std::vector<size_t> by_index(all.size());
  for (size_t i = 0; i < by_index.size(); ++i) by_index[i] = i;
  std::sort(by_index.begin(), by_index.end(), [&](size_t a, size_t b) { return all[a] < all[b]; });
  Shape shape = row;
  shape.insert(shape.begin(), int64_t(all.size()));
  Tensor out = Tensor::empty(shape);
  for (size_t i = 0; i < by_index.size(); ++i)
    std::copy_n(values.begin() + int64_t(by_index[i]) * per, per, out.data() + int64_t(i) * per);
  if (indices) {
    indices->clear();
    for (size_t i : by_index) indices->push_back(all[i]);
  }
  return out;
}

void inject_fault(int64_t step) {
  const char* spec = std::getenv("GRAFT_FAULT");
  if (!spec) return;
  const std::string s = spec;  // kind:rank:step
  const size_t a = s.find(':'), b = s.find(':', a + 1);
  GRAFT_CHECK(a != std::string::npos && b != std::string::npos, "GRAFT_FAULT",
              "expected kill:RANK:STEP or hang:RANK:STEP, got '", s, "'");
  const std::string kind = s.substr(0, a);
  if (std::stoi(s.substr(a + 1, b - a - 1)) != world().rank || std::stoll(s.substr(b + 1)) != step) return;
  std::fprintf(stderr, "graft: rank %d: GRAFT_FAULT=%s, %s now\n", world().rank, spec,
               kind == "kill" ? "killing myself" : "hanging");
  std::fflush(stderr);
  if (kind == "kill") std::raise(SIGKILL);
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(60));
}

}  // namespace graft::dist
