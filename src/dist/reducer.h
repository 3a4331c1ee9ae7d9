// src/dist/reducer.h — averaging gradients over the ranks, overlapped with backward.
//
// Data parallelism: every rank holds the same model and runs forward and backward on its own
// shard of the batch; before the optimizer step, each gradient is replaced by its mean over
// the ranks. Then every rank takes the same step and the weights stay identical — the step
// equals one process's on the whole global batch (the loss is a mean over the batch, and the
// mean of the ranks' means of equal-sized shards is the mean over all of it).
//
// Buckets, as PyTorch's DistributedDataParallel does it: one all-reduce per tensor would pay
// the network's latency hundreds of times per step, and one all-reduce after backward would
// leave the network idle while backward runs. So the trainable parameters are grouped, in
// reverse order (backward produces the last layers' gradients first), into buckets of about
// bucket_bytes; as soon as every gradient of a bucket is final (the engine tells us:
// BackwardObserver, autograd/engine.h), it is copied into the bucket's flat buffer and a
// communication thread all-reduces it while backward computes the next ones. Buckets start in
// index order on every rank (MPI requires the same order of collectives everywhere). At the
// end of backward the rest are started, all are waited for, and the sums divided by the world
// size are written back into the .grad tensors.
//
// A parameter without a gradient on this rank (unused in this forward) contributes zeros and
// keeps no gradient; every rank is expected to use the same parameters, as graft's models do.
//
// Shapes: a bucket is a flat float tensor [sum of its parameters' numel] on the parameters'
// device; gradients keep their parameters' shapes.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "autograd/engine.h"
#include "tensor/tensor.h"

namespace graft::dist {

class GradientReducer : public BackwardObserver {
 public:
  // params: the trainable parameters, in model order, all on one device: CPU gradients go
  // over MPI, CUDA gradients over NCCL (dist/nccl_comm.h; nccl_init() first). Installs itself as
  // this thread's backward observer until destroyed.
  explicit GradientReducer(std::vector<Tensor> params, size_t bucket_bytes = size_t(25) << 20);
  ~GradientReducer() override;
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  void grad_ready(TensorImpl& leaf) override;
  void backward_end() override;

  // What the last backward did, and all of them together, for the closing statistics.
  int num_buckets() const { return int(buckets_.size()); }
  int buckets_started_early() const { return started_early_; }  // last backward: before its end
  double seconds_waiting() const { return seconds_waiting_; }   // all backwards: blocked at the end
  double seconds_reducing() const { return seconds_reducing_; } // all backwards: in the all-reduces
  int64_t steps() const { return steps_; }

  // Runs a collective on the communication thread after those queued before it, and waits:
  // MPI wants the same order of collectives on every rank and one thread at a time
  // (MPI_THREAD_SERIALIZED), so a collective that backward itself needs (synchronized batch
  // norm, layers/sync_batch_norm2d.h) must queue behind the gradient buckets.
  void run_now(const std::function<void()>& collective);

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    Tensor flat;                 // their gradients, back to back: [sum of numel], on their device
    size_t pending = 0;          // gradients not final yet in this backward
  };
  void start_ready_buckets();  // in index order, every full bucket not started yet
  void start(size_t bucket);
  size_t submit(std::function<void()> job);  // returns its ticket (1, 2, ...)
  void wait_for(size_t ticket);              // until the job with that ticket has run
  void communicate();                        // the communication thread's loop

  std::vector<Tensor> params_;
  std::unordered_map<const TensorImpl*, size_t> index_;  // parameter -> its position in params_
  std::vector<size_t> bucket_of_;                          // parameter -> its bucket
  std::vector<Bucket> buckets_;
  std::vector<bool> ready_;  // this backward: parameter's gradient is final
  size_t next_to_start_ = 0;
  int early_ = 0, started_early_ = 0;  // this backward so far / the last one
  int64_t steps_ = 0;
  double seconds_waiting_ = 0, seconds_reducing_ = 0;

  // The communication thread: jobs run in the order submitted; tickets count them.
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t submitted_ = 0, finished_ = 0, last_bucket_ticket_ = 0;
  bool quit_ = false;
};

}  // namespace graft::dist
