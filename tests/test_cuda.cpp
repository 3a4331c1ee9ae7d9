// tests/test_cuda.cpp — the CUDA backend checked against the CPU path (the reference).
//
// How to add a CUDA op test (ggml-style checklist):
//   1. implement graft::cuda::<op> (.cu / _cudnn.cpp beside the op) and list it in meson.build;
//   2. add a TEST_CASE below that starts with SKIP_WITHOUT_CUDA() and calls compare_devices()
//      with the differentiable op: it runs the op on CPU and on CUDA copies of the same inputs,
//      back-propagates the same random grad_output, and compares output and every gradient;
//   3. give the tolerance a comment saying why it is that value.
// Without a GPU (or in a CPU-only build) every case prints one "skipped: no CUDA GPU" line and
// returns, so the suite still passes; cuda_available() is the only switch.
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "layers/bias.h"
#include "layers/linear.h"
#include "tensor/cuda_allocator.h"
#include "tensor/device.h"
#include "tensor/elementwise.h"
#include "tensor/gemm.h"
#include "tensor/pinned_buffer.h"
#include "testing.h"

using namespace graft;

#define SKIP_WITHOUT_CUDA()                                                   \
  if (!cuda_available()) {                                                    \
    MESSAGE("skipped: no CUDA GPU: " << cuda::device_summary());              \
    return;                                                                   \
  }

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs f on CPU copies and on CUDA copies of `inputs` (float inputs require grad), checks the
// outputs agree, back-propagates the same random grad_output on both and checks every gradient.
void compare_devices(const std::string& what, const Fn& f, const std::vector<Tensor>& inputs, double rtol,
                     double atol, uint64_t grad_seed = 99) {
  std::vector<Tensor> cpu, gpu;
  for (const Tensor& t : inputs) {
    Tensor c = t.clone(), g = t.to(Device::CUDA);
    if (t.dtype() == DType::Float32) {
      c.set_requires_grad(true);
      g.set_requires_grad(true);
    }
    cpu.push_back(c);
    gpu.push_back(g);
  }
  Tensor yc = f(cpu), yg = f(gpu);
  CHECK(yg.is_cuda());
  CHECK_CLOSE((what + " forward"), yg, yc, rtol, atol);
  if (!yc.requires_grad()) return;
  Tensor gy = testing::random_tensor(yc.shape(), grad_seed);
  yc.backward(gy);
  yg.backward(gy.to(Device::CUDA));
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (!cpu[i].requires_grad() || !cpu[i].grad().defined()) continue;
    INFO(what << " input " << i);
    REQUIRE(gpu[i].grad().defined());
    CHECK(gpu[i].grad().is_cuda());
    CHECK_CLOSE((what + " grad of input " + std::to_string(i)), gpu[i].grad(), cpu[i].grad(), rtol, atol);
  }
}

}  // namespace

// ---- memory: copies and the caching allocator ------------------------------------------------------

TEST_CASE("cuda: device summary explains itself") {
  // Runs in every build: without a GPU the summary is the reason, which tools print.
  CHECK(!cuda::device_summary().empty());
  if (!cuda_available()) CHECK(cuda::memory_stats().allocated_bytes == 0);
}

TEST_CASE("cuda: host <-> device copies round-trip floats, labels and slices") {
  SKIP_WITHOUT_CUDA();
  Tensor x = testing::random_tensor({3, 5, 7}, 1);
  Tensor g = x.to(Device::CUDA);
  CHECK(g.is_cuda());
  // A copy must be bit-exact.
  CHECK_CLOSE("round trip", g.to(Device::CPU), x, 0, 0);
  CHECK_CLOSE("device-to-device clone", g.clone().to(Device::CPU), x, 0, 0);
  CHECK_CLOSE("slice of a CUDA tensor", g.slice(1, 3).to(Device::CPU), x.slice(1, 3), 0, 0);
  Tensor labels = Tensor::from_labels({3, 1, 4, 1, 5}, Device::CUDA);
  CHECK(labels.to_labels() == std::vector<int64_t>{3, 1, 4, 1, 5});
  Tensor f = Tensor::full({1000}, 2.5f, Device::CUDA);
  CHECK(f.to_vector() == std::vector<float>(1000, 2.5f));
  CHECK(Tensor::zeros({4}, DType::Int64, Device::CUDA).to_labels() == std::vector<int64_t>(4, 0));
}

TEST_CASE("cuda: the caching allocator reuses freed blocks without cudaMalloc") {
  SKIP_WITHOUT_CUDA();
  // Size classes: 512 B granules below 1 MiB, 1/8-power-of-two steps above (hand-worked).
  CHECK(cuda::allocation_size_class(1) == 512);
  CHECK(cuda::allocation_size_class(513) == 1024);
  CHECK(cuda::allocation_size_class(1 << 20) == (1 << 20));
  CHECK(cuda::allocation_size_class((1 << 20) + 1) == (1 << 20) + (1 << 17));
  CHECK(cuda::allocation_size_class(3 << 20) == (3 << 20) + 0);  // 3 MiB = 2 MiB + 4 * 256 KiB
  cuda::empty_cache();
  const size_t bytes = 3 * 1000 * 1000 + 4;  // an odd size, rounded up to its class
  auto s0 = cuda::memory_stats();
  void* p = cuda::malloc(bytes);
  auto s1 = cuda::memory_stats();
  CHECK(s1.allocated_bytes - s0.allocated_bytes == cuda::allocation_size_class(bytes));
  CHECK(s1.reserved_bytes - s0.reserved_bytes == cuda::allocation_size_class(bytes));
  CHECK(s1.cuda_malloc_calls == s0.cuda_malloc_calls + 1);
  cuda::free(p, bytes);
  auto s2 = cuda::memory_stats();
  CHECK(s2.allocated_bytes == s0.allocated_bytes);
  CHECK(s2.reserved_bytes == s1.reserved_bytes);  // kept in the cache
  void* q = cuda::malloc(bytes);
  auto s3 = cuda::memory_stats();
  CHECK(q == p);                                   // the same block came back
  CHECK(s3.reserved_bytes == s1.reserved_bytes);   // no growth
  CHECK(s3.cuda_malloc_calls == s1.cuda_malloc_calls);
  CHECK(s3.peak_allocated_bytes >= s3.allocated_bytes);
  cuda::free(q, bytes);
  cuda::empty_cache();
  auto s4 = cuda::memory_stats();
  CHECK(s4.reserved_bytes == s4.allocated_bytes);  // no cached blocks left
  CHECK(s4.cuda_free_calls > s3.cuda_free_calls);
  CHECK(cuda::memory_summary().find("reserved") != std::string::npos);
}

TEST_CASE("cuda: a training-like loop stops calling cudaMalloc after the first step") {
  SKIP_WITHOUT_CUDA();
  Linear fc(32, 16);
  fc.weight = fc.weight.to(Device::CUDA).detach().set_requires_grad(true);
  fc.bias = fc.bias.to(Device::CUDA).detach().set_requires_grad(true);
  Tensor x = testing::random_tensor({8, 32}, 5).to(Device::CUDA);
  int64_t after_first = 0;
  for (int step = 0; step < 3; ++step) {
    fc.weight.zero_grad();
    fc.bias.zero_grad();
    Tensor loss = sum(linear(x, fc.weight, fc.bias) * linear(x, fc.weight, fc.bias));
    loss.backward();
    if (step == 0) after_first = cuda::memory_stats().cuda_malloc_calls;
  }
  CHECK(cuda::memory_stats().cuda_malloc_calls == after_first);
}

TEST_CASE("cuda: out of memory names the size, what is free and reserved, and what to do") {
  SKIP_WITHOUT_CUDA();
  // 2^40 floats = 4 TiB: larger than any GPU.
  CHECK_THROWS_WITH(Tensor::empty({int64_t(1) << 40}, DType::Float32, Device::CUDA),
                    doctest::Contains("CUDA out of memory"));
  try {
    Tensor::empty({int64_t(1) << 40}, DType::Float32, Device::CUDA);
  } catch (const std::runtime_error& e) {
    std::string m = e.what();
    CHECK(m.find("4096.00 GiB") != std::string::npos);
    CHECK(m.find("free") != std::string::npos);
    CHECK(m.find("reserved") != std::string::npos);
    CHECK(m.find("smaller batch") != std::string::npos);
  }
  // The allocator still works afterwards.
  CHECK(Tensor::ones({4}, Device::CUDA).to_vector() == std::vector<float>(4, 1.0f));
}

TEST_CASE("cuda: pinned buffer copies a batch asynchronously") {
  SKIP_WITHOUT_CUDA();
  PinnedBuffer buf(1024 * sizeof(float));
  Tensor a = testing::random_tensor({16, 8}, 3), b = testing::random_tensor({16, 8}, 4);
  Tensor ga = buf.to_cuda_async(a);
  Tensor gb = buf.to_cuda_async(b);  // host() waited for the first copy before overwriting
  CHECK_CLOSE("first batch", ga, a, 0, 0);
  CHECK_CLOSE("second batch", gb, b, 0, 0);
  CHECK_THROWS_WITH(buf.to_cuda_async(Tensor::zeros({2000})), doctest::Contains("bytes"));
}

// ---- elementwise, reductions, autograd primitives ------------------------------------------------

TEST_CASE("cuda: elementwise kernels match the CPU") {
  SKIP_WITHOUT_CUDA();
  Tensor a = testing::random_tensor({1000, 37}, 1), b = testing::random_tensor({1000, 37}, 2);
  Tensor ga = a.to(Device::CUDA), gb = b.to(Device::CUDA);
  // add/sub/mul/scale are single IEEE operations: bit-exact on both devices.
  CHECK_CLOSE("add", add(ga, gb), add(a, b), 0, 0);
  CHECK_CLOSE("sub", sub(ga, gb), sub(a, b), 0, 0);
  CHECK_CLOSE("mul", mul(ga, gb), mul(a, b), 0, 0);
  CHECK_CLOSE("scale", scale(ga, 0.37f), scale(a, 0.37f), 0, 0);
  // nvcc may contract alpha*x + beta*y into one FMA (one rounding less): 1 ulp ~ 1.2e-7 rel.
  Tensor y = a.clone(), gy = ga.clone();
  axpby_(y, 0.5f, b, -1.5f);
  axpby_(gy, 0.5f, gb, -1.5f);
  CHECK_CLOSE("axpby_", gy, y, 1e-6, 1e-7);
  mul_(y, b);
  mul_(gy, gb);
  CHECK_CLOSE("mul_", gy, y, 1e-6, 1e-7);
  scale_(y, 3.0f);
  scale_(gy, 3.0f);
  CHECK_CLOSE("scale_", gy, y, 1e-6, 1e-7);
  // Both sum in double and round once to float: equal up to 1 float ulp.
  CHECK_CLOSE("sum_all", sum_all(ga), sum_all(a), 1e-6, 1e-6);
  CHECK(max_abs(ga) == max_abs(a));  // a max is exact
  CHECK_CLOSE("sum_all of nothing", sum_all(Tensor::zeros({0}, DType::Float32, Device::CUDA)),
              Tensor::scalar(0.0f), 0, 0);
}

TEST_CASE("cuda: autograd primitives forward and backward match the CPU") {
  SKIP_WITHOUT_CUDA();
  Tensor a = testing::random_tensor({6, 5}, 1), b = testing::random_tensor({6, 5}, 2);
  // Single float operations and double-accumulated sums: 1e-6 covers an FMA contraction.
  compare_devices("a + b", [](const std::vector<Tensor>& in) { return in[0] + in[1]; }, {a, b}, 1e-6, 1e-7);
  compare_devices("a - b", [](const std::vector<Tensor>& in) { return in[0] - in[1]; }, {a, b}, 1e-6, 1e-7);
  compare_devices("a * b * 3", [](const std::vector<Tensor>& in) { return in[0] * in[1] * 3.0f; }, {a, b}, 1e-6,
                  1e-7);
  compare_devices("mean(a * b)", [](const std::vector<Tensor>& in) { return mean(in[0] * in[1]); }, {a, b}, 1e-6,
                  1e-7);
  compare_devices("flatten(reshape(a))", [](const std::vector<Tensor>& in) { return flatten(reshape(in[0], {3, 2, 5})); },
                  {a}, 0, 0);
}

// ---- cuBLAS GEMM and bias -------------------------------------------------------------------------

TEST_CASE("cuda: gemm (cuBLAS) matches Eigen for every transpose combination") {
  SKIP_WITHOUT_CUDA();
  CHECK(!cuda::allow_tf32());  // parity first: TF32 is opt-in
  const int64_t M = 7, N = 5, K = 33;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      Tensor A = ta ? testing::random_tensor({K, M}, 1) : testing::random_tensor({M, K}, 1);
      Tensor B = tb ? testing::random_tensor({N, K}, 2) : testing::random_tensor({K, N}, 2);
      Tensor C = testing::random_tensor({M, N}, 3);
      Tensor gA = A.to(Device::CUDA), gB = B.to(Device::CUDA), gC = C.to(Device::CUDA);
      gemm(Device::CPU, ta, tb, M, N, K, 0.75f, A.data(), B.data(), 0.5f, C.data());
      gemm(Device::CUDA, ta, tb, M, N, K, 0.75f, gA.data(), gB.data(), 0.5f, gC.data());
      INFO("trans_a " << ta << " trans_b " << tb);
      // float32 dot products of 33 terms in different orders: ~sqrt(33) * 6e-8 relative.
      CHECK_CLOSE("gemm", gC, C, 1e-5, 1e-6);
    }
}

TEST_CASE("cuda: linear and bias forward and backward match the CPU") {
  SKIP_WITHOUT_CUDA();
  Tensor x = testing::random_tensor({9, 40}, 1), w = testing::random_tensor({13, 40}, 2),
         b = testing::random_tensor({13}, 3);
  // Dot products of 40 (and sums over 9) float terms in a different order: ~1e-6 relative.
  compare_devices("linear", [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); }, {x, w, b},
                  1e-5, 1e-5);
  Tensor y = testing::random_tensor({4, 3, 5, 6}, 4), bias = testing::random_tensor({3}, 5);
  Tensor gy = y.to(Device::CUDA);
  add_bias_(y, bias);
  add_bias_(gy, bias.to(Device::CUDA));
  CHECK_CLOSE("add_bias_", gy, y, 0, 0);  // one float add per element: exact
  // Both accumulate in double over 4*5*6 terms and round once.
  CHECK_CLOSE("bias_grad", bias_grad(gy, 3), bias_grad(y, 3), 1e-6, 1e-7);
}
