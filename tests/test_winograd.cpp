// tests/test_winograd.cpp — the Winograd 3x3 convolutions (src/layers/conv2d_winograd.cpp)
// against a direct convolution summed in double precision here (the exact answer, to float
// rounding), and against graft's direct paths (the reference and batched variants).
#include <omp.h>

#include <cmath>
#include <vector>

#include "autograd/engine.h"
#include "layers/conv2d.h"
#include "layers/conv2d_winograd.h"
#include "tensor/dispatch.h"
#include "testing.h"

using namespace graft;

namespace {

// y[n,k,p,q] = sum_{c,r,s} x[n,c,p+r-ph,q+s-pw] w[k,c,r,s], in double: x [N,C,H,W], w [K,C,3,3].
Tensor direct_double(const Tensor& x, const Tensor& w, int64_t ph, int64_t pw) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), K = w.size(0);
  const int64_t P = H + 2 * ph - 2, Q = W + 2 * pw - 2;
  Tensor y = Tensor::empty({N, K, P, Q});
  const float *px = x.data(), *pwt = w.data();
  float* py = y.data();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          double sum = 0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t r = 0; r < 3; ++r)
              for (int64_t s = 0; s < 3; ++s) {
                const int64_t ih = p + r - ph, iw = q + s - pw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                sum += double(px[((n * C + c) * H + ih) * W + iw]) * pwt[((k * C + c) * 3 + r) * 3 + s];
              }
          py[((n * K + k) * P + p) * Q + q] = static_cast<float>(sum);
        }
  return y;
}

// dx of the same convolution, in double: the transpose of direct_double, read off its sum.
Tensor direct_double_dx(const Tensor& gy, const Tensor& w, const Shape& xs, int64_t ph, int64_t pw) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], K = w.size(0), P = gy.size(2), Q = gy.size(3);
  std::vector<double> gx(N * C * H * W, 0.0);
  const float *pg = gy.data(), *pwt = w.data();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t r = 0; r < 3; ++r)
              for (int64_t s = 0; s < 3; ++s) {
                const int64_t ih = p + r - ph, iw = q + s - pw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                gx[((n * C + c) * H + ih) * W + iw] +=
                    double(pg[((n * K + k) * P + p) * Q + q]) * pwt[((k * C + c) * 3 + r) * 3 + s];
              }
  Tensor out = Tensor::empty(xs);
  for (int64_t i = 0; i < out.numel(); ++i) out.data()[i] = static_cast<float>(gx[i]);
  return out;
}

// The largest |a - b| over the largest |b|: the error relative to the size of the output.
double relative_error(const Tensor& a, const Tensor& b) {
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    worst = std::max(worst, double(std::fabs(a.data()[i] - b.data()[i])));
    scale = std::max(scale, double(std::fabs(b.data()[i])));
  }
  return worst / scale;
}

struct Case {
  const char* name;
  Shape x;
  int64_t K, pad;
};
// H, W not multiples of 2 or 4 (edge tiles clipped), C and K not multiples of 8 or 16.
const Case kCases[] = {
    {"5x7 pad 1, C3 K5", {1, 3, 5, 7}, 5, 1},        {"9x11 pad 0, C17 K6", {3, 17, 9, 11}, 6, 0},
    {"13x10 pad 2, C5 K19", {3, 5, 13, 10}, 19, 2}, {"7x7 pad 1, C33 K31, batch 1", {1, 33, 7, 7}, 31, 1},
    {"3x3 pad 0 (one output)", {3, 4, 3, 3}, 3, 0}, {"30x29 pad 1 (several lane groups)", {3, 6, 30, 29}, 7, 1},
};

}  // namespace

// Tolerances, from the errors measured over these cases (printed with -s), relative to the
// largest output: F(2x2,3x3) ~2e-7, the direct float paths' own rounding; F(4x4,3x3) ~1e-6:
// its transforms multiply by up to 5 (B^T) and 8 (A^T) and divide by 6 and 24 (G), so the float
// rounding of the transformed values is amplified by about their product. The bounds leave ~5x
// room over the worst measured value.
constexpr double kTolF2 = 2e-6, kTolF4 = 1e-5;

TEST_CASE("winograd: F(2x2,3x3) and F(4x4,3x3) forward and dx match a direct convolution in double") {
  const int saved = omp_get_max_threads();
  for (int threads : {1, 2})
    for (const Case& c : kCases) {
      omp_set_num_threads(threads);
      INFO(std::string(c.name) << ", " << threads << " threads");
      const Tensor x = testing::random_tensor(c.x, 41), w = testing::random_tensor({c.K, c.x[1], 3, 3}, 42);
      const Conv2dParams p{1, 1, c.pad, c.pad, 1, 1};
      const Tensor exact = direct_double(x, w, c.pad, c.pad);
      const Tensor gy = testing::random_tensor(exact.shape(), 43);
      const Tensor exact_dx = direct_double_dx(gy, w, c.x, c.pad, c.pad);
      Tensor y2 = Tensor::empty(exact.shape()), y4 = Tensor::empty(exact.shape());
      Tensor dx2 = Tensor::empty(c.x), dx4 = Tensor::empty(c.x);
      conv2d_cpu::winograd_forward<2>(x, w, y2, p);
      conv2d_cpu::winograd_forward<4>(x, w, y4, p);
      conv2d_cpu::winograd_backward_input<2>(gy, w, dx2, p);
      conv2d_cpu::winograd_backward_input<4>(gy, w, dx4, p);
      // the direct float paths, for the size of their own rounding
      Tensor yd = Tensor::empty(exact.shape());
      kernels::conv2d_forward.call_variant(Device::CPU, "reference", x, w, yd, p);
      const double e2 = relative_error(y2, exact), e4 = relative_error(y4, exact), ed = relative_error(yd, exact);
      const double g2 = relative_error(dx2, exact_dx), g4 = relative_error(dx4, exact_dx);
      MESSAGE(std::string(c.name) << ", " << threads << " threads: relative error y F2 " << e2 << " F4 " << e4 << " direct " << ed
                     << "; dx F2 " << g2 << " F4 " << g4);
      CHECK(e2 < kTolF2);
      CHECK(e4 < kTolF4);
      CHECK(g2 < kTolF2);
      CHECK(g4 < kTolF4);
    }
  omp_set_num_threads(saved);
}
