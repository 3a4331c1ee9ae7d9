// src/dist/reducer.cpp — see reducer.h.
#include "dist/reducer.h"

#include <chrono>

#include "dist/comm.h"
#include "dist/nccl_comm.h"
#include "tensor/check.h"
#include "tensor/elementwise.h"

namespace graft::dist {

using Clock = std::chrono::steady_clock;

GradientReducer::GradientReducer(std::vector<Tensor> params, size_t bucket_bytes) : params_(std::move(params)) {
  GRAFT_CHECK(!params_.empty(), "distributed", "the model has no trainable parameter to average");
  bucket_of_.resize(params_.size());
  ready_.assign(params_.size(), false);
  // Reverse order: the last layers' gradients are computed first (see reducer.h).
  size_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const Tensor& p = params_[k];
    GRAFT_CHECK(p.device() == params_[0].device(), "distributed", "the parameters are on more than one device");
    index_[p.impl()] = k;
    if (buckets_.empty() || bytes >= bucket_bytes) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().params.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    bytes += size_t(p.numel()) * sizeof(float);
  }
  for (Bucket& b : buckets_) {
    size_t n = 0;
    for (size_t k : b.params) n += size_t(params_[k].numel());
    b.flat = Tensor::empty({int64_t(n)}, DType::Float32, params_[0].device());
    b.pending = b.params.size();
  }
  thread_ = std::thread([this] { communicate(); });
  set_backward_observer(this);
}

GradientReducer::~GradientReducer() {
  set_backward_observer(nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void GradientReducer::grad_ready(TensorImpl& leaf) {
  auto found = index_.find(&leaf);
  if (found == index_.end()) return;  // not one of ours (an input that requires a gradient)
  const size_t k = found->second;
  if (ready_[k]) return;
  ready_[k] = true;
  if (--buckets_[bucket_of_[k]].pending == 0) start_ready_buckets();
}

void GradientReducer::start_ready_buckets() {
  while (next_to_start_ < buckets_.size() && buckets_[next_to_start_].pending == 0) {
    ++early_;
    start(next_to_start_++);
  }
}

void GradientReducer::start(size_t bucket) {
  Bucket& b = buckets_[bucket];
  int64_t at = 0;
  for (size_t k : b.params) {
    const int64_t n = params_[k].numel();
    Tensor part = b.flat.slice(at, at + n);
    const Tensor g = params_[k].grad();
    if (g.defined()) part.copy_(g);  // same numel, flattened
    else part.zero_();               // unused here: contributes nothing
    at += n;
  }
  last_bucket_ticket_ = submit([this, bucket] {
    const auto t0 = Clock::now();
    Bucket& b = buckets_[bucket];
    const std::string what = "all-reduce of gradient bucket " + std::to_string(bucket);
    if (b.flat.is_cuda()) nccl_all_reduce_sum(b.flat.data(), size_t(b.flat.numel()), what);
    else all_reduce_sum(b.flat.data(), size_t(b.flat.numel()), what);
    seconds_reducing_ += std::chrono::duration<double>(Clock::now() - t0).count();  // read after wait_for
  });
}

size_t GradientReducer::submit(std::function<void()> job) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(job));
  cv_.notify_all();
  return ++submitted_;
}

void GradientReducer::wait_for(size_t ticket) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return finished_ >= ticket; });
}

void GradientReducer::run_now(const std::function<void()>& collective) { wait_for(submit(collective)); }

void GradientReducer::communicate() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return quit_ || !queue_.empty(); });
      if (queue_.empty()) return;  // quit_
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();  // a failing collective aborts the job (dist::abort): nothing to hand back
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++finished_;
    }
    cv_.notify_all();
  }
}

void GradientReducer::backward_end() {
  // Gradients nobody reported (a checkpoint's inner backward, a parameter unused this time)
  // are final now: start every bucket that has not started.
  started_early_ = early_;
  early_ = 0;
  for (size_t k = next_to_start_; k < buckets_.size(); ++k) start(k);
  next_to_start_ = buckets_.size();
  const auto t0 = Clock::now();
  wait_for(last_bucket_ticket_);  // jobs run in order: every bucket is done
  seconds_waiting_ += std::chrono::duration<double>(Clock::now() - t0).count();

  // Write the means back; reset for the next backward.
  const float inv = 1.0f / float(world().size);
  for (Bucket& b : buckets_) {
    int64_t at = 0;
    for (size_t k : b.params) {
      const int64_t n = params_[k].numel();
      Tensor g = params_[k].grad();
      if (g.defined()) {
        g.copy_(b.flat.slice(at, at + n));
        scale_(g, inv);  // the sum over the ranks -> their mean
      }
      at += n;
    }
    b.pending = b.params.size();
  }
  ready_.assign(params_.size(), false);
  next_to_start_ = 0;
  ++steps_;
}

}  // namespace graft::dist
