// tests/test_perf.cpp — every CPU fast path against its reference.
//
// Every variant registered in a kernel table (tensor/dispatch.h) runs here against its reference:
// GEMM: each instruction-set variant (gemm_variants.h) against a plain triple loop in double,
// for sizes that are not multiples of the kernel's blocks (MR 12, NR 32, KC 256), all four
// transposes, several alpha/beta, threaded and inside a parallel region; and each of graft's
// own kernels' two paths alone (packed, small-M for Linear layers) around their tiles' edges.
// conv2d: the batch-split variant (conv2d_cpu_batched.cpp) against the per-image reference, for
// forward and both gradients, over 3x3 / strided / pointwise / strided 1x1 / dilated shapes.
// max_pool2d: the separable inference variant and the interior (training) variant against the
// argmax reference, values and argmax indices.
#include <omp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/engine.h"
#include "layers/conv2d.h"
#include "layers/pool2d.h"
#include "tensor/dispatch.h"
#include "tensor/gemm.h"
#include "tensor/gemm_variants.h"
#include "testing.h"

using namespace graft;

namespace {

std::vector<float> random_vector(int64_t n, uint64_t seed) {
  Tensor t = testing::random_tensor({n}, seed);
  return t.to_vector();
}

// C = alpha * op(A) op(B) + beta * C0 by the definition, accumulated in double.
std::vector<float> naive_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                              const std::vector<float>& A, const std::vector<float>& B, float beta,
                              const std::vector<float>& C0) {
  std::vector<float> C(static_cast<size_t>(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double a = ta ? A[static_cast<size_t>(k * M + i)] : A[static_cast<size_t>(i * K + k)];
        const double b = tb ? B[static_cast<size_t>(j * K + k)] : B[static_cast<size_t>(k * N + j)];
        s += a * b;
      }
      const size_t ij = static_cast<size_t>(i * N + j);
      C[ij] = static_cast<float>(alpha * s + (beta == 0.0f ? 0.0 : beta * static_cast<double>(C0[ij])));
    }
  return C;
}

// Largest |got - want| / (1 + |want|).
double worst_error(const std::vector<float>& got, const std::vector<float>& want) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = std::fabs(static_cast<double>(got[i]) - want[i]) / (1.0 + std::fabs(want[i]));
    if (!(e <= worst)) worst = e;  // NaN counts as the worst
  }
  return worst;
}

// Float32 sums of K <= 600 products of values in [-1, 1], against a double reference: measured
// worst |error| / (1 + |C|) was 1.2e-5 for every variant, Eigen's baseline included (different
// summation orders, same size of rounding). 1e-4 leaves an 8x margin; a wrong index, transpose,
// alpha/beta or a missed K slice gives errors of order 1.
constexpr double kGemmTolerance = 1e-4;

struct GemmCase {
  int64_t M, N, K;
};

void check_variant(const std::string& variant, const GemmCase& c, bool ta, bool tb, float alpha, float beta) {
  const std::vector<float> A = random_vector(c.M * c.K, 11), B = random_vector(c.K * c.N, 12);
  const std::vector<float> C0 = random_vector(c.M * c.N, 13);
  std::vector<float> C = C0;
  // beta == 0 must not read C (PyTorch's and BLAS's rule): poison it with NaN.
  if (beta == 0.0f) C.assign(C.size(), std::numeric_limits<float>::quiet_NaN());
  kernels::gemm.call_variant(Device::CPU, variant, ta, tb, c.M, c.N, c.K, alpha, A.data(), B.data(), beta, C.data());
  const std::vector<float> want = naive_gemm(ta, tb, c.M, c.N, c.K, alpha, A, B, beta, C0);
  INFO(variant << " M=" << c.M << " N=" << c.N << " K=" << c.K << " trans_a=" << ta << " trans_b=" << tb
                          << " alpha=" << alpha << " beta=" << beta);
  CHECK(worst_error(C, want) < kGemmTolerance);
}

// The CPU GEMM variants this machine runs (the others are reported and skipped).
std::vector<std::string> runnable_gemm_variants() {
  std::vector<std::string> out;
  for (const auto& v : kernels::gemm.variants(Device::CPU)) {
    if (v.supported) out.push_back(v.name);
    else MESSAGE("gemm variant " << v.name << " cannot run on this CPU: skipped");
  }
  return out;
}

}  // namespace

TEST_CASE("gemm variants: match the definition for odd sizes, transposes, alpha and beta") {
  // Sizes around the AVX-512 kernel's blocks: 1 (all edge), 12x32 (exactly one tile), 13x33
  // (one past), 97x70 with K 300 (two K slices, partial row block), 5x129 with K 513 (three
  // slices, a thin M), 100x4 (few columns: the transposed route), and K = 0 (C = beta * C).
  const GemmCase cases[] = {{1, 1, 1},     {12, 32, 16},  {13, 33, 7}, {97, 70, 300},
                            {5, 129, 513}, {100, 4, 260}, {7, 9, 0}};
  const float alphas_betas[][2] = {{1.0f, 0.0f}, {0.5f, 2.0f}, {-1.5f, 1.0f}};
  const std::vector<std::string> variants = runnable_gemm_variants();
  CHECK(!variants.empty());
  for (const std::string& v : variants)
    for (const GemmCase& c : cases)
      for (int t = 0; t < 4; ++t)
        for (const auto& ab : alphas_betas) check_variant(v, c, t & 1, t & 2, ab[0], ab[1]);
}

namespace {

using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, const float*, float, float*);
struct GemmPath {
  const char* name;
  GemmFn fn;
  bool runs;
};

// graft's own kernels' paths, called alone (the variant picks one by M; here each is forced).
std::vector<GemmPath> own_gemm_paths() {
  std::vector<GemmPath> out;
#if defined(GRAFT_GEMM_X86_VARIANTS)
  out.push_back({"avx2 packed", gemm_variants::gemm_avx2_packed, cpu_has_avx2_fma()});
  out.push_back({"avx2 small-M", gemm_variants::gemm_avx2_small_m, cpu_has_avx2_fma()});
  out.push_back({"avx512 packed", gemm_variants::gemm_avx512_packed, cpu_has_avx512()});
  out.push_back({"avx512 small-M", gemm_variants::gemm_avx512_small_m, cpu_has_avx512()});
#endif
  return out;
}

void check_path(const GemmPath& p, const GemmCase& c, bool ta, bool tb, float alpha, float beta) {
  const std::vector<float> A = random_vector(c.M * c.K, 51), B = random_vector(c.K * c.N, 52);
  const std::vector<float> C0 = random_vector(c.M * c.N, 53);
  std::vector<float> C = C0;
  if (beta == 0.0f) C.assign(C.size(), std::numeric_limits<float>::quiet_NaN());  // must not be read
  p.fn(ta, tb, c.M, c.N, c.K, alpha, A.data(), B.data(), beta, C.data());
  const std::vector<float> want = naive_gemm(ta, tb, c.M, c.N, c.K, alpha, A, B, beta, C0);
  INFO(p.name << " M=" << c.M << " N=" << c.N << " K=" << c.K << " trans_a=" << ta << " trans_b=" << tb
              << " alpha=" << alpha << " beta=" << beta);
  // K up to 2100 here (kGemmTolerance was measured for K <= 600): the float32 rounding of a
  // sum of K terms grows like sqrt(K) for random signs; measured worst over the four paths
  // 1.7e-5 (at K = 2100), 6x under the tolerance; a wrong index, a missed K block or a lost
  // edge gives errors of order 1.
  CHECK(worst_error(C, want) < kGemmTolerance);
}

}  // namespace

TEST_CASE("gemm: graft's own kernels, the packed and the small-M path, match the definition") {
  // Small-M tiles: dot 4x4 (AVX-512) / 4x3 (AVX2) rows x columns, axpy 4 rows x 64 columns /
  // 3 x 32; K blocks of 65536/M (2048 for M = 32: K = 2100 takes two), K tails past 16 / 8
  // lanes. Sizes one below, at and one past those edges, M = 1 and M = 32 (the largest M the
  // variant sends there), K = 0. The packed path gets the same cases (M <= 32 is where the
  // variant would not use it, and its edges are still exercised).
  const GemmCase cases[] = {{1, 1, 1},    {3, 5, 15},   {4, 4, 16},   {5, 65, 17},   {8, 63, 300},
                            {8, 129, 33}, {9, 97, 8},   {17, 33, 70}, {32, 64, 2100}, {2, 200, 1},
                            {6, 7, 0},    {13, 31, 257}};
  const float alphas_betas[][2] = {{1.0f, 0.0f}, {0.5f, 2.0f}, {-1.5f, 1.0f}};
  for (const GemmPath& p : own_gemm_paths()) {
    if (!p.runs) {
      MESSAGE("gemm path " << p.name << " cannot run on this CPU: skipped");
      continue;
    }
    for (const GemmCase& c : cases)
      for (int t = 0; t < 4; ++t)
        for (const auto& ab : alphas_betas) check_path(p, c, t & 1, t & 2, ab[0], ab[1]);
  }
}

TEST_CASE("gemm: the small-M path reads nothing past the last column of B (B ends at a guard page)") {
  // The axpy form walks C's columns in vectors of 16 (AVX-512) / 8 (AVX2) lanes, four at a time;
  // for N = 20 the third and fourth vectors lie wholly past the last column. UBSan found their
  // lane mask computed as 1 << -8 (x86 takes the count mod 32: all 16 lanes loaded) — a read past
  // the end of B, harmless only while the next bytes happened to be mapped. Here B's last row ends
  // exactly at a PROT_NONE page, so any such read is a SIGSEGV.
  const int64_t M = 4, N = 20, K = 3;
  const long page = sysconf(_SC_PAGESIZE);
  const size_t bytes = static_cast<size_t>(K * N) * sizeof(float);
  const size_t span = (bytes + page - 1) / page * page;
  char* base = static_cast<char*>(mmap(nullptr, span + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  REQUIRE(base != MAP_FAILED);
  REQUIRE(mprotect(base + span, page, PROT_NONE) == 0);
  float* B = reinterpret_cast<float*>(base + span - bytes);
  const std::vector<float> Bv = random_vector(K * N, 62), A = random_vector(M * K, 61);
  std::copy(Bv.begin(), Bv.end(), B);
  const std::vector<float> want = naive_gemm(false, false, M, N, K, 1.0f, A, Bv, 0.0f, std::vector<float>(M * N));
  for (const GemmPath& p : own_gemm_paths()) {
    if (!p.runs) continue;
    INFO(p.name);
    std::vector<float> C(M * N);
    p.fn(false, false, M, N, K, 1.0f, A.data(), B, 0.0f, C.data());  // dx = dy W: the axpy form
    CHECK(worst_error(C, want) < kGemmTolerance);  // the same tolerance as above; K = 3 sums
  }
  munmap(base, span + page);
}

TEST_CASE("gemm: graft's kernels choose the small-M or the packed path by use_small_m's rule") {
  // gemm_packed.inc: M <= 32 takes the small-M path, except with B transposed and K < 5 M (a
  // convolution's weight gradient over few pixels), where the packed path is faster. Each case
  // sits one step from that boundary; the variant's C must equal, bit for bit, the C of the path
  // the rule names (both paths are deterministic, and their summation orders differ, so the
  // other path's C differs in the last bits — checked too, so that this test can tell them
  // apart), and match the definition.
  struct Case {
    GemmCase c;
    bool trans_b, small_m;
  };
  const Case cases[] = {
      {{32, 70, 159}, true, false}, {{32, 70, 160}, true, true},   {{8, 129, 39}, true, false},
      {{8, 129, 40}, true, true},   {{33, 50, 200}, true, false},  {{32, 64, 100}, false, true},
      {{33, 64, 100}, false, false}, {{32, 1152, 64}, true, false},  // DenseNet121's last block at 32x64
  };
#if defined(GRAFT_GEMM_X86_VARIANTS)
  const struct {
    const char* name;
    GemmFn variant, packed, small_m;
    bool runs;
  } kernels_[] = {
      {"avx2", gemm_variants::gemm_avx2, gemm_variants::gemm_avx2_packed, gemm_variants::gemm_avx2_small_m,
       cpu_has_avx2_fma()},
      {"avx512", gemm_variants::gemm_avx512, gemm_variants::gemm_avx512_packed, gemm_variants::gemm_avx512_small_m,
       cpu_has_avx512()},
  };
  for (const auto& kn : kernels_) {
    if (!kn.runs) {
      MESSAGE("gemm variant " << kn.name << " cannot run on this CPU: skipped");
      continue;
    }
    for (const Case& cs : cases)
      for (bool ta : {false, true}) {
        const GemmCase& c = cs.c;
        INFO(kn.name << " M=" << c.M << " N=" << c.N << " K=" << c.K << " trans_a=" << ta << " trans_b=" << cs.trans_b);
        const std::vector<float> A = random_vector(c.M * c.K, 71), B = random_vector(c.K * c.N, 72);
        const std::vector<float> C0 = random_vector(c.M * c.N, 73);
        std::vector<float> got = C0, packed = C0, small_m = C0;
        kn.variant(ta, cs.trans_b, c.M, c.N, c.K, 0.5f, A.data(), B.data(), 1.0f, got.data());
        kn.packed(ta, cs.trans_b, c.M, c.N, c.K, 0.5f, A.data(), B.data(), 1.0f, packed.data());
        kn.small_m(ta, cs.trans_b, c.M, c.N, c.K, 0.5f, A.data(), B.data(), 1.0f, small_m.data());
        CHECK(packed != small_m);
        CHECK(got == (cs.small_m ? small_m : packed));
        const std::vector<float> want = naive_gemm(ta, cs.trans_b, c.M, c.N, c.K, 0.5f, A, B, 1.0f, C0);
        CHECK(worst_error(got, want) < kGemmTolerance);  // K <= 200 sums: see kGemmTolerance
      }
  }
#else
  MESSAGE("no x86 GEMM variants in this build: skipped");
  (void)cases;
#endif
}

TEST_CASE("gemm variants: a Linear layer's products on a batch of 8 (the small-M path), threaded and not") {
  // y = x W^T, dx = dy W, dW = dy^T x for batch 8, 700 -> 300 features: M = 8 in the first two
  // (the small-M path of graft's kernels, split over threads by columns), K = 8 in the third.
  const int64_t batch = 8, in = 700, out = 300;
  const std::vector<float> x = random_vector(batch * in, 61), W = random_vector(out * in, 62);
  const std::vector<float> dy = random_vector(batch * out, 63);
  const std::vector<float> zeros_y(batch * out), zeros_x(batch * in), zeros_w(out * in);
  const std::vector<float> want_y = naive_gemm(false, true, batch, out, in, 1.0f, x, W, 0.0f, zeros_y);
  const std::vector<float> want_dx = naive_gemm(false, false, batch, in, out, 1.0f, dy, W, 0.0f, zeros_x);
  const std::vector<float> want_dw = naive_gemm(true, false, out, in, batch, 1.0f, dy, x, 0.0f, zeros_w);
  const int saved = omp_get_max_threads();
  for (int threads : {2, 1}) {
    omp_set_num_threads(threads);
    for (const std::string& v : runnable_gemm_variants()) {
      INFO("variant " << v << ", " << threads << " threads");
      std::vector<float> y(want_y.size()), dx(want_dx.size()), dw(want_dw.size());
      kernels::gemm.call_variant(Device::CPU, v, false, true, batch, out, in, 1.0f, x.data(), W.data(), 0.0f, y.data());
      kernels::gemm.call_variant(Device::CPU, v, false, false, batch, in, out, 1.0f, dy.data(), W.data(), 0.0f,
                                 dx.data());
      kernels::gemm.call_variant(Device::CPU, v, true, false, out, in, batch, 1.0f, dy.data(), x.data(), 0.0f,
                                 dw.data());
      CHECK(worst_error(y, want_y) < kGemmTolerance);  // K = 700: see kGemmTolerance (and check_path)
      CHECK(worst_error(dx, want_dx) < kGemmTolerance);
      CHECK(worst_error(dw, want_dw) < kGemmTolerance);
      // Inside a parallel region (the single-threaded route), one product per thread.
      std::vector<float> y2[2] = {std::vector<float>(y.size()), std::vector<float>(y.size())};
      std::vector<float> dx2[2] = {std::vector<float>(dx.size()), std::vector<float>(dx.size())};
#pragma omp parallel for num_threads(2)
      for (int t = 0; t < 2; ++t) {
        kernels::gemm.call_variant(Device::CPU, v, false, true, batch, out, in, 1.0f, x.data(), W.data(), 0.0f,
                                   y2[t].data());
        kernels::gemm.call_variant(Device::CPU, v, false, false, batch, in, out, 1.0f, dy.data(), W.data(), 0.0f,
                                   dx2[t].data());
      }
      for (int t = 0; t < 2; ++t) {
        CHECK(worst_error(y2[t], want_y) < kGemmTolerance);
        CHECK(worst_error(dx2[t], want_dx) < kGemmTolerance);
      }
    }
  }
  omp_set_num_threads(saved);
}

TEST_CASE("gemm variants: threaded, and single-threaded inside a parallel region, agree with the baseline") {
  const int64_t M = 150, N = 200, K = 600;  // 2*M*N*K = 3.6e7 flops: the threaded path
  const std::vector<float> A = random_vector(M * K, 21), B = random_vector(K * N, 22);
  const std::vector<float> want = naive_gemm(false, true, M, N, K, 1.0f, A, B, 0.0f, std::vector<float>(M * N));
  const int saved = omp_get_max_threads();
  omp_set_num_threads(2);
  for (const std::string& v : runnable_gemm_variants()) {
    INFO("variant " << v);
    std::vector<float> C(static_cast<size_t>(M * N));
    kernels::gemm.call_variant(Device::CPU, v, false, true, M, N, K, 1.0f, A.data(), B.data(), 0.0f, C.data());
    CHECK(worst_error(C, want) < kGemmTolerance);  // K = 600: see kGemmTolerance
    // Two GEMMs at once, one per thread, each into its own C (the conv fast path's pattern).
    std::vector<float> C2[2] = {std::vector<float>(C.size()), std::vector<float>(C.size())};
#pragma omp parallel for num_threads(2)
    for (int t = 0; t < 2; ++t)
      kernels::gemm.call_variant(Device::CPU, v, false, true, M, N, K, 1.0f, A.data(), B.data(), 0.0f, C2[t].data());
    CHECK(worst_error(C2[0], want) < kGemmTolerance);
    CHECK(worst_error(C2[1], want) < kGemmTolerance);
  }
  omp_set_num_threads(saved);
}

TEST_CASE("gemm: the default is the highest-ranked variant this CPU runs, and it computes") {
  const auto variants = kernels::gemm.variants(Device::CPU);  // highest rank first
  REQUIRE(!variants.empty());
  CHECK(variants.back().name == "eigen");  // the reference: rank 0
  std::string expected;
  for (const auto& v : variants)
    if (v.supported && expected.empty()) expected = v.name;
  CHECK(kernels::gemm.variant(Device::CPU) == expected);
  std::vector<float> C(1);
  const float a = 3.0f, b = 4.0f;
  gemm(Device::CPU, false, false, 1, 1, 1, 1.0f, &a, &b, 0.0f, C.data());
  CHECK(C[0] == 12.0f);
}

namespace {

struct ConvResult {
  Tensor y, gx, gw, gb;
};

ConvResult run_conv(const Shape& xs, const Shape& ws, const Conv2dParams& p, bool fast) {
  KernelSelectionGuard variant(fast ? "conv2d_*=batched" : "conv2d_*=reference");
  Tensor x = testing::random_tensor(xs, 31).set_requires_grad(true);
  Tensor w = testing::random_tensor(ws, 32).set_requires_grad(true);
  Tensor b = testing::random_tensor({ws[0]}, 33).set_requires_grad(true);
  Tensor y = conv2d(x, w, b, p);
  y.backward(testing::random_tensor(y.shape(), 34));  // a random dy: a misplaced gradient shows
  return {y, x.grad(), w.grad(), b.grad()};
}

}  // namespace

TEST_CASE("conv2d: the batch-split variant matches the per-image reference") {
  const int saved = omp_get_max_threads();
  struct Case {
    const char* name;
    Shape x, w;
    Conv2dParams p;
  };
  const Case cases[] = {
      {"3x3 pad 1", {3, 4, 9, 7}, {5, 4, 3, 3}, {1, 1, 1, 1, 1, 1}},
      {"3x3 stride 2 pad 1", {3, 3, 10, 11}, {6, 3, 3, 3}, {2, 2, 1, 1, 1, 1}},
      {"1x1 pointwise (no im2col)", {4, 6, 5, 5}, {7, 6, 1, 1}, {}},
      {"1x1 stride 2 (ResNet downsample)", {3, 6, 8, 8}, {4, 6, 1, 1}, {2, 2, 0, 0, 1, 1}},
      {"3x3 dilation 2 pad 2", {2, 2, 9, 9}, {3, 2, 3, 3}, {1, 1, 2, 2, 2, 2}},
      {"7x7 stride 2 pad 3, one image", {1, 3, 12, 12}, {4, 3, 7, 7}, {2, 2, 3, 3, 1, 1}},
      {"3x3 pad 1, 24x24 images (one image per group)", {2, 3, 24, 24}, {4, 3, 3, 3}, {1, 1, 1, 1, 1, 1}},
  };
  // Two threads: N = 3 leaves one thread two images (a group of two for these small images);
  // one thread: one group of all images.
  for (int threads : {2, 1})
  for (const Case& c : cases) {
    omp_set_num_threads(threads);
    INFO(c.name << ", " << threads << " threads");
    const ConvResult ref = run_conv(c.x, c.w, c.p, false), fast = run_conv(c.x, c.w, c.p, true);
    // Same products, summed in a different order (per-thread weight-gradient sums, a different
    // GEMM blocking): float rounding only, ~1e-6 relative for these sums of <= 150 terms.
    CHECK_CLOSE("y", fast.y, ref.y, 1e-5, 1e-5);
    CHECK_CLOSE("dx", fast.gx, ref.gx, 1e-5, 1e-5);
    CHECK_CLOSE("dw", fast.gw, ref.gw, 1e-5, 1e-5);
    CHECK_CLOSE("db", fast.gb, ref.gb, 1e-5, 1e-5);
  }
  omp_set_num_threads(saved);
}

TEST_CASE("max_pool2d: the separable inference variant matches the argmax reference") {
  struct Case {
    const char* name;
    Pool2dParams p;
  };
  const Case cases[] = {
      {"3x3 stride 2 pad 1 (ResNet)", {3, 3, 2, 2, 1, 1}},
      {"2x2 stride 2 (VGG)", {2, 2, 2, 2}},
      {"3x3 stride 2 ceil_mode", {3, 3, 2, 2, 0, 0, true}},
  };
  Tensor x = testing::random_tensor({2, 3, 9, 11}, 41);
  x.data()[5] = std::numeric_limits<float>::quiet_NaN();  // NaN must win its windows in both paths
  for (const Case& c : cases) {
    INFO(c.name);
    NoGradGuard no_grad;  // the separable variant's condition: no backward will run
    Tensor ref, fast;
    {
      KernelSelectionGuard variant("max_pool2d_forward=reference");
      ref = max_pool2d(x, c.p);
    }
    {
      KernelSelectionGuard variant("max_pool2d_forward=separable");
      fast = max_pool2d(x, c.p);
    }
    const std::vector<float> a = fast.to_vector(), b = ref.to_vector();
    REQUIRE(a.size() == b.size());
    int nans = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::isnan(b[i])) {
        ++nans;
        CHECK(std::isnan(a[i]));
      } else {
        CHECK(a[i] == b[i]);  // a maximum is one of the inputs: exact
      }
    }
    CHECK(nans >= 1);
  }
}

TEST_CASE("max_pool2d: the interior variant gives the reference's values and argmax (ties, -inf, NaN)") {
  // The argmax decides where the backward sends each gradient, so it must be the reference's
  // exactly: the first maximum on ties, the last NaN of a window, a window of -inf's first
  // element. Values are drawn from 5 levels (ties in most windows), with -inf and NaN sprinkled
  // in and one plane all -inf; sizes are odd, and the windows cover ResNet's 3x3 s2 p1, VGG's
  // 2x2 s2, strides 1 and 3 (the SSE path's other two loads), the generic sizes, ceil_mode's
  // clipped last windows, and a window larger than the image.
  struct Case {
    const char* name;
    Pool2dParams p;
    int64_t H, W;
  };
  const Case cases[] = {
      {"3x3 stride 2 pad 1 (ResNet)", {3, 3, 2, 2, 1, 1}, 13, 11},
      {"3x3 stride 2 pad 1, even size", {3, 3, 2, 2, 1, 1}, 12, 16},
      {"3x3 stride 2 pad 1, wide (many 4-lane groups)", {3, 3, 2, 2, 1, 1}, 30, 37},
      {"3x3 stride 3 (lanes gathered one by one)", {3, 3, 3, 3, 1, 1}, 11, 29},
      {"2x2 stride 2 (VGG)", {2, 2, 2, 2}, 9, 12},
      {"3x3 stride 1 pad 1", {3, 3, 1, 1, 1, 1}, 7, 6},
      {"3x2 stride (2,1) pad (1,0), generic", {3, 2, 2, 1, 1, 0}, 9, 7},
      {"3x3 stride 2 ceil_mode", {3, 3, 2, 2, 0, 0, true}, 10, 8},
      {"2x2 stride 2 ceil_mode, odd size", {2, 2, 2, 2, 0, 0, true}, 7, 9},
      {"5x5 pad 2 on a 3x4 image", {5, 5, 1, 1, 2, 2}, 3, 4},
  };
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (const Case& c : cases) {
    INFO(c.name);
    Tensor x = testing::random_tensor({2, 3, c.H, c.W}, 81);
    float* px = x.data();
    const int64_t plane = c.H * c.W;
    for (int64_t i = 0; i < x.numel(); ++i) {
      px[i] = std::round(px[i] * 2.0f);  // -2 .. 2: ties
      if (i % 17 == 3) px[i] = -inf;
      if (i % 29 == 7 || i % 29 == 8) px[i] = nan;  // neighbours: two NaNs in some windows
    }
    for (int64_t i = 4 * plane; i < 5 * plane; ++i) px[i] = -inf;  // plane 4: all -inf
    const Shape ys = {2, 3, pool_output_size(c.H, c.p.kernel_h, c.p.stride_h, c.p.pad_h, 1, c.p.ceil_mode),
                      pool_output_size(c.W, c.p.kernel_w, c.p.stride_w, c.p.pad_w, 1, c.p.ceil_mode)};
    Tensor y_ref = Tensor::empty(ys), y_fast = Tensor::empty(ys);
    const Tensor i_ref = kernels::max_pool2d_forward.call_variant(Device::CPU, "reference", x, y_ref, c.p, true);
    const Tensor i_fast = kernels::max_pool2d_forward.call_variant(Device::CPU, "interior", x, y_fast, c.p, true);
    const std::vector<float> a = y_fast.to_vector(), b = y_ref.to_vector();
    const int64_t* ia = i_fast.data_ptr<int64_t>();
    const int64_t* ib = i_ref.data_ptr<int64_t>();
    int nans = 0, minus_inf = 0, mismatches = 0;
    for (size_t i = 0; i < b.size(); ++i) {
      nans += std::isnan(b[i]);
      minus_inf += b[i] == -inf;
      // A maximum is one of the inputs: exact; NaN must stay NaN.
      const bool same = std::isnan(b[i]) ? std::isnan(a[i]) : a[i] == b[i];
      if (!same || ia[i] != ib[i]) ++mismatches;
    }
    CHECK(mismatches == 0);
    CHECK(nans >= 1);       // the NaN rule was exercised
    CHECK(minus_inf >= 1);  // the all -inf plane
  }
}
