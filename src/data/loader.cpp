// src/data/loader.cpp — see loader.h. Threads: workers claim batch numbers in order (never more
// than workers * prefetch ahead of the consumer), build them independently, and park them in
// ready_ (keyed by batch number); next() waits for the next number. One mutex guards it all.
#include "data/loader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>

#include "tensor/check.h"

namespace fs = std::filesystem;

namespace graft {

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index) {
  auto mix = [](uint64_t z) {  // splitmix64 finalizer
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  return mix(mix(mix(seed) ^ uint64_t(epoch)) ^ uint64_t(index));
}

int64_t shard_size(int64_t n, int rank, int world, bool pad) {
  if (pad) return (n + world - 1) / world;  // ceil: the padded order has world * this entries
  return n / world + (rank < n % world ? 1 : 0);
}

std::vector<int64_t> shard_of(const std::vector<int64_t>& order, int rank, int world, bool pad) {
  const int64_t n = int64_t(order.size());
  const int64_t total = pad ? shard_size(n, rank, world, true) * world : n;
  std::vector<int64_t> shard;
  shard.reserve(size_t(shard_size(n, rank, world, pad)));
  for (int64_t i = rank; i < total; i += world) shard.push_back(order[size_t(i % n)]);  // i >= n: padding
  return shard;
}

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, Pipeline pipeline, LoaderOptions options)
    : dataset_(std::move(dataset)), pipeline_(std::move(pipeline)), opt_(std::move(options)) {
  if (opt_.batch_size <= 0) throw std::invalid_argument("DataLoader: batch_size must be positive, got " + std::to_string(opt_.batch_size));
  if (opt_.prefetch <= 0) throw std::invalid_argument("DataLoader: prefetch must be positive");
  GRAFT_CHECK(opt_.world_size >= 1 && opt_.rank >= 0 && opt_.rank < opt_.world_size, "DataLoader",
              "rank ", opt_.rank, " is outside a world of ", opt_.world_size, " processes");
  GRAFT_CHECK_DATA(opt_.world_size == 1 || dataset_->size() >= opt_.world_size, "DataLoader", "a dataset of ",
                   dataset_->size(), " samples cannot be split over ", opt_.world_size, " processes");
  workers_ = opt_.num_workers >= 0 ? opt_.num_workers : int(std::max(1u, std::thread::hardware_concurrency()));
  if (opt_.cache) cache_.resize(size_t(dataset_->size()));
  if (!opt_.cache_dir.empty()) open_cache_dir();
}

DataLoader::~DataLoader() { stop(); }

int64_t DataLoader::num_samples() const {
  return shard_size(dataset_->size(), opt_.rank, opt_.world_size, opt_.pad_shards);
}

int64_t DataLoader::num_batches() const {
  int64_t n = num_samples(), b = opt_.batch_size;
  return opt_.drop_last ? n / b : (n + b - 1) / b;
}

void DataLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  ready_.clear();
  stopping_ = false;
  started_ = false;  // next() needs a new start_epoch
}

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  stop();
  epoch_ = epoch;
  order_.resize(size_t(dataset_->size()));
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = int64_t(i);
  if (opt_.shuffle) {  // Fisher-Yates from (seed, epoch); same on every platform
    std::mt19937_64 rng(sample_seed(opt_.seed, epoch, -1));
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng() % i]);
  }
  if (!opt_.sample_weights.empty()) draw_weighted_order(epoch);
  if (opt_.world_size > 1) order_ = shard_of(order_, opt_.rank, opt_.world_size, opt_.pad_shards);
  GRAFT_CHECK_DATA(first_batch >= 0 && first_batch <= num_batches(), "DataLoader", "cannot start epoch ", epoch,
                   " at batch ", first_batch, ": it has ", num_batches(), " batches (did the data or the batch size "
                   "change since the checkpoint was saved?)");
  started_ = true;
  claimed_ = consumed_ = first_batch;
  for (int w = 0; w < workers_; ++w) threads_.emplace_back([this] { worker(); });
}

// Inverse CDF of the weights with a uniform double from the raw 64-bit draws (not
// std::discrete_distribution, whose algorithm differs between standard libraries).
void DataLoader::draw_weighted_order(int64_t epoch) {
  const std::vector<double>& w = opt_.sample_weights;
  GRAFT_CHECK(w.size() == order_.size(), "DataLoader", "sample_weights has ", w.size(), " weights for ", order_.size(),
              " samples");
  std::vector<double> cdf(w.size());
  double total = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    GRAFT_CHECK(w[i] >= 0 && std::isfinite(w[i]), "DataLoader", "sample weight ", i, " is ", w[i], " (must be >= 0)");
    cdf[i] = total += w[i];
  }
  GRAFT_CHECK(total > 0, "DataLoader", "the sample weights sum to 0");
  std::mt19937_64 rng(sample_seed(opt_.seed, epoch, -2));
  for (int64_t& idx : order_) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * total;  // [0, total)
    idx = std::min<int64_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin(), int64_t(cdf.size()) - 1);
  }
}

void DataLoader::open_cache_dir() {
  fs::create_directories(opt_.cache_dir);
  std::string key = "graft loader cache v1\nprefix:";
  for (size_t i = 0; i < pipeline_.deterministic_prefix(); ++i) key += pipeline_.steps[i].text + ";";
  key += "\nsize:" + std::to_string(dataset_->size());
  if (dataset_->size() > 0) key += "\nfirst:" + dataset_->source(0) + "\nlast:" + dataset_->source(dataset_->size() - 1);
  key += "\n";
  const fs::path key_path = fs::path(opt_.cache_dir) / "cache_key.txt";
  std::ifstream in(key_path);
  std::string old((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (old == key) return;
  for (auto& e : fs::directory_iterator(opt_.cache_dir))  // stale: another dataset or pipeline
    if (e.path().extension() == ".u8") fs::remove(e.path());
  std::ofstream out(key_path, std::ios::binary);
  out << key;
  if (!out) throw std::runtime_error("DataLoader: cannot write the cache key '" + key_path.string() + "'; check cache_dir");
}

// Keeps a copy in memory unless that would pass cache_max_bytes (then the sample is decoded
// again next epoch: the cache holds the first samples that fitted, never more).
void DataLoader::cache_keep(int64_t index, const Image& img) {
  std::lock_guard<std::mutex> lock(cache_mu_);
  const int64_t bytes = int64_t(img.data.size());
  if (cache_[size_t(index)] || (opt_.cache_max_bytes > 0 && cache_bytes_ + bytes > opt_.cache_max_bytes)) return;
  cache_[size_t(index)] = std::make_shared<const Image>(img);
  cache_bytes_ += bytes;
}

bool DataLoader::cache_lookup(int64_t index, Image& out) {
  if (opt_.cache) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_[size_t(index)]) {
      out = *cache_[size_t(index)];
      return true;
    }
  }
  if (opt_.cache_dir.empty()) return false;
  std::ifstream in(fs::path(opt_.cache_dir) / (std::to_string(index) + ".u8"), std::ios::binary);
  int64_t hwc[3];
  if (!in || !in.read(reinterpret_cast<char*>(hwc), sizeof hwc)) return false;
  Image img(hwc[0], hwc[1], hwc[2]);
  if (!in.read(reinterpret_cast<char*>(img.data.data()), std::streamsize(img.data.size()))) return false;
  if (opt_.cache) cache_keep(index, img);
  out = std::move(img);
  return true;
}

void DataLoader::cache_store(int64_t index, const Image& img) {
  if (opt_.cache) cache_keep(index, img);
  if (opt_.cache_dir.empty()) return;
  // Written to a temporary name and renamed, so a reader never sees half a file.
  const fs::path final_path = fs::path(opt_.cache_dir) / (std::to_string(index) + ".u8");
  const fs::path tmp = final_path.string() + ".tmp" + std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
  {
    std::ofstream out(tmp, std::ios::binary);
    int64_t hwc[3] = {img.H, img.W, img.C};
    out.write(reinterpret_cast<const char*>(hwc), sizeof hwc);
    out.write(reinterpret_cast<const char*>(img.data.data()), std::streamsize(img.data.size()));
    if (!out) {
      out.close();
      std::error_code ignored;
      fs::remove(tmp, ignored);  // no half-written file left behind
      throw std::runtime_error("DataLoader: cannot write cache file '" + tmp.string() + "' (disk full?)");
    }
  }
  fs::rename(tmp, final_path);
}

Batch DataLoader::make_batch(const std::vector<int64_t>& indices, int64_t epoch, int64_t number) {
  Batch b;
  b.epoch = epoch;
  b.number = number;
  std::vector<Tensor> rows;
  std::vector<int64_t> labels;
  Shape shape;
  std::string first_source;
  for (int64_t idx : indices) {
    Sample s;
    Tensor x;
    Generator gen(sample_seed(opt_.seed, epoch, idx));
    try {
      Image img;
      const size_t k = caching() ? pipeline_.deterministic_prefix() : 0;
      if (caching() && cache_lookup(idx, img)) {  // decode + deterministic steps skipped
        s.label = dataset_->label(idx);
        s.source = dataset_->source(idx);
      } else {
        s = dataset_->get(idx);
        if (!s.tensor.defined()) {
          Generator unused(0);  // deterministic steps draw nothing
          img = std::move(s.image);
          for (size_t i = 0; i < k; ++i) img = pipeline_.steps[i].apply(img, unused);
          if (caching()) cache_store(idx, img);
        }
      }
      if (s.tensor.defined()) {
        x = s.tensor;
      } else {
        img = pipeline_.apply_image(img, gen, k);
        x = Tensor::empty({img.C, img.H, img.W});
        if (!pipeline_.mean.empty() && int64_t(pipeline_.mean.size()) != img.C)
          throw std::invalid_argument("normalize: " + std::to_string(pipeline_.mean.size()) + " means for '" + s.source +
                                      "' with " + std::to_string(img.C) + " channels");
        to_chw_float(img, x.data(), pipeline_.mean.empty() ? nullptr : pipeline_.mean.data(),
                     pipeline_.std.empty() ? nullptr : pipeline_.std.data());
        pipeline_.apply_tensor(x, gen);  // random_erasing
      }
    } catch (const ImageError& e) {
      if (!opt_.skip_bad) throw;
      b.skipped.push_back(e.path);
      continue;
    }
    if (rows.empty()) {
      shape = x.shape();
      first_source = s.source;
    } else if (x.shape() != shape) {
      throw std::runtime_error("DataLoader: sample '" + s.source + "' became " + shape_str(x.shape()) + " but '" + first_source +
                               "' in the same batch became " + shape_str(shape) +
                               "; add resize/center_crop (e.g. \"resize=256,center_crop=224\") so all images get one size");
    }
    rows.push_back(x);
    labels.push_back(s.label);
    b.indices.push_back(idx);
  }
  if (rows.empty()) return b;
  Shape bs = {int64_t(rows.size())};
  bs.insert(bs.end(), shape.begin(), shape.end());
  b.inputs = Tensor::empty(bs);
  const int64_t per = shape_numel(shape);
  for (size_t i = 0; i < rows.size(); ++i) std::memcpy(b.inputs.data() + int64_t(i) * per, rows[i].data(), size_t(per) * sizeof(float));
  b.labels = Tensor::from_labels(labels);
  return b;
}

std::vector<int64_t> DataLoader::batch_indices(int64_t number) const {
  const int64_t lo = number * opt_.batch_size, hi = std::min<int64_t>(lo + opt_.batch_size, int64_t(order_.size()));
  return std::vector<int64_t>(order_.begin() + lo, order_.begin() + hi);
}

void DataLoader::worker() {
  const int64_t nb = num_batches();
  for (;;) {
    int64_t number;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || claimed_ >= nb || claimed_ < consumed_ + int64_t(workers_) * opt_.prefetch; });
      if (stopping_ || claimed_ >= nb) return;
      number = claimed_++;
    }
    std::pair<Batch, std::exception_ptr> r;
    try {
      r.first = make_batch(batch_indices(number), epoch_, number);
      if (opt_.on_batch && r.first.inputs.defined()) opt_.on_batch(r.first);
    } catch (...) {
      r.second = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_[number] = std::move(r);
    }
    cv_.notify_all();
  }
}

bool DataLoader::next(Batch& out) {
  for (;;) {
    const int64_t nb = num_batches();
    std::pair<Batch, std::exception_ptr> r;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!started_)
        throw std::logic_error("DataLoader::next: call start_epoch(epoch) first");
      if (consumed_ >= nb) return false;
      if (workers_ == 0) {
        int64_t number = consumed_;
        lock.unlock();
        r.first = make_batch(batch_indices(number), epoch_, number);
        if (opt_.on_batch && r.first.inputs.defined()) opt_.on_batch(r.first);
        lock.lock();
      } else {
        cv_.wait(lock, [&] { return ready_.count(consumed_) > 0; });
        r = std::move(ready_[consumed_]);
        ready_.erase(consumed_);
      }
      ++consumed_;
    }
    cv_.notify_all();
    if (r.second) {
      stop();
      std::rethrow_exception(r.second);
    }
    skipped_.insert(skipped_.end(), r.first.skipped.begin(), r.first.skipped.end());
    if (!r.first.inputs.defined()) continue;  // every image of this batch was skipped
    out = std::move(r.first);
    return true;
  }
}

void DataLoader::for_each_batch(int64_t epoch, const std::function<void(Batch&)>& fn) {
  start_epoch(epoch);
  Batch b;
  try {
    while (next(b)) fn(b);
  } catch (...) {
    stop();  // no thread keeps decoding for an epoch nobody reads
    throw;
  }
}

int64_t DataLoader::cache_bytes() const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  return cache_bytes_;
}

std::string DataLoader::skipped_report() const {
  if (skipped_.empty()) return "";
  std::string s = "skipped " + std::to_string(skipped_.size()) + " unreadable image(s):\n";
  for (auto& f : skipped_) s += "  " + f + "\n";
  return s;
}

}  // namespace graft
