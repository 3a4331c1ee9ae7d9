// docs/exercises/ex09_gpu.cpp — Chapter 9 of docs/tour.md: what cuDNN and cuBLAS replace.
//
// The same ops run on the GPU when their inputs are CUDA tensors: gemm -> cuBLAS
// (src/tensor/gemm_cublas.cpp), conv2d -> cuDNN (src/layers/conv2d_cudnn.cpp), and GPU memory
// comes from the caching allocator (src/tensor/cuda_allocator.cpp).
// On a machine without a GPU (or a build without CUDA) this exercise checks the other half of
// the rule: a CUDA tensor fails loudly, nothing silently runs on the CPU instead.
// With a GPU it checks that:
//   - linear (cuBLAS) and conv2d (cuDNN) give the CPU's numbers to float32 rounding;
//   - after one warm-up pass, repeating the pass calls cudaMalloc zero more times;
//   - the size classes: 1000 B -> 1024 B (512 B steps below 1 MiB);
//     1.1 MiB = 1,153,434 B -> 1.125 MiB = 1,179,648 B (1/8 of the power of two below it).
// Run: meson test -C build ex09_gpu --verbose
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "exercise.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "tensor/cuda_allocator.h"
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
double max_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::fabs(double(va[i]) - vb[i]));
  return m;
}
}  // namespace

TEST_CASE("ex09: the GPU path and the CPU reference") {
  std::printf("  %s\n", cuda::device_summary().c_str());
  if (!cuda_available()) {
    // No silent fallback: asking for GPU memory throws.
    CHECK_THROWS(Tensor::empty({4}, DType::Float32, Device::CUDA));
#ifndef GRAFT_CUDA
    try {
      float a = 1, b = 1, c = 0;
      cuda::gemm(false, false, 1, 1, 1, 1.0f, &a, &b, 0.0f, &c);
      FAIL("cuda::gemm ran in a build without CUDA");
    } catch (const std::exception& e) {
      std::printf("  error: %s\n", e.what());
      CHECK(std::string(e.what()).find("without CUDA") != std::string::npos);
    }
#endif
    return;
  }

  CHECK(cuda::allocation_size_class(1000) == 1024);
  CHECK(cuda::allocation_size_class(1153434) == 1179648);

  // linear: y = x W^T + b through cuBLAS. Each output sums 64 products of numbers in [-1, 1]:
  // a different summation order changes it by a few float32 ulps of ~8, so 1e-5 absolute.
  Tensor x = random({8, 64}, 1), w = random({16, 64}, 2), b = random({16}, 3);
  Tensor y_cpu = linear(x, w, b);
  Tensor y_gpu = linear(x.to(Device::CUDA), w.to(Device::CUDA), b.to(Device::CUDA));
  const double d_linear = max_diff(y_gpu, y_cpu);
  std::printf("  linear: max |GPU - CPU| = %.2e\n", d_linear);
  CHECK(d_linear < 1e-5);

  // conv2d through cuDNN: 27 products per output (3 channels x 3 x 3), same reasoning.
  Tensor img = random({2, 3, 16, 16}, 4), filt = random({8, 3, 3, 3}, 5);
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  Tensor c_cpu = conv2d(img, filt, Tensor(), p);
  Tensor img_gpu = img.to(Device::CUDA), filt_gpu = filt.to(Device::CUDA);
  Tensor c_gpu = conv2d(img_gpu, filt_gpu, Tensor(), p);
  const double d_conv = max_diff(c_gpu, c_cpu);
  std::printf("  conv2d: max |GPU - CPU| = %.2e\n", d_conv);
  CHECK(d_conv < 1e-5);

  // The caching allocator: the same shapes again need no new cudaMalloc. One more pass first:
  // while c_gpu still holds its block, the next output needs a second block of that size class.
  c_gpu = conv2d(img_gpu, filt_gpu, Tensor(), p);
  const int64_t before = cuda::memory_stats().cuda_malloc_calls;
  for (int i = 0; i < 3; ++i) c_gpu = conv2d(img_gpu, filt_gpu, Tensor(), p);
  cuda::synchronize();
  const int64_t after = cuda::memory_stats().cuda_malloc_calls;
  std::printf("  cudaMalloc calls during 3 repeated convolutions: %lld\n", static_cast<long long>(after - before));
  CHECK(after == before);
  std::printf("  %s\n", cuda::memory_summary().c_str());
}
