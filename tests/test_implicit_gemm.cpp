// tests/test_implicit_gemm.cpp — the implicit GEMM (tensor/gemm_image.h): a convolution's column
// matrix read from the input by the GEMM instead of written by im2col.
//
// Three levels, each against what it replaces:
//   the index tables      ImageColumns::at against im2col's matrix, entry by entry, exactly;
//   the image kernels     avx2 / avx512 gemm_*_image against im2col + the same kernel's packed
//                         path (the same panels, so bit for bit) and against the definition;
//   the convolution       the "batched" variant (implicit) against "im2col" (the column matrix
//                         written), forward and both gradients, with each GEMM kernel.
// Shapes: padded, strided, dilated, pointwise (in place when alone, several images side by side),
// odd sizes, more than one KC = 256 slice of taps or pixels, panels cut at the edge.
#include <omp.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "layers/conv2d.h"
#include "layers/conv2d_cpu.h"
#include "tensor/dispatch.h"
#include "tensor/gemm.h"
#include "tensor/gemm_image.h"
#include "tensor/gemm_variants.h"
#include "testing.h"

using namespace graft;
using conv2d_cpu::ConvGeometry;

namespace {

struct ConvCase {
  const char* name;
  Shape x, w;
  Conv2dParams p;  // stride_h, stride_w, pad_h, pad_w, dil_h, dil_w
};

// Every case has N >= 2 (images side by side in one matrix) and odd sizes somewhere.
const ConvCase kCases[] = {
    {"3x3 pad 1", {3, 4, 9, 7}, {5, 4, 3, 3}, {1, 1, 1, 1, 1, 1}},
    {"3x3 stride 2 pad 1", {2, 3, 10, 11}, {6, 3, 3, 3}, {2, 2, 1, 1, 1, 1}},
    {"1x1 pointwise", {4, 6, 5, 5}, {7, 6, 1, 1}, {}},
    {"1x1 stride 2 (ResNet downsample)", {3, 6, 8, 8}, {4, 6, 1, 1}, {2, 2, 0, 0, 1, 1}},
    {"3x3 dilation 2 pad 2", {2, 2, 9, 9}, {3, 2, 3, 3}, {1, 1, 2, 2, 2, 2}},
    {"7x7 stride 2 pad 3", {2, 3, 12, 13}, {40, 3, 7, 7}, {2, 2, 3, 3, 1, 1}},
    {"3x1 pad 2x0, more padding than image", {2, 3, 2, 5}, {4, 3, 3, 1}, {1, 1, 2, 0, 1, 1}},
    {"3x3 pad 3 (more than R-1: dx by col2im)", {2, 3, 5, 6}, {4, 3, 3, 3}, {1, 1, 3, 3, 1, 1}},
    {"3x3 pad 1, 297 taps (two KC slices), 40 channels out", {3, 33, 6, 6}, {40, 33, 3, 3}, {1, 1, 1, 1, 1, 1}},
    {"3x3 pad 1, 18x18 images (pixels in two KC slices)", {2, 5, 18, 18}, {36, 5, 3, 3}, {1, 1, 1, 1, 1, 1}},
};

ConvGeometry geometry_of(const ConvCase& c) { return conv2d_cpu::geometry(c.x, c.w, c.p); }

// The column matrix [CRS, N*PQ] of all N images, written by im2col (the reference).
std::vector<float> explicit_columns(const Tensor& x, const ConvGeometry& g) {
  std::vector<float> cols(static_cast<size_t>(g.rows() * g.N * g.cols()));
  for (int64_t n = 0; n < g.N; ++n)
    conv2d_cpu::im2col(x.data() + n * g.C * g.H * g.W, cols.data() + n * g.cols(), g, g.N * g.cols());
  return cols;
}

// C = alpha * A op(B) + beta * C0 by the definition, in double; B: [K,N] or (tb) [N,K].
std::vector<float> naive(bool tb, int64_t M, int64_t N, int64_t K, float alpha, const std::vector<float>& A,
                         const std::vector<float>& B, float beta, const std::vector<float>& C0) {
  std::vector<float> C(static_cast<size_t>(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += double(A[size_t(i * K + k)]) * B[size_t(tb ? j * K + k : k * N + j)];
      C[size_t(i * N + j)] = float(alpha * s + (beta == 0.0f ? 0.0 : beta * double(C0[size_t(i * N + j)])));
    }
  return C;
}

#if defined(GRAFT_GEMM_X86_VARIANTS)
using DenseFn = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, const float*, float, float*);
using ImageFn = void (*)(bool, int64_t, int64_t, int64_t, float, const float*, const ImageColumns&, float, float*);
struct ImageKernel {
  const char* name;
  DenseFn packed;  // the same kernel's packed path on a dense B
  ImageFn image;
  bool runs;
};
std::vector<ImageKernel> image_kernels() {
  return {{"avx2", gemm_variants::gemm_avx2_packed, gemm_variants::gemm_avx2_image, cpu_has_avx2_fma()},
          {"avx512", gemm_variants::gemm_avx512_packed, gemm_variants::gemm_avx512_image, cpu_has_avx512()}};
}
#endif

}  // namespace

TEST_CASE("implicit GEMM: the index tables give im2col's column matrix, entry by entry") {
  for (const ConvCase& c : kCases) {
    INFO(c.name);
    const ConvGeometry g = geometry_of(c);
    const Tensor x = testing::random_tensor(c.x, 71);
    const std::vector<float> want = explicit_columns(x, g);
    const conv2d_cpu::ImageColumnIndex index = conv2d_cpu::image_column_index(g, g.N);
    const ImageColumns m = index.of(x.data(), g.N);
    REQUIRE(m.taps == g.rows());
    REQUIRE(m.pixels == g.N * g.cols());
    int64_t wrong = 0, padding = 0;
    for (int64_t t = 0; t < m.taps; ++t)
      for (int64_t u = 0; u < m.pixels; ++u) {
        const float got = m.at(t, u), expected = want[size_t(t * m.pixels + u)];
        wrong += got != expected;  // a copy: exactly equal
        padding += expected == 0.0f;
      }
    CHECK(wrong == 0);
    // The cases are meant to exercise the padding: most have some (a 1x1 without pad has none).
    if (c.p.pad_h > 0 || c.p.pad_w > 0) CHECK(padding > 0);
  }
}

#if defined(GRAFT_GEMM_X86_VARIANTS)
TEST_CASE("implicit GEMM: the avx2 and avx512 image kernels equal im2col + their packed path, bit for bit") {
  const float alphas_betas[][2] = {{1.0f, 0.0f}, {0.5f, 2.0f}, {-1.5f, 1.0f}};
  for (const ImageKernel& kern : image_kernels()) {
    if (!kern.runs) {
      MESSAGE("image kernel " << kern.name << " cannot run on this CPU: skipped");
      continue;
    }
    for (const ConvCase& c : kCases)
      for (const bool tb : {false, true})
        for (const int64_t M : {1, 13, 40})
          for (const auto& ab : alphas_betas) {
            const ConvGeometry g = geometry_of(c);
            const Tensor x = testing::random_tensor(c.x, 72);
            const std::vector<float> cols = explicit_columns(x, g);  // [taps, pixels]
            const conv2d_cpu::ImageColumnIndex index = conv2d_cpu::image_column_index(g, g.N);
            const ImageColumns m = index.of(x.data(), g.N);
            // forward: C [M, pixels] = A [M, taps] cols; weight gradient: C [M, taps] = A [M, pixels] cols^T
            const int64_t K = tb ? m.pixels : m.taps, N = tb ? m.taps : m.pixels;
            const std::vector<float> A = testing::random_tensor({M, K}, 73).to_vector();
            const std::vector<float> C0 = testing::random_tensor({M, N}, 74).to_vector();
            const float alpha = ab[0], beta = ab[1];
            std::vector<float> got = C0, want = C0;
            if (beta == 0.0f) got.assign(got.size(), std::numeric_limits<float>::quiet_NaN());  // never read
            kern.image(tb, M, N, K, alpha, A.data(), m, beta, got.data());
            kern.packed(false, tb, M, N, K, alpha, A.data(), cols.data(), beta, want.data());
            INFO(kern.name << " " << c.name << " trans_b=" << tb << " M=" << M << " alpha=" << alpha
                           << " beta=" << beta);
            // The packed path computes C^T instead when N < NR and M > N (few columns, many rows):
            // then the order of the sums differs, and only the definition's tolerance holds.
            const int64_t NR = std::string(kern.name) == "avx512" ? 32 : 16;
            if (!(N < NR && M > N)) {
              int64_t differ = 0;
              for (size_t i = 0; i < got.size(); ++i) differ += !(got[i] == want[i]);
              CHECK(differ == 0);
            }
            // Against the definition in double: float32 sums of <= 480 products of values in
            // [-1, 1]; as test_perf.cpp's kGemmTolerance (measured worst 1.2e-5 for K <= 600),
            // 1e-4. A wrong tap, pixel, mask or edge gives errors of order 1.
            const std::vector<float> exact = naive(tb, M, N, K, alpha, A, cols, beta, C0);
            double worst = 0;
            for (size_t i = 0; i < got.size(); ++i) {
              const double e = std::fabs(double(got[i]) - exact[i]) / (1.0 + std::fabs(exact[i]));
              if (!(e <= worst)) worst = e;
            }
            CHECK(worst < 1e-4);
          }
  }
}
#endif

TEST_CASE("conv2d: the implicit-GEMM variant (batched) matches the column matrix written (im2col)") {
  const int saved = omp_get_max_threads();
  std::vector<std::string> gemms;
  for (const auto& v : kernels::gemm.variants(Device::CPU))
    if (v.supported) gemms.push_back(v.name);
  for (const std::string& gemm_variant : gemms)
    for (int threads : {1, 2})
      for (const ConvCase& c : kCases) {
        omp_set_num_threads(threads);
        INFO(c.name << ", gemm " << gemm_variant << ", " << threads << " threads");
        const Tensor x = testing::random_tensor(c.x, 81), w = testing::random_tensor(c.w, 82);
        const Shape ys = conv2d_output_shape(c.x, c.w, c.p);
        const Tensor dy = testing::random_tensor(ys, 83);
        Tensor y[2] = {Tensor::empty(ys), Tensor::empty(ys)}, dw[2] = {Tensor::empty(c.w), Tensor::empty(c.w)};
        Tensor dx[2] = {Tensor::empty(c.x), Tensor::empty(c.x)};
        const char* variants[2] = {"im2col", "batched"};
        KernelSelectionGuard gemm_choice("gemm=" + gemm_variant);
        for (int v = 0; v < 2; ++v) {
          kernels::conv2d_forward.call_variant(Device::CPU, variants[v], x, w, y[v], c.p);
          kernels::conv2d_backward_input.call_variant(Device::CPU, variants[v], dy, w, dx[v], c.p);
          kernels::conv2d_backward_weight.call_variant(Device::CPU, variants[v], dy, x, dw[v], c.p);
        }
        // dx of a stride-1 convolution is the convolution of dy with the flipped weights (one
        // sum over k and the taps, where im2col's route sums over k, then col2im over the taps):
        // float rounding, as below.
        CHECK_CLOSE("dx", dx[1], dx[0], 1e-5, 1e-5);
        // The same products; where the explicit GEMM takes another path (M = K <= 32: the
        // small-M path; few columns: the transposed packed route) the sums run in another order.
        // Float rounding only: ~1e-6 relative for these sums of <= 480 terms of size ~1.
        CHECK_CLOSE("y", y[1], y[0], 1e-5, 1e-5);
        CHECK_CLOSE("dw", dw[1], dw[0], 1e-5, 1e-5);
        // With an Eigen GEMM (no packing of its own: both run im2col) or, with graft's own, K > 32
        // outputs and at least 32 taps and pixels per image (the packed path, not its transposed
        // route, both ways), the two are the same arithmetic: bit for bit.
        const ConvGeometry g = geometry_of(c);
        const bool own = gemm_variant == "avx2" || gemm_variant == "avx512";
        if (!own || (g.K > 32 && g.rows() >= 32 && g.cols() >= 32)) {
          CHECK(y[1].to_vector() == y[0].to_vector());
          CHECK(dw[1].to_vector() == dw[0].to_vector());
        }
      }
  omp_set_num_threads(saved);
}
