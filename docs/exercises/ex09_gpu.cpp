// docs/exercises/ex09_gpu.cpp — Chapter 9 of docs/tour.md: what cuDNN and cuBLAS replace.
//
// The same ops run on the GPU when their inputs are CUDA tensors: gemm -> cuBLAS
// (src/tensor/gemm_cublas.cpp), conv2d -> cuDNN (src/layers/conv2d_cudnn.cpp), and GPU memory
// comes from the caching allocator (src/tensor/cuda_allocator.cpp).
// On a machine without a GPU (or a build without CUDA) this exercise checks the other half of
// the rule: a CUDA tensor fails loudly, nothing silently runs on the CPU instead.
// With a GPU it checks that:
//   - linear (cuBLAS) and conv2d (cuDNN) give the CPU's numbers to float32 rounding
//     (the tolerances of tests/test_cuda.cpp);
//   - after one warm-up pass, repeating the pass calls cudaMalloc zero more times;
//   - the size classes: 1000 B -> 1024 B (512 B steps below 1 MiB);
//     1.1 MiB = 1,153,434 B -> 1.125 MiB = 1,179,648 B (1/8 of the power of two below it).
// Run: meson test -C build ex09_gpu --verbose
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "exercise.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "tensor/caching_allocator.h"
#include "tensor/device.h"
#include "tensor/gemm.h"
#include "tensor/random.h"

using namespace graft;

namespace {
Tensor random(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::empty(shape);
  Generator gen(seed);
  uniform_(t, -1.0f, 1.0f, gen);
  return t;
}
// The largest |a - b| / (atol + rtol * |b|): at most 1 when every element is within tolerance.
double worst(const Tensor& a, const Tensor& b, double rtol, double atol) {
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i)
    m = std::max(m, std::fabs(double(va[i]) - vb[i]) / (atol + rtol * std::fabs(double(vb[i]))));
  return m;
}
}  // namespace

TEST_CASE("ex09: the GPU path and the CPU reference") {
  std::printf("  %s\n", device_summary(Device::CUDA).c_str());
  // The caching allocator's size classes (caching_allocator.h) need no GPU: 1000 B rounds up to
  // 1024 (a multiple of 512 below 1 MiB); 1.1 MiB to 1.125 MiB (1/8 of the power of two below).
  CHECK(allocation_size_class(1000) == 1024);
  CHECK(allocation_size_class(1153434) == 1179648);
  if (!cuda_available()) {
    // No silent fallback: asking for GPU memory throws.
    CHECK_THROWS(Tensor::empty({4}, DType::Float32, Device::CUDA));
#ifndef GRAFT_CUDA
    // A build without CUDA has no CUDA entry in any kernel table: a call says so by name.
    try {
      float a = 1, b = 1, c = 0;
      gemm(Device::CUDA, false, false, 1, 1, 1, 1.0f, &a, &b, 0.0f, &c);
      FAIL("gemm ran on CUDA in a build without CUDA");
    } catch (const std::exception& e) {
      std::printf("  error: %s\n", e.what());
      CHECK(std::string(e.what()).find("gemm: not built for cuda") != std::string::npos);
    }
#endif
    return;
  }

  // linear: y = x W^T + b through cuBLAS. Each output sums 64 products of numbers in [-1, 1] in
  // another order than Eigen: ~1e-6 relative, so 1e-5 relative + 1e-5 absolute (as test_cuda.cpp).
  Tensor x = random({8, 64}, 1), w = random({16, 64}, 2), b = random({16}, 3);
  Tensor y_cpu = linear(x, w, b);
  Tensor y_gpu = linear(x.to(Device::CUDA), w.to(Device::CUDA), b.to(Device::CUDA));
  const double w_linear = worst(y_gpu, y_cpu, 1e-5, 1e-5);
  std::printf("  linear: worst |GPU - CPU| / tolerance = %.3f\n", w_linear);
  CHECK(w_linear <= 1.0);

  // conv2d through cuDNN: 27 products per output (3 channels x 3 x 3). cuDNN may pick a Winograd
  // or FFT algorithm, whose rounding differs by up to ~1e-5 of the output: 1e-4 relative + 1e-5.
  Tensor img = random({2, 3, 16, 16}, 4), filt = random({8, 3, 3, 3}, 5);
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  Tensor c_cpu = conv2d(img, filt, Tensor(), p);
  Tensor img_gpu = img.to(Device::CUDA), filt_gpu = filt.to(Device::CUDA);
  Tensor c_gpu = conv2d(img_gpu, filt_gpu, Tensor(), p);
  const double w_conv = worst(c_gpu, c_cpu, 1e-4, 1e-5);
  std::printf("  conv2d: worst |GPU - CPU| / tolerance = %.3f\n", w_conv);
  CHECK(w_conv <= 1.0);

  // The caching allocator: the same shapes again need no new cudaMalloc. One more pass first:
  // while c_gpu still holds its block, the next output needs a second block of that size class.
  c_gpu = conv2d(img_gpu, filt_gpu, Tensor(), p);
  const int64_t before = memory_stats(Device::CUDA).driver_malloc_calls;
  for (int i = 0; i < 3; ++i) c_gpu = conv2d(img_gpu, filt_gpu, Tensor(), p);
  synchronize(Device::CUDA);
  const int64_t after = memory_stats(Device::CUDA).driver_malloc_calls;
  std::printf("  cudaMalloc calls during 3 repeated convolutions: %lld\n", static_cast<long long>(after - before));
  CHECK(after == before);
  std::printf("  %s\n", memory_summary(Device::CUDA).c_str());
}
