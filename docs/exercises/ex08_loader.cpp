// docs/exercises/ex08_loader.cpp — Chapter 8 of docs/tour.md: the data loader's threads and queue.
//
// A dataset of 10 samples, sample i = the 1-element tensor [i], label i % 3. With batch_size 4:
//   num_batches = ceil(10 / 4) = 3   (sizes 4, 4, 2);   with drop_last: floor(10 / 4) = 2
// The epoch's order is a permutation drawn from (seed, epoch), and worker threads claim batch
// numbers 0, 1, 2 in order and build them independently; next() hands them out by number. So:
//   - the batches are the same for 0 workers (the calling thread builds them) and 2 workers;
//   - every index appears exactly once per epoch;
//   - another epoch gives another order.
// Run: meson test -C build ex08_loader --verbose
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <mutex>
#include <set>
#include <thread>

#include "data/loader.h"
#include "exercise.h"

using namespace graft;

namespace {

// Sample i is the tensor [i]: its value says which sample it was.
class Numbers : public Dataset {
 public:
  int64_t size() const override { return 10; }
  Sample get(int64_t i) const override {
    check_index(i);
    Sample s;
    s.tensor = Tensor::from_vector({1}, {static_cast<float>(i)});
    s.label = i % 3;
    s.source = "number#" + std::to_string(i);
    return s;
  }
  int64_t label(int64_t i) const override { return i % 3; }
  std::string source(int64_t i) const override { return "number#" + std::to_string(i); }
  const std::vector<std::string>& class_names() const override { return names_; }

 private:
  std::vector<std::string> names_{"zero", "one", "two"};
};

// All batches of one epoch, as lists of sample values; `threads` collects who built them.
std::vector<std::vector<float>> epoch_batches(int workers, int64_t epoch, std::set<std::thread::id>* threads = nullptr) {
  std::mutex mu;
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.shuffle = true;
  opt.seed = 7;
  opt.num_workers = workers;
  opt.prefetch = 2;  // at most workers * prefetch = 4 batches built ahead of next()
  opt.on_batch = [&](Batch&) {  // runs in the thread that built the batch
    std::lock_guard<std::mutex> lock(mu);
    if (threads) threads->insert(std::this_thread::get_id());
  };
  DataLoader loader(std::make_shared<Numbers>(), Pipeline{}, opt);
  CHECK(loader.num_batches() == 3);
  std::vector<std::vector<float>> out;
  loader.for_each_batch(epoch, [&](Batch& b) {
    CHECK(b.inputs.shape()[1] == 1);  // [N, 1]
    out.push_back(b.inputs.to_vector());
  });
  return out;
}

}  // namespace

TEST_CASE("ex08: the data loader's threads and queue") {
  std::set<std::thread::id> builders;
  auto threaded = epoch_batches(2, 0, &builders);
  auto inline_ = epoch_batches(0, 0);
  REQUIRE(threaded.size() == 3);
  CHECK(threaded[0].size() == 4);
  CHECK(threaded[1].size() == 4);
  CHECK(threaded[2].size() == 2);
  for (size_t b = 0; b < threaded.size(); ++b) exercise::print_values(("epoch 0, batch " + std::to_string(b)).c_str(), threaded[b]);
  CHECK(threaded == inline_);  // 2 workers or none: the same batches

  // The workers, not the main thread, built the batches.
  CHECK(builders.count(std::this_thread::get_id()) == 0);
  std::printf("  batches built by %zu worker thread(s)\n", builders.size());

  // Each sample exactly once per epoch.
  std::multiset<float> seen;
  for (auto& b : threaded) seen.insert(b.begin(), b.end());
  CHECK(seen == std::multiset<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});

  // Another epoch, another permutation.
  auto next_epoch = epoch_batches(2, 1);
  exercise::print_values("epoch 1, batch 0", next_epoch[0]);
  CHECK(next_epoch != threaded);

  // drop_last drops the short final batch.
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.drop_last = true;
  opt.num_workers = 0;
  CHECK(DataLoader(std::make_shared<Numbers>(), Pipeline{}, opt).num_batches() == 2);
}
