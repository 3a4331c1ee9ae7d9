// tests/test_threads.cpp — the DataLoader's worker threads under stress (the bounded queue,
// epochs stopped and resumed part way, both caches filled by several workers at once, errors in
// workers and in the consumer), and OpenMP convolution / GEMM running in the main thread while
// loader workers decode.
//
// Written for ThreadSanitizer: tests/run_tsan.sh runs these with the other loader and threaded
// kernel tests in build-tsan/, where any unsynchronised access these schedules reach is a report
// that fails the run. Here and in the normal suite they check results: every threaded run must
// give the batches of the same loader without threads (num_workers = 0: everything in the
// calling thread, the reference path), and the threaded kernels the single-threaded reference.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "data/datasets.h"
#include "data/image.h"
#include "data/loader.h"
#include "layers/conv2d.h"
#include "tensor/dispatch.h"
#include "tensor/gemm.h"
#include "testing.h"

using namespace graft;
namespace fs = std::filesystem;
using testing::TempDir;

namespace {

// 30 images in 3 classes, PNG (stb_image) and JPEG (libjpeg-turbo) in turn and of two sizes, so
// the workers run both decoders at the same time.
void make_mixed_folder(const fs::path& root) {
  for (int i = 0; i < 30; ++i) {
    const fs::path dir = root / ("c" + std::to_string(i % 3));
    fs::create_directories(dir);
    Image img(i % 2 ? 20 : 26, i % 2 ? 30 : 24, 3);
    for (size_t k = 0; k < img.data.size(); ++k) img.data[k] = uint8_t((k * size_t(7 + i) + size_t(i) * 31) % 256);
    const std::string name = (dir / ("img" + std::to_string(i))).string();
    if (i % 2) save_png(img, name + ".png");
    else save_jpeg(img, name + ".jpg", 90);
  }
}

std::vector<Batch> epoch_batches(DataLoader& dl, int64_t epoch) {
  std::vector<Batch> out;
  dl.for_each_batch(epoch, [&](Batch& b) { out.push_back(b); });
  return out;
}

// Batches equal bit for bit: same samples, labels and pixels (the pipeline's randomness is
// seeded per sample, so the thread that built a batch must not matter).
bool same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].indices != b[i].indices || a[i].number != b[i].number || a[i].labels.to_labels() != b[i].labels.to_labels())
      return false;
    if (a[i].inputs.to_vector() != b[i].inputs.to_vector()) return false;
  }
  return true;
}

int count_files(const fs::path& dir, const std::string& ending) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    n += name.size() >= ending.size() && name.compare(name.size() - ending.size(), ending.size(), ending) == 0;
  }
  return n;
}

}  // namespace

TEST_CASE("threads: 4 workers give the batches of no workers and never build more than workers x prefetch ahead") {
  TempDir d("threads_queue");
  make_mixed_folder(d.path);
  auto ds = std::make_shared<ImageFolder>(d.path.string());
  auto pipe = Pipeline::parse("random_resized_crop=16,hflip,color_jitter=0.4:0.4:0.4:0.1,normalize=imagenet");
  DataLoader ref(ds, pipe, {.batch_size = 3, .shuffle = true, .num_workers = 0, .seed = 7});
  const std::vector<Batch> want = epoch_batches(ref, 0);
  REQUIRE(want.size() == 10);
  for (int prefetch : {1, 3}) {
    INFO("prefetch " << prefetch);
    std::atomic<int64_t> built{0};  // on_batch runs in the worker once per batch it built
    DataLoader dl(ds, pipe, {.batch_size = 3, .shuffle = true, .num_workers = 4, .prefetch = prefetch, .seed = 7,
                             .on_batch = [&](Batch&) { ++built; }});
    std::vector<Batch> got;
    int64_t worst_ahead = 0;
    dl.for_each_batch(0, [&](Batch& b) {
      got.push_back(b);
      std::this_thread::sleep_for(std::chrono::milliseconds(3));  // a slow consumer: the workers run ahead
      worst_ahead = std::max(worst_ahead, built.load() - int64_t(got.size()));
    });
    CHECK(same_batches(got, want));
    CHECK(built == 10);
    // loader.h: a worker claims batch k only while k < consumed + workers * prefetch, and it
    // counts in `built` after claiming, so at most 4 * prefetch batches exist beyond those read.
    CHECK(worst_ahead <= 4 * prefetch);
  }
}

TEST_CASE("threads: epochs stopped part way, restarted and resumed; both caches filled by 3 workers at once") {
  TempDir d("threads_restart"), cache("threads_restart_cache");
  make_mixed_folder(d.path);
  auto ds = std::make_shared<ImageFolder>(d.path.string());
  // Cached prefix: resize=18,center_crop=16 -> 16x16x3 = 768 bytes per sample.
  auto pipe = Pipeline::parse("resize=18,center_crop=16,hflip,normalize=imagenet");
  DataLoader ref(ds, pipe, {.batch_size = 4, .shuffle = true, .num_workers = 0, .seed = 5});
  const std::vector<Batch> e0 = epoch_batches(ref, 0), e1 = epoch_batches(ref, 1);
  REQUIRE(e0.size() == 8);  // ceil(30 / 4)
  const int64_t kept_max = 10 * 768;
  LoaderOptions o{.batch_size = 4, .shuffle = true, .num_workers = 3, .seed = 5, .cache = true,
                  .cache_max_bytes = kept_max, .cache_dir = cache.path.string()};
  DataLoader dl(ds, pipe, o);
  Batch b;
  dl.start_epoch(0);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(dl.next(b));
    CHECK(b.indices == e0[size_t(i)].indices);
  }
  // Epoch 1 while epoch 0's workers are still busy: start_epoch stops them first.
  dl.start_epoch(1);
  std::vector<Batch> got;
  while (dl.next(b)) got.push_back(b);
  CHECK(same_batches(got, e1));
  // Resumed at batch 3 (an interrupted run, train/fit.h), then stopped half way, then whole.
  dl.start_epoch(0, 3);
  got.clear();
  while (dl.next(b)) got.push_back(b);
  CHECK(same_batches(got, std::vector<Batch>(e0.begin() + 3, e0.end())));
  dl.start_epoch(0);
  REQUIRE(dl.next(b));
  dl.stop();
  CHECK_THROWS_WITH(dl.next(b), doctest::Contains("start_epoch"));
  CHECK(same_batches(epoch_batches(dl, 0), e0));
  // Every sample stored once in the memory cache while it had room: exactly 10 of the 30.
  CHECK(dl.cache_bytes() == kept_max);
  CHECK(count_files(cache.path, ".u8") == 30);
  CHECK(count_files(cache.path, ".tmp") == 0);  // written to a temporary name, then renamed
  // A new loader reads the file cache with 3 workers; decoding would now fail.
  fs::remove_all(d.path / "c1");
  DataLoader again(ds, pipe, o);
  CHECK(same_batches(epoch_batches(again, 1), e1));
}

TEST_CASE("threads: bad images in several workers at once are skipped in batch order; a throwing consumer stops the workers") {
  TempDir d("threads_bad");
  make_mixed_folder(d.path);
  std::ofstream(d.path / "c0" / "text.png", std::ios::binary) << "not a png";
  {  // a JPEG cut after 200 bytes: libjpeg-turbo's error path, in a worker
    std::ifstream in(d.path / "c0" / "img0.jpg", std::ios::binary);
    std::vector<char> bytes(200);
    in.read(bytes.data(), 200);
    std::ofstream(d.path / "c1" / "cut.jpg", std::ios::binary).write(bytes.data(), 200);
  }
  std::ofstream(d.path / "c2" / "empty.png", std::ios::binary);  // zero bytes
  auto ds = std::make_shared<ImageFolder>(d.path.string());
  REQUIRE(ds->size() == 33);
  auto pipe = Pipeline::parse("resize=8x8,hflip");
  DataLoader ref(ds, pipe, {.batch_size = 2, .shuffle = true, .num_workers = 0, .seed = 11, .skip_bad = true});
  const std::vector<Batch> want = epoch_batches(ref, 0);
  REQUIRE(ref.skipped().size() == 3);
  DataLoader dl(ds, pipe, {.batch_size = 2, .shuffle = true, .num_workers = 4, .seed = 11, .skip_bad = true});
  CHECK(same_batches(epoch_batches(dl, 0), want));
  CHECK(dl.skipped() == ref.skipped());  // in batch order, whichever worker met them
  // Without skip_bad the first bad file in batch order is the error, from any worker.
  DataLoader strict(ds, pipe, {.batch_size = 2, .shuffle = true, .num_workers = 4, .seed = 11});
  const std::string first_bad = fs::path(ref.skipped()[0]).filename().string();
  CHECK_THROWS_WITH(epoch_batches(strict, 0), doctest::Contains(first_bad.c_str()));
  // The consumer throws at batch 2: for_each_batch stops the workers and rethrows; the loader
  // then runs a whole epoch again.
  int seen = 0;
  CHECK_THROWS_WITH(dl.for_each_batch(0, [&](Batch&) {
    if (++seen == 3) throw std::runtime_error("consumer stops");
  }),
                    "consumer stops");
  CHECK(same_batches(epoch_batches(dl, 0), want));
}

TEST_CASE("threads: OpenMP convolution and GEMM in the main thread while 2 loader workers decode") {
  TempDir d("threads_mixed");
  make_mixed_folder(d.path);
  auto ds = std::make_shared<ImageFolder>(d.path.string());
  auto pipe = Pipeline::parse("random_resized_crop=12,hflip,normalize=imagenet");
  const int saved = omp_get_max_threads();
  omp_set_num_threads(2);
  const Tensor w0 = testing::random_tensor({4, 3, 3, 3}, 51), b0 = testing::random_tensor({4}, 52);
  const Conv2dParams p{1, 1, 1, 1, 1, 1};  // 3x3, pad 1
  // GEMM above the threaded size (2 M N K = 5.8e6 > 4e6, gemm_avx512.cpp) with K = 600.
  const int64_t M = 60, N = 80, K = 600;
  const std::vector<float> A = testing::random_tensor({M * K}, 53).to_vector(),
                           B = testing::random_tensor({K * N}, 54).to_vector();
  std::vector<double> want_c(size_t(M * N), 0.0);  // by the definition, in double
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      for (int64_t k = 0; k < K; ++k) want_c[size_t(i * N + j)] += double(A[size_t(i * K + k)]) * B[size_t(k * N + j)];
  struct Step {
    Tensor x, y, gx, gw, gb;
  };
  std::vector<Step> steps;
  double worst_gemm = 0;
  {
    KernelSelectionGuard fast("conv2d_*=batched");  // the OpenMP batch-split convolution
    DataLoader dl(ds, pipe, {.batch_size = 4, .shuffle = true, .num_workers = 2, .seed = 3});
    dl.for_each_batch(0, [&](Batch& batch) {
      Tensor x = batch.inputs.clone().set_requires_grad(true);
      Tensor w = w0.clone().set_requires_grad(true), b = b0.clone().set_requires_grad(true);
      Tensor y = conv2d(x, w, b, p);
      y.backward(testing::random_tensor(y.shape(), 55));
      steps.push_back({batch.inputs, y, x.grad(), w.grad(), b.grad()});
      std::vector<float> C(size_t(M * N));
      gemm(Device::CPU, false, false, M, N, K, 1.0f, A.data(), B.data(), 0.0f, C.data());
      for (size_t i = 0; i < C.size(); ++i)
        worst_gemm = std::max(worst_gemm, std::fabs(C[i] - want_c[i]) / (1.0 + std::fabs(want_c[i])));
    });
  }
  omp_set_num_threads(1);
  REQUIRE(steps.size() == 8);  // ceil(30 / 4)
  KernelSelectionGuard reference("conv2d_*=reference");  // the per-image loops, one thread
  for (const Step& s : steps) {
    Tensor x = s.x.clone().set_requires_grad(true);
    Tensor w = w0.clone().set_requires_grad(true), b = b0.clone().set_requires_grad(true);
    Tensor y = conv2d(x, w, b, p);
    y.backward(testing::random_tensor(y.shape(), 55));
    // Same products summed in another order (per-thread partial sums, other GEMM blocking):
    // float rounding only. y and dx are sums of 27 and 36 terms (1e-5 as in test_perf.cpp's
    // batch-split test); dw and db sum over 4 images x 144 positions = 576 terms of size ~1, and
    // measured up to 1.1e-5 apart on values ~20, so 1e-4. A race gives errors of order 1.
    CHECK_CLOSE("y", s.y, y, 1e-5, 1e-5);
    CHECK_CLOSE("dx", s.gx, x.grad(), 1e-5, 1e-5);
    CHECK_CLOSE("dw", s.gw, w.grad(), 1e-4, 1e-4);
    CHECK_CLOSE("db", s.gb, b.grad(), 1e-4, 1e-4);
  }
  // K = 600 float products of values in [-1, 1] against double: measured ~1e-5 in test_perf.cpp,
  // whose tolerance (1e-4) this reuses; a race on a tile or a packed panel gives errors of order 1.
  CHECK(worst_gemm < 1e-4);
  omp_set_num_threads(saved);
}
