// tools/bench_conv_variants.cpp — the CPU time of one convolution kernel, variant against
// variant, called directly (no autograd): the implicit GEMM ("batched") against the column
// matrix written ("im2col"), for the forward, the input gradient (dx) and the weight gradient (dw). Process CPU time, best of `reps`, so that a shared machine's load
// moves the numbers less than wall time would:
//   build/tools/bench_conv_variants N C H K R stride [reps]    (square images, padding R/2)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "layers/conv2d.h"
#include "tensor/random.h"

using namespace graft;

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: bench_conv_variants N C H K R stride [reps]\n");
    return 2;
  }
  const int64_t N = std::atoll(argv[1]), C = std::atoll(argv[2]), H = std::atoll(argv[3]), K = std::atoll(argv[4]),
                R = std::atoll(argv[5]), stride = std::atoll(argv[6]);
  const int reps = argc > 7 ? std::atoi(argv[7]) : 10;
  const Conv2dParams p{stride, stride, R / 2, R / 2, 1, 1};
  Tensor x = Tensor::empty({N, C, H, H}), w = Tensor::empty({K, C, R, R});
  normal_(x, 0.0f, 1.0f);
  normal_(w, 0.0f, 0.1f);
  Tensor y = Tensor::empty(conv2d_output_shape(x.shape(), w.shape(), p)), gw = Tensor::empty(w.shape());
  Tensor gx = Tensor::empty(x.shape());
  normal_(y, 0.0f, 1.0f);
  const auto best = [&](auto&& f) {
    double t = 1e9;
    for (int r = 0; r <= reps; ++r) {
      const std::clock_t c0 = std::clock();
      f();
      if (r > 0) t = std::min(t, double(std::clock() - c0) / CLOCKS_PER_SEC);
    }
    return t * 1e3;
  };
  std::printf("N%lld C%lld H%lld K%lld R%lld s%lld:", (long long)N, (long long)C, (long long)H, (long long)K,
              (long long)R, (long long)stride);
  for (const char* v : {"im2col", "batched"}) {
    const double f = best([&] { kernels::conv2d_forward.call_variant(Device::CPU, v, x, w, y, p); });
    const double d = best([&] { kernels::conv2d_backward_input.call_variant(Device::CPU, v, y, w, gx, p); });
    const double b = best([&] { kernels::conv2d_backward_weight.call_variant(Device::CPU, v, y, x, gw, p); });
    std::printf("  %s fwd %.2f dx %.2f dw %.2f", v, f, d, b);
  }
  std::printf("  (cpu ms)\n");
}
