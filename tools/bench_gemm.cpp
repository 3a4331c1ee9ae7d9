// tools/bench_gemm.cpp — time the CPU GEMM on a Linear layer's three products, or print a hash
// of its results (to show that a refactor left a kernel's numerics bit for bit unchanged).
//   build/tools/bench_gemm linear BATCH IN OUT      y = x W^T, dx = dy W, dW = dy^T x (VGG16 fc1:
//                                                   linear 8 25088 4096), best of 5 after a warm-up
//   build/tools/bench_gemm shape M N K TA TB        one product, C = op(A) op(B)
//   build/tools/bench_gemm hash                     FNV-1a of C for a fixed list of shapes
//   build/tools/bench_gemm paths                    graft's two GEMM paths (small-M, packed) alone,
//                                                   M 8-32 x N 64-8192 x K 128-4608, both trans_b:
//                                                   the measurements behind use_small_m (gemm_packed.inc)
//   build/tools/bench_gemm paths M N K TB           the same for one shape
// The variant is the default one, or GRAFT_KERNELS=gemm=avx2|eigen_avx2|avx512|eigen.
// OMP_NUM_THREADS sets the threads. Not a test: speed claims are made from its output beside
// PyTorch's (tools/bench_gemm_pytorch.py times the same products).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tensor/gemm.h"
#include "tensor/gemm_variants.h"
#include "tensor/random.h"

using namespace graft;

namespace {

std::vector<float> random_values(int64_t n, float scale) {
  Tensor t = Tensor::empty({n});
  normal_(t, 0.0f, scale);
  return t.to_vector();
}

// Best time (ms) of 5 calls after one warm-up.
double time_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const std::vector<float>& A,
                 const std::vector<float>& B, std::vector<float>& C) {
  double best = 1e30;
  for (int rep = 0; rep < 6; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    gemm(Device::CPU, ta, tb, M, N, K, 1.0f, A.data(), B.data(), 0.0f, C.data());
    const auto t1 = std::chrono::steady_clock::now();
    if (rep > 0) best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return best;
}

void report(const char* what, bool ta, bool tb, int64_t M, int64_t N, int64_t K) {
  const std::vector<float> A = random_values(M * K, 1.0f), B = random_values(K * N, 0.01f);
  std::vector<float> C(static_cast<size_t>(M * N));
  const double ms = time_gemm(ta, tb, M, N, K, A, B, C);
  std::printf("%-6s M%-6lld N%-6lld K%-6lld ta%d tb%d  %8.2f ms  %6.1f GFLOP/s\n", what, static_cast<long long>(M),
              static_cast<long long>(N), static_cast<long long>(K), ta, tb, ms, 2.0 * M * N * K / ms / 1e6);
}

#if defined(GRAFT_GEMM_X86_VARIANTS)
using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, const float*, float, float*);
// Best time (ms) of one path alone: 5 calls after a warm-up.
double time_path(GemmFn fn, bool tb, int64_t M, int64_t N, int64_t K, const std::vector<float>& A,
                 const std::vector<float>& B, std::vector<float>& C) {
  double best = 1e30;
  for (int rep = 0; rep < 6; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    fn(false, tb, M, N, K, 1.0f, A.data(), B.data(), 0.0f, C.data());
    const auto t1 = std::chrono::steady_clock::now();
    if (rep > 0) best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return best;
}

struct Paths {
  const char* isa;
  GemmFn small_m, packed, variant;
};

// One line: GFLOP/s of the small-M and the packed path, their time ratio, and the variant's
// (which of the two it chose).
void compare_paths(const Paths& k, bool tb, int64_t M, int64_t N, int64_t K) {
  const std::vector<float> A = random_values(M * K, 1.0f), B = random_values(K * N, 0.01f);
  std::vector<float> C(static_cast<size_t>(M * N));
  const double s = time_path(k.small_m, tb, M, N, K, A, B, C), p = time_path(k.packed, tb, M, N, K, A, B, C);
  const double v = time_path(k.variant, tb, M, N, K, A, B, C), gf = 2.0 * M * N * K / 1e6;
  std::printf("%-6s tb%d M%-3lld K%-5lld N%-5lld  small %6.1f  packed %6.1f GFLOP/s  packed/small %5.2f  "
              "variant %6.1f\n",
              k.isa, tb, static_cast<long long>(M), static_cast<long long>(K), static_cast<long long>(N), gf / s,
              gf / p, s / p, gf / v);
}

// The grid of use_small_m's comment (gemm_packed.inc).
void compare_paths_grid(const Paths& k) {
  for (int tb = 0; tb < 2; ++tb)
    for (int64_t M : {8, 16, 32})
      for (int64_t K : {128, 512, 1152, 4608})
        for (int64_t N : {64, 256, 1024, 4096, 8192}) compare_paths(k, tb, M, N, K);
}
#endif

uint64_t fnv1a(const std::vector<float>& v, uint64_t h) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(v.data());
  for (size_t i = 0; i < v.size() * sizeof(float); ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  select_kernels_from_environment();
  std::printf("gemm variant %s, %d threads\n", kernels::gemm.variant(Device::CPU).c_str(), omp_get_max_threads());
  if (mode == "linear" && argc == 5) {
    const int64_t batch = std::atoll(argv[2]), in = std::atoll(argv[3]), out = std::atoll(argv[4]);
    report("y", false, true, batch, out, in);    // y[B,out] = x[B,in] W[out,in]^T
    report("dx", false, false, batch, in, out);  // dx[B,in] = dy[B,out] W[out,in]
    report("dW", true, false, out, in, batch);   // dW[out,in] = dy^T x
  } else if (mode == "shape" && argc == 7) {
    report("C", std::atoi(argv[5]) != 0, std::atoi(argv[6]) != 0, std::atoll(argv[2]), std::atoll(argv[3]),
           std::atoll(argv[4]));
  } else if (mode == "paths" && (argc == 2 || argc == 6)) {
#if defined(GRAFT_GEMM_X86_VARIANTS)
    std::vector<Paths> paths;
    if (cpu_has_avx512())
      paths.push_back({"avx512", gemm_variants::gemm_avx512_small_m, gemm_variants::gemm_avx512_packed,
                       gemm_variants::gemm_avx512});
    if (cpu_has_avx2_fma())
      paths.push_back({"avx2", gemm_variants::gemm_avx2_small_m, gemm_variants::gemm_avx2_packed,
                       gemm_variants::gemm_avx2});
    for (const Paths& k : paths) {
      if (argc == 6)
        compare_paths(k, std::atoi(argv[5]) != 0, std::atoll(argv[2]), std::atoll(argv[3]), std::atoll(argv[4]));
      else
        compare_paths_grid(k);
    }
#else
    std::fprintf(stderr, "paths: no x86 GEMM variants in this build\n");
    return 2;
#endif
  } else if (mode == "hash") {
    // Conv-like and odd shapes (M > 32: the packed path), every transpose, alpha 0.5, beta 2.
    const int64_t shapes[][3] = {{64, 3136, 576}, {128, 784, 1152}, {97, 70, 300}, {256, 49, 2304}, {100, 4, 260},
                                 {33, 129, 513}, {512, 196, 4608}};
    uint64_t h = 1469598103934665603ull;
    for (const auto& s : shapes)
      for (int t = 0; t < 4; ++t) {
        const int64_t M = s[0], N = s[1], K = s[2];
        const std::vector<float> A = random_values(M * K, 1.0f), B = random_values(K * N, 1.0f);
        std::vector<float> C = random_values(M * N, 1.0f);
        gemm(Device::CPU, t & 1, t & 2, M, N, K, 0.5f, A.data(), B.data(), 2.0f, C.data());
        h = fnv1a(C, h);
      }
    std::printf("hash %016llx\n", static_cast<unsigned long long>(h));
  } else {
    std::fprintf(stderr, "usage: bench_gemm linear BATCH IN OUT | shape M N K TA TB | paths [M N K TB] | hash\n");
    return 2;
  }
  return 0;
}
