// tests/test_cuda.cpp — the CUDA backend checked against the CPU path (the reference).
//
// How to add a CUDA op test (ggml-style checklist):
//   1. register the op's CUDA kernels (GRAFT_REGISTER_KERNEL in <op>.cu / <op>_cudnn.cpp) and list
//      the file in meson.build;
//   2. add a TEST_CASE below that starts with SKIP_WITHOUT_CUDA() and calls compare_devices()
//      with the differentiable op: it runs the op on CPU and on CUDA copies of the same inputs,
//      back-propagates the same random grad_output, and compares output and every gradient;
//   3. give the tolerance a comment saying why it is that value.
// Without a GPU (or in a CPU-only build) every case prints one "skipped: no CUDA GPU" line and
// returns, so the suite still passes; cuda_available() is the only switch.
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "layers/activation.h"
#include "layers/adaptive_avg_pool2d.h"
#include "layers/batch_norm2d.h"
#include "layers/bias.h"
#include "layers/concat.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/pool2d.h"
#include "layers/softmax.h"
#include "optim/adam.h"
#include "optim/sgd.h"
#include "tensor/caching_allocator.h"
#include "tensor/device.h"
#include "tensor/elementwise.h"
#include "tensor/gemm.h"
#if defined(GRAFT_CUDA)
#include "tensor/pinned_buffer.h"
#endif
#include "testing.h"

using namespace graft;

#define SKIP_WITHOUT_CUDA()                                                   \
  if (!cuda_available()) {                                                    \
    MESSAGE("skipped: no CUDA GPU: " << device_summary(Device::CUDA));              \
    return;                                                                   \
  }

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs f on CPU copies and on CUDA copies of `inputs`, checks the outputs agree,
// back-propagates the same random grad_output on both and checks every gradient. The first
// `n_grad` inputs require grad (if float); the rest are constants (targets, class weights).
void compare_devices(const std::string& what, const Fn& f, const std::vector<Tensor>& inputs, double rtol,
                     double atol, size_t n_grad = SIZE_MAX) {
  std::vector<Tensor> cpu, gpu;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    Tensor c = t.clone(), g = t.to(Device::CUDA);
    if (t.dtype() == DType::Float32 && i < n_grad) {
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
  Tensor gy = testing::random_tensor(yc.shape(), 99);
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
  CHECK(!device_summary(Device::CUDA).empty());
  if (!cuda_available()) CHECK(memory_stats(Device::CUDA).allocated_bytes == 0);
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
  SKIP_WITHOUT_CUDA();  // the allocator's policy itself is tested without a GPU in test_dispatch.cpp
  empty_cache(Device::CUDA);
  const size_t bytes = 3 * 1000 * 1000 + 4;  // an odd size, rounded up to its class
  auto s0 = memory_stats(Device::CUDA);
  void* p = device_malloc(Device::CUDA, bytes);
  auto s1 = memory_stats(Device::CUDA);
  CHECK(s1.allocated_bytes - s0.allocated_bytes == allocation_size_class(bytes));
  CHECK(s1.reserved_bytes - s0.reserved_bytes == allocation_size_class(bytes));
  CHECK(s1.driver_malloc_calls == s0.driver_malloc_calls + 1);
  device_free(Device::CUDA, p, bytes);
  auto s2 = memory_stats(Device::CUDA);
  CHECK(s2.allocated_bytes == s0.allocated_bytes);
  CHECK(s2.reserved_bytes == s1.reserved_bytes);  // kept in the cache
  void* q = device_malloc(Device::CUDA, bytes);
  auto s3 = memory_stats(Device::CUDA);
  CHECK(q == p);                                   // the same block came back
  CHECK(s3.reserved_bytes == s1.reserved_bytes);   // no growth
  CHECK(s3.driver_malloc_calls == s1.driver_malloc_calls);
  CHECK(s3.peak_allocated_bytes >= s3.allocated_bytes);
  device_free(Device::CUDA, q, bytes);
  empty_cache(Device::CUDA);
  auto s4 = memory_stats(Device::CUDA);
  CHECK(s4.reserved_bytes == s4.allocated_bytes);  // no cached blocks left
  CHECK(s4.driver_free_calls > s3.driver_free_calls);
  CHECK(memory_summary(Device::CUDA).find("reserved") != std::string::npos);
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
    if (step == 0) after_first = memory_stats(Device::CUDA).driver_malloc_calls;
  }
  CHECK(memory_stats(Device::CUDA).driver_malloc_calls == after_first);
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

#if defined(GRAFT_CUDA)  // PinnedBuffer exists only in CUDA builds
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
#endif

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
  CHECK(!allow_tf32());  // parity first: TF32 is opt-in
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

// ---- cuDNN convolution ----------------------------------------------------------------------------

namespace {
// cuDNN may pick Winograd or FFT algorithms (even in FMA math); their rounding differs from a
// direct float32 sum by up to ~1e-5 of the output's magnitude for these small sums (<= 36
// products of values in [-1,1]), so 1e-4 relative + 1e-5 absolute is tight yet safe.
constexpr double kConvRtol = 1e-4, kConvAtol = 1e-5;

void check_conv(const std::string& what, const Shape& xs, const Shape& ws, bool bias, const Conv2dParams& p) {
  Tensor x = testing::random_tensor(xs, 11), w = testing::random_tensor(ws, 12);
  if (bias) {
    Tensor b = testing::random_tensor({ws[0]}, 13);
    compare_devices(what, [p](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], p); }, {x, w, b},
                    kConvRtol, kConvAtol);
  } else {
    compare_devices(what, [p](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], Tensor(), p); }, {x, w},
                    kConvRtol, kConvAtol);
  }
}
}  // namespace

TEST_CASE("cuda: conv2d (cuDNN) forward, backward-data and backward-filter match im2col") {
  SKIP_WITHOUT_CUDA();
  check_conv("conv 3x3 pad 1", {2, 3, 8, 7}, {4, 3, 3, 3}, true, {1, 1, 1, 1, 1, 1});
  check_conv("conv 3x3 stride 2 no bias", {2, 3, 9, 9}, {5, 3, 3, 3}, false, {2, 2, 1, 1, 1, 1});
  check_conv("conv 1x1", {3, 4, 5, 5}, {6, 4, 1, 1}, true, {1, 1, 0, 0, 1, 1});
  check_conv("conv 7x7 stride 2 pad 3 (ResNet stem)", {1, 3, 16, 16}, {4, 3, 7, 7}, false, {2, 2, 3, 3, 1, 1});
  check_conv("conv dilated, non-square", {2, 2, 10, 8}, {3, 2, 3, 2}, true, {1, 2, 2, 1, 2, 1});
  // The second call with the same shapes reuses the cached algorithm (and must still be right).
  check_conv("conv 3x3 pad 1 again", {2, 3, 8, 7}, {4, 3, 3, 3}, true, {1, 1, 1, 1, 1, 1});
}

TEST_CASE("cuda: TF32 is off by default and can be switched on") {
  SKIP_WITHOUT_CUDA();
  REQUIRE(!allow_tf32());
  set_allow_tf32(true);
  CHECK(allow_tf32());
  // TF32 keeps 10 mantissa bits (relative rounding 2^-11 ~ 5e-4 per operand): a sum of 27
  // products of values in [-1,1] is off by ~1e-3 absolute at worst.
  Tensor x = testing::random_tensor({2, 3, 8, 8}, 1), w = testing::random_tensor({4, 3, 3, 3}, 2);
  Conv2dParams p{1, 1, 1, 1, 1, 1};
  Tensor y_tf32 = conv2d(x.to(Device::CUDA), w.to(Device::CUDA), Tensor(), p);
  set_allow_tf32(false);
  CHECK_CLOSE("conv2d with TF32", y_tf32, conv2d(x, w, Tensor(), p), 1e-2, 5e-3);
}

// ---- pooling ------------------------------------------------------------------------------------

TEST_CASE("cuda: max and average pooling match the CPU, ceil_mode and padding included") {
  SKIP_WITHOUT_CUDA();
  Tensor x = testing::random_tensor({2, 3, 9, 8}, 21);
  const std::vector<Pool2dParams> cases = {
      {2, 2, 2, 2, 0, 0, false, true},  // VGG
      {3, 3, 2, 2, 1, 1, false, true},  // ResNet stem
      {3, 3, 2, 2, 0, 0, true, true},   // ceil_mode: a partial last window
      {3, 2, 2, 2, 1, 1, true, false},  // ceil_mode + padding, real-pixel divisor
  };
  for (const Pool2dParams& p : cases) {
    INFO("kernel " << p.kernel_h << "x" << p.kernel_w << " stride " << p.stride_h << " pad " << p.pad_h
                   << " ceil " << p.ceil_mode << " count_include_pad " << p.count_include_pad);
    // Max: the same comparisons in the same order, so the forward is exact; the backward adds
    // overlapping windows' gradients with atomics in any order: 1 ulp (~1.2e-7 relative).
    compare_devices("max_pool2d", [p](const std::vector<Tensor>& in) { return max_pool2d(in[0], p); }, {x}, 1e-6,
                    1e-7);
    // Avg: the CPU's summation order on both devices: only the final division may round apart.
    compare_devices("avg_pool2d", [p](const std::vector<Tensor>& in) { return avg_pool2d(in[0], p); }, {x}, 1e-6,
                    1e-7);
  }
}

TEST_CASE("cuda: adaptive average pooling matches the CPU (overlapping bins and global)") {
  SKIP_WITHOUT_CUDA();
  Tensor x = testing::random_tensor({2, 3, 7, 5}, 22);
  // Same summation order as the CPU loops: identical up to the rounding of one division.
  compare_devices("adaptive 3x2", [](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], 3, 2); }, {x},
                  1e-6, 1e-7);
  compare_devices("adaptive 1x1", [](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], 1, 1); }, {x},
                  1e-6, 1e-7);
}

// ---- batch norm (cuDNN) ---------------------------------------------------------------------------

TEST_CASE("cuda: batch_norm2d (cuDNN) training and eval match the CPU, running stats included") {
  SKIP_WITHOUT_CUDA();
  Tensor x = testing::random_tensor({4, 3, 5, 6}, 31, -2.0f, 3.0f);
  Tensor w = testing::random_tensor({3}, 32, 0.5f, 1.5f), b = testing::random_tensor({3}, 33);
  // cuDNN accumulates in float, the CPU in double: statistics over M = 120 values agree to ~1e-6
  // relative; normalized outputs and gradients (|values| ~ 1..3) to a few 1e-6.
  constexpr double rtol = 1e-4, atol = 1e-5;
  Tensor rm_c = testing::random_tensor({3}, 34), rv_c = testing::random_tensor({3}, 35, 0.5f, 2.0f);
  Tensor rm_g = rm_c.to(Device::CUDA), rv_g = rv_c.to(Device::CUDA);
  compare_devices(
      "batch_norm2d training",
      [&](const std::vector<Tensor>& in) {
        const bool gpu = in[0].is_cuda();
        return batch_norm2d(in[0], in[1], in[2], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, true, 0.1f, 1e-5f);
      },
      {x, w, b}, rtol, atol);
  // running_var uses the unbiased variance on both devices (cuDNN does it itself).
  CHECK_CLOSE("running_mean", rm_g, rm_c, rtol, atol);
  CHECK_CLOSE("running_var", rv_g, rv_c, rtol, atol);
  compare_devices(
      "batch_norm2d eval",
      [&](const std::vector<Tensor>& in) {
        const bool gpu = in[0].is_cuda();
        return batch_norm2d(in[0], in[1], in[2], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, false, 0.1f, 1e-5f);
      },
      {x, w, b}, rtol, atol);
}

// ---- activations, softmax, dropout, concat --------------------------------------------------------

TEST_CASE("cuda: relu, sigmoid, softmax and log_softmax match the CPU") {
  SKIP_WITHOUT_CUDA();
  Tensor x = testing::random_tensor({5, 7, 3}, 41, -4.0f, 4.0f);
  // relu is exact. sigmoid's expf may differ from std::exp by 2 ulp (~2.4e-7 relative); in the
  // backward y * (1 - y) turns that into up to ~1e-5 relative where y is near 1 (x ~ 4).
  compare_devices("relu", [](const std::vector<Tensor>& in) { return relu(in[0]); }, {x}, 0, 0);
  compare_devices("sigmoid", [](const std::vector<Tensor>& in) { return sigmoid(in[0]); }, {x}, 2e-5, 1e-7);
  // Rows with a large offset check the max subtraction. Both devices work in double inside.
  Tensor logits = testing::random_tensor({4, 10}, 42, -5.0f, 5.0f);
  logits.data()[3] = 900.0f;
  compare_devices("softmax", [](const std::vector<Tensor>& in) { return softmax(in[0]); }, {logits}, 1e-6, 1e-7);
  compare_devices("log_softmax", [](const std::vector<Tensor>& in) { return log_softmax(in[0]); }, {logits}, 1e-6,
                  1e-6);
}

TEST_CASE("cuda: dropout keeps 1-p of the elements, scaled, reproducibly") {
  SKIP_WITHOUT_CUDA();
  const float p = 0.3f;
  const int64_t n = 100000;
  Tensor x = Tensor::ones({n}, Device::CUDA).set_requires_grad(true);
  Generator g1(7), g2(7);
  Tensor y1 = dropout(x, p, true, g1), y2 = dropout(x, p, true, g2);
  std::vector<float> v1 = y1.to_vector(), v2 = y2.to_vector();
  CHECK(v1 == v2);  // same seed, same mask
  int64_t kept = 0;
  bool values_ok = true;
  for (float v : v1) {
    if (v != 0.0f) ++kept;
    values_ok = values_ok && (v == 0.0f || std::fabs(v - 1.0f / (1.0f - p)) < 1e-6f);
  }
  CHECK(values_ok);
  // Binomial(n, 0.7): sd = sqrt(n p (1-p)) ~ 145; 5 sd from the mean fails with odds ~ 1e-6.
  CHECK(std::llabs(kept - 70000) < 5 * 145);
  // Backward: dx = dy * mask, i.e. the same pattern for dy = 1.
  y1.backward(Tensor::ones({n}, Device::CUDA));
  CHECK(x.grad().to_vector() == v1);
  // Eval mode and p = 0 are the identity.
  CHECK_CLOSE("dropout eval", dropout(x, p, false, g1), x, 0, 0);
}

TEST_CASE("cuda: concat_channels and its backward match the CPU") {
  SKIP_WITHOUT_CUDA();
  Tensor a = testing::random_tensor({2, 3, 4, 5}, 51), b = testing::random_tensor({2, 1, 4, 5}, 52),
         c = testing::random_tensor({2, 2, 4, 5}, 53);
  // Pure copies: exact.
  compare_devices("concat_channels", [](const std::vector<Tensor>& in) { return concat_channels(in); }, {a, b, c}, 0,
                  0);
}

// ---- losses -------------------------------------------------------------------------------------

TEST_CASE("cuda: losses match the CPU for every reduction") {
  SKIP_WITHOUT_CUDA();
  Tensor logits = testing::random_tensor({6, 5}, 61, -3.0f, 3.0f);
  Tensor target = Tensor::from_labels({0, 4, 2, 2, 1, 3});
  Tensor weight = testing::random_tensor({5}, 62, 0.5f, 2.0f);
  Tensor probs = testing::random_tensor({6, 5}, 63, 0.02f, 0.98f);
  Tensor bin_target = testing::random_tensor({6, 5}, 64, 0.0f, 1.0f);
  Tensor pos_weight = testing::random_tensor({5}, 65, 0.5f, 3.0f);
  // Per-element losses and sums in double on both devices; exp/log of float arguments in the
  // backward may differ by ~1 ulp: 1e-6 relative.
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    INFO("reduction " << reduction_name(r));
    for (bool weighted : {false, true}) {
      INFO("class weights " << weighted);
      compare_devices(
          "cross_entropy",
          [&](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1], weighted ? in[2] : Tensor(), r); },
          {logits, target, weight}, 1e-6, 1e-6, 1);
      compare_devices(
          "nll_loss(log_softmax)",
          [&](const std::vector<Tensor>& in) {
            return nll_loss(log_softmax(in[0]), in[1], weighted ? in[2] : Tensor(), r);
          },
          {logits, target, weight}, 1e-6, 1e-6, 1);
    }
    compare_devices("bce_loss", [&](const std::vector<Tensor>& in) { return bce_loss(in[0], in[1], Tensor(), r); },
                    {probs, bin_target}, 1e-6, 1e-6, 1);
    compare_devices("bce_with_logits",
                    [&](const std::vector<Tensor>& in) { return bce_with_logits(in[0], in[1], in[2], r); },
                    {logits, bin_target, pos_weight}, 1e-6, 1e-6, 1);
  }
}

// ---- optimizers ---------------------------------------------------------------------------------

namespace {
// Three steps of `make_opt` on the same parameters and gradients on both devices.
template <class MakeOpt>
void compare_optimizer(const std::string& what, MakeOpt make_opt) {
  Tensor pc = testing::random_tensor({37, 3}, 71), pg = pc.to(Device::CUDA);
  pc.set_requires_grad(true);
  pg.set_requires_grad(true);
  auto oc = make_opt(pc), og = make_opt(pg);
  for (int step = 0; step < 3; ++step) {
    Tensor gy = testing::random_tensor({37, 3}, 80 + step);
    oc.zero_grad();
    og.zero_grad();
    sum(pc * gy * pc).backward();
    sum(pg * gy.to(Device::CUDA) * pg).backward();
    oc.step();
    og.step();
  }
  // The same float operations in the same order; nvcc may fuse a*b+c into one FMA: a few ulp
  // after three steps.
  CHECK_CLOSE(what, pg, pc, 1e-5, 1e-6);
}
}  // namespace

TEST_CASE("cuda: fused SGD and Adam updates match the CPU") {
  SKIP_WITHOUT_CUDA();
  compare_optimizer("SGD momentum nesterov wd",
                    [](Tensor& p) { return SGD({p}, 0.1f, 0.9f, 0.0f, 1e-2f, true); });
  compare_optimizer("SGD plain", [](Tensor& p) { return SGD({p}, 0.05f); });
  compare_optimizer("Adam wd amsgrad",
                    [](Tensor& p) { return Adam({p}, 1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, true); });
  compare_optimizer("AdamW", [](Tensor& p) { return AdamW({p}, 1e-2f); });
}

// ---- a small network end to end -------------------------------------------------------------------

TEST_CASE("cuda: conv-bn-relu-avgpool-linear-cross_entropy network matches the CPU") {
  SKIP_WITHOUT_CUDA();
  Tensor x = testing::random_tensor({4, 3, 12, 12}, 91);
  Tensor w1 = testing::random_tensor({6, 3, 3, 3}, 92, -0.5f, 0.5f), b1 = testing::random_tensor({6}, 93);
  Tensor g1 = testing::random_tensor({6}, 94, 0.5f, 1.5f), be1 = testing::random_tensor({6}, 95);
  Tensor fw = testing::random_tensor({5, 6 * 2 * 2}, 96), fb = testing::random_tensor({5}, 97);
  Tensor labels = Tensor::from_labels({1, 0, 4, 2});
  auto net = [&](const std::vector<Tensor>& in) {
    Tensor rm = Tensor::zeros({6}, DType::Float32, in[0].device()), rv = Tensor::ones({6}, in[0].device());
    Tensor h = conv2d(in[0], in[1], in[2], {1, 1, 1, 1, 1, 1});
    h = relu(batch_norm2d(h, in[3], in[4], rm, rv, true, 0.1f, 1e-5f));
    // Average, not max, pooling here: the devices' conv outputs differ in the last bits, and a
    // near-tie in a max window could route a gradient to a different pixel (max pooling is
    // checked on identical inputs above).
    h = avg_pool2d(h, {3, 3, 2, 2, 1, 1, false, true});  // 12 -> 6
    h = adaptive_avg_pool2d(h, 2, 2);
    return cross_entropy(linear(flatten(h), in[5], in[6]), in[7]);
  };
  // Layer tolerances compound through six layers (cuDNN vs im2col, float vs double statistics).
  compare_devices("network", net, {x, w1, b1, g1, be1, fw, fb, labels}, 1e-4, 1e-5);
}

TEST_CASE("cuda: repeated conv training steps reuse memory (no cudaMalloc after the first)") {
  SKIP_WITHOUT_CUDA();
  Tensor x = testing::random_tensor({2, 3, 16, 16}, 1).to(Device::CUDA);
  Tensor w = testing::random_tensor({8, 3, 3, 3}, 2).to(Device::CUDA).set_requires_grad(true);
  int64_t after_first = 0;
  for (int step = 0; step < 3; ++step) {
    w.zero_grad();
    sum(relu(conv2d(x, w, Tensor(), {1, 1, 1, 1, 1, 1}))).backward();
    if (step == 0) after_first = memory_stats(Device::CUDA).driver_malloc_calls;
  }
  CHECK(memory_stats(Device::CUDA).driver_malloc_calls == after_first);
}
