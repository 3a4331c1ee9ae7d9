// src/dist/distributed.cpp — see distributed.h.
#include "dist/distributed.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "layers/sync_batch_norm2d.h"
#include "tensor/check.h"

namespace graft::dist {

void broadcast_module(Module& model) {
  for (auto& [name, t] : model.state_dict()) {
    GRAFT_CHECK(t.device() == Device::CPU, "distributed", "broadcasting '", name, "': only CPU tensors go over MPI");
    void* data = t.dtype() == DType::Int64 ? static_cast<void*>(t.data_ptr<int64_t>())
                                           : static_cast<void*>(t.data_ptr<float>());
    broadcast(data, size_t(t.numel()) * dtype_size(t.dtype()), 0, "broadcast of the initial weights ('" + name + "')");
  }
}

void DataParallel::on_fit_begin(FitState& s) {
  broadcast_module(s.model);
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
