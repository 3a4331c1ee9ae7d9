// src/dist/distributed.h — data-parallel training as a callback of the one training loop.
//
//   mpirun -np 4 graft train ... --distributed
//
// Every rank runs the same fit() (train/fit.h) on its shard of each epoch (the loader's
// rank / world_size options, data/loader.h). DataParallel adds what makes the ranks one run:
//
//   on_fit_begin      rank 0's weights and buffers to every rank (broadcast_module); the
//                     GradientReducer starts watching backward (dist/reducer.h)
//   (every backward)  gradients averaged over the ranks in buckets, overlapped with backward
//   on_epoch_metrics  the train and validation numbers summed over the ranks, so that every
//                     rank sees the global loss and accuracy — early stopping, the best epoch
//                     and the schedules then decide the same thing everywhere
//
// Batch norm keeps per-rank statistics by default (as PyTorch's DDP does): each rank
// normalizes with its own shard's batch mean and variance, and the running statistics that
// are saved are rank 0's. With sync_bn every BatchNorm2d uses the statistics of the whole
// global batch instead (layers/sync_batch_norm2d.h; their all-reduces queue behind the
// gradient buckets on the reducer's thread). Only rank 0 writes files (tools/cmd_train.cpp).
#pragma once

#include <memory>

#include "dist/comm.h"
#include "dist/reducer.h"
#include "train/fit.h"

namespace graft::dist {

// Copies rank 0's parameters and buffers (its state_dict) into every rank's model.
void broadcast_module(Module& model);

class DataParallel : public Callback {
 public:
  explicit DataParallel(size_t bucket_bytes = size_t(25) << 20, bool sync_bn = false)
      : bucket_bytes_(bucket_bytes), sync_bn_(sync_bn) {}
  void on_fit_begin(FitState& s) override;
  void on_batch_end(FitState& s, const Batch& b, const StepResult& r) override;
  void on_epoch_metrics(FitState& s) override;
  void on_fit_end(FitState& s) override;
  // The reducer of the run (null before fit begins): its statistics for the closing lines.
  const GradientReducer* reducer() const { return reducer_.get(); }

 private:
  size_t bucket_bytes_;
  bool sync_bn_;
  std::unique_ptr<GradientReducer> reducer_;
  int64_t step_ = 0;
};

// This process's share of a set that is evaluated or run through the model once (validation,
// eval, features): rank and world_size from world(), not padded (no sample counted twice). In
// one process (or without --distributed): lo unchanged, the whole set.
LoaderOptions evaluation_shard(LoaderOptions lo);

// The model's outputs over a loader of evaluation_shard() options, gathered from every rank: [N, ...] on the CPU, on every rank, in
// dataset-index order (so the same rows as one process's collect_outputs over the whole
// dataset, when that gives them in index order: an unshuffled loader). indices (if given):
// the dataset index of each row. Each rank runs 1/N of the forward passes: `graft features`,
// `graft eval` and train's frozen-backbone feature cache. In one process: collect_outputs.
Tensor collect_outputs_over_ranks(Module& model, DataLoader& loader, Device device,
                                  std::vector<int64_t>* indices = nullptr);

// For the tests of failure (Note [No hangs], dist/comm.h): GRAFT_FAULT=kill:R:S makes rank R
// kill itself (SIGKILL) after its S-th training step, GRAFT_FAULT=hang:R:S makes it stop
// answering (sleep forever). Does nothing when the variable is not set.
void inject_fault(int64_t step);

}  // namespace graft::dist
