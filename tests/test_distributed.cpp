// tests/test_distributed.cpp — the pieces of data-parallel training that one process can
// check (src/dist, the loader's shards, the engine's BackwardObserver). The whole thing, two
// processes under mpirun against one process, is in tests/test_examples.cpp.
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>

#include "autograd/checkpoint.h"
#include "autograd/engine.h"
#include "autograd/ops.h"
#include "data/datasets.h"
#include "data/loader.h"
#include "dist/nccl_comm.h"
#include "dist/reducer.h"
#include "layers/activation.h"
#include "layers/batch_norm2d.h"
#include "layers/sync_batch_norm2d.h"
#include "tensor/device.h"
#include "layers/linear.h"
#include "testing.h"

using namespace graft;

TEST_CASE("shard_of: PyTorch's DistributedSampler, padded and not, by hand") {
  const std::vector<int64_t> order = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  // Padded to 12 = 3 * ceil(10 / 3) by repeating the first two: [0..9, 0, 1]; rank r takes
  // positions r, r + 3, ... (torch.utils.data.DistributedSampler, drop_last=False).
  CHECK(shard_of(order, 0, 3, true) == std::vector<int64_t>{0, 3, 6, 9});
  CHECK(shard_of(order, 1, 3, true) == std::vector<int64_t>{1, 4, 7, 0});
  CHECK(shard_of(order, 2, 3, true) == std::vector<int64_t>{2, 5, 8, 1});
  // Not padded (evaluation): every sample exactly once, the first ranks one more.
  CHECK(shard_of(order, 0, 3, false) == std::vector<int64_t>{0, 3, 6, 9});
  CHECK(shard_of(order, 1, 3, false) == std::vector<int64_t>{1, 4, 7});
  CHECK(shard_of(order, 2, 3, false) == std::vector<int64_t>{2, 5, 8});
  for (int r = 0; r < 3; ++r) {
    CHECK(shard_size(10, r, 3, true) == 4);
    CHECK(shard_size(10, r, 3, false) == int64_t(shard_of(order, r, 3, false).size()));
  }
  CHECK(shard_of(order, 0, 1, true) == order);  // one process: the whole order
}

namespace {
std::shared_ptr<TensorDataset> numbered(int64_t n) {  // row i holds the value i
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0.0f);
  std::vector<int64_t> labels(static_cast<size_t>(n), 0);
  return std::make_shared<TensorDataset>(Tensor::from_vector({n, 1}, v), labels, std::vector<std::string>{},
                                         std::vector<std::string>{"only"});
}
std::vector<int64_t> epoch_indices(DataLoader& l, int64_t epoch) {
  std::vector<int64_t> seen;
  l.for_each_batch(epoch, [&](Batch& b) {
    for (size_t i = 0; i < b.indices.size(); ++i) {
      CHECK(b.inputs.data()[i] == float(b.indices[i]));  // the row is the sample it says
      seen.push_back(b.indices[i]);
    }
  });
  return seen;
}
}  // namespace

TEST_CASE("DataLoader shards: every sample once per epoch over the ranks; rank batches make the single batch") {
  const int64_t n = 23;
  auto data = numbered(n);
  LoaderOptions o;
  o.batch_size = 3;
  o.shuffle = true;
  o.seed = 11;
  o.num_workers = 1;
  DataLoader single(data, Pipeline(), o);
  for (bool pad : {false, true}) {
    INFO("pad_shards " << pad);
    for (int64_t epoch : {1, 2}) {
      const std::vector<int64_t> whole = epoch_indices(single, epoch);
      REQUIRE(whole.size() == size_t(n));
      std::vector<std::vector<int64_t>> ranks;
      for (int r = 0; r < 2; ++r) {
        LoaderOptions ro = o;
        ro.rank = r;
        ro.world_size = 2;
        ro.pad_shards = pad;
        DataLoader l(data, Pipeline(), ro);
        ranks.push_back(epoch_indices(l, epoch));
        CHECK(l.num_samples() == int64_t(ranks.back().size()));
        CHECK(l.num_batches() == (l.num_samples() + 2) / 3);
      }
      // Rank r's j-th sample is the single process's sample 2j + r: the same permutation for
      // (seed, epoch) everywhere, dealt out in turn; with padding, position 23 is position 0.
      for (int r = 0; r < 2; ++r)
        for (size_t j = 0; j < ranks[r].size(); ++j) CHECK(ranks[r][j] == whole[(2 * j + size_t(r)) % size_t(n)]);
      std::multiset<int64_t> all(ranks[0].begin(), ranks[0].end());
      all.insert(ranks[1].begin(), ranks[1].end());
      CHECK(all.size() == size_t(pad ? 24 : 23));
      for (int64_t i = 0; i < n; ++i) CHECK(all.count(i) == (pad && i == whole[0] ? 2u : 1u));
    }
  }
  LoaderOptions bad = o;
  bad.rank = 2;
  bad.world_size = 2;
  CHECK_THROWS_WITH_AS(DataLoader(data, Pipeline(), bad), doctest::Contains("rank 2 is outside a world of 2"),
                       std::invalid_argument);
}

namespace {
// Records what the engine reports, and each leaf's gradient at the moment it was reported.
struct Recorder : BackwardObserver {
  std::vector<const TensorImpl*> order;
  std::vector<std::vector<float>> grads_then;
  int ends = 0;
  void grad_ready(TensorImpl& leaf) override {
    order.push_back(&leaf);
    grads_then.push_back(Tensor(leaf.grad).to_vector());
  }
  void backward_end() override { ++ends; }
};
}  // namespace

TEST_CASE("BackwardObserver: each parameter once, last layer first, only when its gradient is final") {
  manual_seed(3);
  Tensor x = testing::random_tensor({4, 3}, 1);
  Tensor w1 = testing::random_tensor({5, 3}, 2).set_requires_grad(true);
  Tensor b1 = testing::random_tensor({5}, 3).set_requires_grad(true);
  Tensor w2 = testing::random_tensor({5, 5}, 4).set_requires_grad(true);  // used twice
  Tensor b2 = testing::random_tensor({5}, 5).set_requires_grad(true);
  Recorder rec;
  set_backward_observer(&rec);
  Tensor h = relu(linear(x, w1, b1));
  Tensor y = linear(relu(linear(h, w2, b2)), w2, Tensor());
  sum(y).backward();
  set_backward_observer(nullptr);
  REQUIRE(rec.order.size() == 4);
  CHECK(rec.ends == 1);
  const std::vector<const TensorImpl*> params = {w1.impl(), b1.impl(), w2.impl(), b2.impl()};
  for (const TensorImpl* p : params) CHECK(std::count(rec.order.begin(), rec.order.end(), p) == 1);
  auto position = [&](const Tensor& t) { return std::find(rec.order.begin(), rec.order.end(), t.impl()) - rec.order.begin(); };
  CHECK(position(w2) < position(w1));  // the second layer's gradients are complete first
  CHECK(position(b2) < position(b1));
  // w2 feeds two nodes: it must be reported after both contributions, with its final gradient.
  const std::vector<Tensor> tensors = {w1, b1, w2, b2};
  for (size_t i = 0; i < rec.order.size(); ++i)
    for (const Tensor& t : tensors)
      if (t.impl() == rec.order[i]) CHECK(rec.grads_then[i] == t.grad().to_vector());
  // Without an observer nothing is reported.
  Recorder none;
  sum(linear(x, w1, b1)).backward();
  CHECK(none.order.empty());
}

TEST_CASE("GradientReducer in a world of one: gradients unchanged, buckets started during backward") {
  Tensor x = testing::random_tensor({6, 4}, 7);
  auto make = [](uint64_t seed) {
    std::vector<Tensor> p = {testing::random_tensor({8, 4}, seed), testing::random_tensor({8}, seed + 1),
                             testing::random_tensor({3, 8}, seed + 2), testing::random_tensor({3}, seed + 3)};
    for (Tensor& t : p) t.set_requires_grad(true);
    return p;
  };
  auto run = [&](std::vector<Tensor>& p, bool with_checkpoint) {
    auto body = [&](const std::vector<Tensor>& in) { return relu(linear(in[0], p[0], p[1])); };
    Tensor h = with_checkpoint ? checkpoint(body, {x}, {p[0], p[1]}) : body({x});
    sum(linear(h, p[2], p[3])).backward();
  };
  for (bool with_checkpoint : {false, true}) {
    INFO("checkpointed first layer: " << with_checkpoint);
    std::vector<Tensor> plain = make(20), reduced = make(20);
    run(plain, with_checkpoint);
    {
      dist::GradientReducer reducer(reduced, /*bucket_bytes=*/1);  // one parameter per bucket
      run(reduced, with_checkpoint);
      CHECK(reducer.num_buckets() == 4);
      CHECK(reducer.buckets_started_early() == 4);  // every gradient was reported as it became final
      CHECK(reducer.steps() == 1);
      run(reduced, with_checkpoint);  // accumulates, as .grad does without the reducer
      CHECK(reducer.steps() == 2);
    }
    run(plain, with_checkpoint);
    for (size_t i = 0; i < plain.size(); ++i) CHECK(reduced[i].grad().to_vector() == plain[i].grad().to_vector());
    // The default bucket size (25 MiB) holds this whole model: one bucket.
    dist::GradientReducer one(make(30));
    CHECK(one.num_buckets() == 1);
  }
}

namespace {
// An all-reduce between two threads standing in for two processes: each call waits for the
// other thread's call and both get the sum.
struct PairSum {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<double> acc, result;
  int arrived = 0, generation = 0;
  void operator()(std::vector<double>& v) {
    std::unique_lock<std::mutex> lock(mu);
    const int gen = generation;
    if (arrived == 0) {
      acc = v;
    } else {
      REQUIRE(acc.size() == v.size());
      for (size_t i = 0; i < v.size(); ++i) acc[i] += v[i];
    }
    if (++arrived == 2) {
      result = acc;
      arrived = 0;
      ++generation;
      cv.notify_all();
    } else {
      cv.wait(lock, [&] { return generation != gen; });
    }
    v = result;
  }
};

std::vector<float> rows(const Tensor& t, int64_t from, int64_t to) { return t.slice(from, to).clone().to_vector(); }

void check_close(const std::vector<float>& a, const std::vector<float>& b, double tol) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
  CHECK(worst <= tol);
}
}  // namespace

TEST_CASE("sync_batch_norm2d: two processes with 4 images each equal batch_norm2d on all 8") {
  // The reference is batch_norm2d on the whole batch (itself tested against PyTorch in
  // test_batch_norm.cpp); the two "processes" are threads joined by PairSum.
  const Tensor x = testing::random_tensor({8, 3, 4, 4}, 41), r = testing::random_tensor({8, 3, 4, 4}, 42);
  const Tensor w0 = testing::random_tensor({3}, 43), b0 = testing::random_tensor({3}, 44);
  Tensor xf = x.clone().set_requires_grad(true), wf = w0.clone().set_requires_grad(true),
         bf = b0.clone().set_requires_grad(true);
  Tensor rmf = Tensor::zeros({3}), rvf = Tensor::ones({3});
  Tensor yf = batch_norm2d(xf, wf, bf, rmf, rvf, /*training=*/true, 0.1f, 1e-5f);
  sum(yf * r).backward();

  PairSum pair;
  struct Half {
    Tensor x, w, b, rm, rv, y;
  } half[2];
  auto run = [&](int t) {
    Half& h = half[t];
    h.x = x.slice(4 * t, 4 * t + 4).clone().set_requires_grad(true);
    h.w = w0.clone().set_requires_grad(true);
    h.b = b0.clone().set_requires_grad(true);
    h.rm = Tensor::zeros({3});
    h.rv = Tensor::ones({3});
    h.y = sync_batch_norm2d(h.x, h.w, h.b, h.rm, h.rv, 0.1f, 1e-5f, [&](std::vector<double>& v) { pair(v); });
    sum(h.y * r.slice(4 * t, 4 * t + 4).clone()).backward();  // this "process's" loss
  };
  std::thread other(run, 1);
  run(0);
  other.join();
  // Tolerance: float32 results of double sums in a different order, values of order 1: 1e-5.
  for (int t = 0; t < 2; ++t) {
    INFO("process " << t);
    check_close(half[t].y.to_vector(), rows(yf, 4 * t, 4 * t + 4), 1e-5);
    check_close(half[t].x.grad().to_vector(), rows(xf.grad(), 4 * t, 4 * t + 4), 1e-5);
    check_close(half[t].rm.to_vector(), rmf.to_vector(), 1e-6);
    check_close(half[t].rv.to_vector(), rvf.to_vector(), 1e-6);
  }
  // The parameters' gradients are each process's share: together they make the whole batch's.
  std::vector<float> gw(3), gb(3);
  for (int c = 0; c < 3; ++c) {
    gw[c] = half[0].w.grad().to_vector()[c] + half[1].w.grad().to_vector()[c];
    gb[c] = half[0].b.grad().to_vector()[c] + half[1].b.grad().to_vector()[c];
  }
  check_close(gw, wf.grad().to_vector(), 1e-4);  // sums of 128 terms of order 1
  check_close(gb, bf.grad().to_vector(), 1e-4);
  // Per-process statistics (plain batch_norm2d on a half) differ from the whole batch's: the
  // comparison above can fail.
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  const Tensor alone = batch_norm2d(x.slice(0, 4).clone(), w0, b0, rm, rv, true, 0.1f, 1e-5f);
  std::vector<float> a = alone.to_vector(), f = rows(yf, 0, 4);
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - f[i])));
  CHECK(worst > 1e-3);
}

TEST_CASE("GradientReducer on CUDA, through NCCL in a world of one: gradients unchanged") {
  if (!cuda_available() || !dist::built_with_nccl()) {
    MESSAGE("skipped: needs a CUDA GPU and a build with NCCL (" << device_summary(Device::CUDA) << ")");
    return;
  }
  dist::nccl_init();
  Tensor x = testing::random_tensor({6, 4}, 7).to(Device::CUDA);
  auto make = [] {
    std::vector<Tensor> p = {testing::random_tensor({8, 4}, 1), testing::random_tensor({8}, 2),
                             testing::random_tensor({3, 8}, 3), testing::random_tensor({3}, 4)};
    for (Tensor& t : p) t = t.to(Device::CUDA).set_requires_grad(true);
    return p;
  };
  auto run = [&](std::vector<Tensor>& p) { sum(linear(relu(linear(x, p[0], p[1])), p[2], p[3])).backward(); };
  std::vector<Tensor> plain = make(), reduced = make();
  run(plain);
  {
    dist::GradientReducer reducer(reduced, /*bucket_bytes=*/1);
    run(reduced);
    CHECK(reducer.buckets_started_early() == 4);
  }
  // A sum over one GPU and a division by 1: exact.
  for (size_t i = 0; i < plain.size(); ++i) CHECK(reduced[i].grad().to_vector() == plain[i].grad().to_vector());
}
