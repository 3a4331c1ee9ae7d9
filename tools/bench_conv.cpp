// tools/bench_conv.cpp — time one convolution layer: forward and backward (input + weight
// gradients) and an inference forward (under NoGradGuard: what a frozen or evaluated layer
// runs, where F(4x4,3x3) applies; the recorded forward takes F(2x2,3x3)), best of 5 after one
// warm-up, in GFLOP/s, with the process's CPU time. The before/after figures of
// docs/benchmarks.md come from here:
//   build/tools/bench_conv 8 128 28 128 3 1                      (N C H K R stride; pad R/2)
//   GRAFT_KERNELS=reference build/tools/bench_conv ...   (the reference kernels: Eigen with SSE2, image by image)
// tools/bench_conv_pytorch.py times the same layer in PyTorch.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>

#include "autograd/engine.h"
#include "layers/conv2d.h"
#include "tensor/gemm.h"
#include "tensor/random.h"

using namespace graft;

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: bench_conv N C H K R stride   (square H x H images, padding R/2)\n");
    return 2;
  }
  const int64_t N = std::atoll(argv[1]), C = std::atoll(argv[2]), H = std::atoll(argv[3]), K = std::atoll(argv[4]),
                R = std::atoll(argv[5]), stride = std::atoll(argv[6]);
  Tensor x = Tensor::empty({N, C, H, H}), w = Tensor::empty({K, C, R, R});
  normal_(x, 0.0f, 1.0f);
  normal_(w, 0.0f, 0.1f);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  const Conv2dParams p{stride, stride, R / 2, R / 2, 1, 1};
  double forward = 1e9, forward_cpu = 1e9, backward = 1e9, backward_cpu = 1e9;
  for (int rep = 0; rep < 6; ++rep) {
    const std::clock_t c0 = std::clock();
    const auto t0 = std::chrono::steady_clock::now();
    Tensor y = conv2d(x, w, Tensor(), p);
    const auto t1 = std::chrono::steady_clock::now();
    const std::clock_t c1 = std::clock();
    const Tensor gy = Tensor::ones(y.shape());
    const std::clock_t c2 = std::clock();
    const auto t2 = std::chrono::steady_clock::now();
    y.backward(gy);
    const auto t3 = std::chrono::steady_clock::now();
    const std::clock_t c3 = std::clock();
    if (rep > 0) {  // the first one warms up (workspaces, page faults)
      forward = std::min(forward, std::chrono::duration<double>(t1 - t0).count());
      forward_cpu = std::min(forward_cpu, double(c1 - c0) / CLOCKS_PER_SEC);
      backward = std::min(backward, std::chrono::duration<double>(t3 - t2).count());
      backward_cpu = std::min(backward_cpu, double(c3 - c2) / CLOCKS_PER_SEC);
    }
    x.zero_grad();
    w.zero_grad();
  }
  double infer = 1e9, infer_cpu = 1e9;  // cpu: the process's CPU time, less sensitive to a loaded machine
  {
    NoGradGuard no_grad;  // nothing recorded: the kernels may trade exactness for speed (Winograd)
    for (int rep = 0; rep < 6; ++rep) {
      const std::clock_t c0 = std::clock();
      const auto t0 = std::chrono::steady_clock::now();
      Tensor y = conv2d(x, w, Tensor(), p);
      const auto t1 = std::chrono::steady_clock::now();
      const std::clock_t c1 = std::clock();
      if (rep > 0) {
        infer = std::min(infer, std::chrono::duration<double>(t1 - t0).count());
        infer_cpu = std::min(infer_cpu, double(c1 - c0) / CLOCKS_PER_SEC);
      }
    }
  }
  const int64_t P = (H + 2 * (R / 2) - R) / stride + 1;
  const double flops = 2.0 * N * K * P * P * C * R * R;  // forward; backward is twice that
  std::printf("conv N%lld C%lld H%lld K%lld R%lld stride %lld, gemm %s, conv2d %s: forward %.2f ms (%.1f GFLOP/s, cpu %.2f ms), "
              "backward %.2f ms (%.1f GFLOP/s, cpu %.2f ms), "
              "infer %.2f ms (%.1f GFLOP/s, cpu %.2f ms)\n",
              static_cast<long long>(N), static_cast<long long>(C), static_cast<long long>(H),
              static_cast<long long>(K), static_cast<long long>(R), static_cast<long long>(stride),
              kernels::gemm.variant(Device::CPU).c_str(), kernels::conv2d_forward.variant(Device::CPU).c_str(), forward * 1e3, flops / forward / 1e9, forward_cpu * 1e3, backward * 1e3,
              2 * flops / backward / 1e9, backward_cpu * 1e3, infer * 1e3, flops / infer / 1e9, infer_cpu * 1e3);
  return 0;
}
