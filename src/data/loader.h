// src/data/loader.h — DataLoader: batches [N,C,H,W] float + labels Int64 [N] from a Dataset.
//
// Worker threads build whole batches ahead of the consumer (decode -> pipeline -> CHW float),
// at most `prefetch` batches per worker in flight (the bounded queue); next() hands them out
// in order. Determinism: the epoch's order is a permutation drawn from (seed, epoch) and every
// sample's augmentation Generator is seeded from (seed, epoch, dataset index), so the batches
// are bit-identical for any number of workers (0 = load in the calling thread).
// Cache: with cache=true the output of the pipeline's leading deterministic steps (decode +
// e.g. "resize=256") is kept in memory, so later epochs skip JPEG decoding; with cache_dir it
// is also written to one small file per sample (<index>.u8) that later runs reuse. A key file
// (pipeline prefix, dataset size, first/last file) invalidates the folder when they change.
// Bad images: by default the first unreadable image throws ImageError naming the file; with
// skip_bad=true it is left out of its batch and listed in skipped() / skipped_report().
// Shards (data-parallel training, src/dist): with world_size > 1 the loader gives only rank's
// share of each epoch's order — PyTorch's DistributedSampler: every rank draws the same
// permutation from (seed, epoch), pads it by repeating its first indices to a multiple of
// world_size (pad_shards; off for evaluation, where a sample must not count twice), and keeps
// positions rank, rank + world_size, ... So the ranks' k-th batches together are the k-th batch
// of a single process with world_size times the batch size.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/pipeline.h"

namespace graft {

struct Batch {
  Tensor inputs;                 // [N,C,H,W] float32 (or [N,F] for tensor datasets), CPU
  Tensor labels;                 // [N] int64, CPU
  Tensor targets;                // [N,L] float32 soft targets set by a callback (mixup), or undefined
  std::vector<int64_t> indices;  // dataset index of each row
  int64_t epoch = 0, number = 0; // number: position of the batch in its epoch
  std::vector<std::string> skipped;  // files left out of this batch (skip_bad)
};

struct LoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = false;
  bool drop_last = false;
  int num_workers = -1;   // -1: one per core; 0: no threads
  int prefetch = 2;       // batches in flight per worker
  uint64_t seed = 0;
  bool cache = false;
  // With cache: keep at most this many bytes of cached images in memory (0 = no limit); once
  // full, further samples are decoded every epoch. Bounds the cache for datasets larger than RAM.
  int64_t cache_max_bytes = 0;
  std::string cache_dir = "";  // "" = no file cache
  bool skip_bad = false;
  int rank = 0, world_size = 1;  // this process's shard of every epoch (see the top)
  bool pad_shards = true;        // equal shard sizes by repeating samples (training)
  // Non-empty (one weight per sample): each epoch draws size() samples WITH replacement,
  // P(i) = w_i / sum w, from (seed, epoch), as torch's WeightedRandomSampler(replacement=True);
  // `shuffle` is then moot. 1 / count of the sample's class balances the classes
  // (train/class_weights.h balanced_sample_weights).
  std::vector<double> sample_weights;
  // Runs in the worker thread right after a batch is built (e.g. copy to pinned memory and
  // start an asynchronous GPU upload); it may replace batch.inputs / batch.labels.
  std::function<void(Batch&)> on_batch = nullptr;
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, Pipeline pipeline, LoaderOptions options = {});
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t num_batches() const;
  int64_t num_samples() const;  // in one epoch of this loader (this rank's shard)
  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return opt_; }
  // Starts an epoch (stops an unfinished one). Then call next() until it returns false.
  // first_batch > 0 starts part way (an interrupted epoch resumed, train/fit.h): batches
  // 0 .. first_batch-1 of that epoch's order are not built at all.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  bool next(Batch& out);
  // start_epoch + a loop over next(); the worker threads are stopped if fn throws.
  void for_each_batch(int64_t epoch, const std::function<void(Batch&)>& fn);
  // Stops the worker threads of an unfinished epoch (they finish the batch in hand, then exit)
  // and drops the batches built ahead. next() then needs a new start_epoch.
  void stop();
  // The batch of the given dataset indices, built in the calling thread (any epoch).
  Batch make_batch(const std::vector<int64_t>& indices, int64_t epoch, int64_t number);

  const std::vector<std::string>& skipped() const { return skipped_; }  // all epochs, in batch order
  std::string skipped_report() const;  // "" if none, else a line per file
  int64_t cache_bytes() const;         // pixels held by the in-memory cache (cache, cache_max_bytes)

 private:
  void worker();
  std::vector<int64_t> batch_indices(int64_t number) const;  // dataset indices of batch `number`
  bool started_ = false;
  void draw_weighted_order(int64_t epoch);                    // order_ from opt_.sample_weights
  bool caching() const { return opt_.cache || !opt_.cache_dir.empty(); }
  bool cache_lookup(int64_t index, Image& out);
  void cache_store(int64_t index, const Image& img);
  void cache_keep(int64_t index, const Image& img);
  void open_cache_dir();

  std::shared_ptr<const Dataset> dataset_;
  Pipeline pipeline_;
  LoaderOptions opt_;
  int workers_ = 0;

  // epoch state
  int64_t epoch_ = 0;
  std::vector<int64_t> order_;
  int64_t claimed_ = 0, consumed_ = 0;
  bool stopping_ = false;
  std::map<int64_t, std::pair<Batch, std::exception_ptr>> ready_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;

  mutable std::mutex cache_mu_;
  std::vector<std::shared_ptr<const Image>> cache_;
  int64_t cache_bytes_ = 0;  // pixels held in cache_ (cache_max_bytes)
  std::vector<std::string> skipped_;
};

// DistributedSampler's shard of an epoch's order: positions rank, rank + world, ... of the order
// padded (pad) by repeating its first entries to a multiple of world. shard_size is its length.
std::vector<int64_t> shard_of(const std::vector<int64_t>& order, int rank, int world, bool pad);
int64_t shard_size(int64_t n, int rank, int world, bool pad);

// splitmix64 of (seed, epoch, index): the seed of one sample's augmentation Generator.
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index);

}  // namespace graft
