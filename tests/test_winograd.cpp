// tests/test_winograd.cpp — the Winograd 3x3 convolutions (src/layers/conv2d_winograd.cpp)
// against a direct convolution summed in double precision here (the exact answer, to float
// rounding), and against graft's direct paths (the reference and batched variants).
#include <omp.h>

#include <cmath>
#include <vector>

#include "autograd/engine.h"
#include "layers/activation.h"
#include "layers/basic.h"
#include "layers/conv2d.h"
#include "layers/conv2d_winograd.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/sequential.h"
#include "models/models.h"
#include "optim/sgd.h"
#include "tensor/cpu_isa.h"
#include "tensor/random.h"
#include "tensor/dispatch.h"
#include "tensor/hdf5_io.h"
#include "testing.h"

using namespace graft;

namespace {

// The copy of a variant that runs by default: conv2d_winograd.cpp is compiled once per
// instruction set (tensor/cpu_isa.h), "winograd4" / "winograd4_avx2" / "winograd4_avx512".
std::string widest_copy(const std::string& variant) {
  return variant + (cpu_has_avx512() ? "_avx512" : cpu_has_avx2_fma() ? "_avx2" : "");
}

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
// largest output: F(2x2,3x3) worst 2.2e-7, the direct float paths' own rounding (2e-7..4e-7
// here); F(4x4,3x3) worst 4.1e-6: its transforms multiply by up to 5 (B^T) and 8 (A^T) and
// divide by 6 and 24 (G), so the float rounding of the transformed values is amplified. The
// bounds leave ~10x (F2) and ~2.5x (F4) room over the worst measured value.
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

namespace {

// conv2d(x, w) through the kernel table under `selection`, with nothing recorded (inference).
Tensor infer(const std::string& selection, const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  KernelSelectionGuard s(selection);
  NoGradGuard no_grad;
  return conv2d(x, w, Tensor(), p);
}

bool identical(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (int64_t i = 0; i < a.numel(); ++i)
    if (a.data()[i] != b.data()[i]) return false;
  return true;
}

}  // namespace

TEST_CASE("winograd: the conv2d_forward variants run Winograd where it applies and match the direct paths") {
  const int saved = omp_get_max_threads();
  struct VariantCase {
    const char* name;
    Shape x;
    int64_t K, pad;
    bool f2, f4;  // whether "winograd" runs F(2,3) and the default "winograd4" runs Winograd
  };
  // Winograd applies with 3x3 stride 1, C and K >= 16, output >= 8x8; "winograd4" takes F(4,3)
  // on outputs from 20x20, F(2,3) below; F(2,3) needs C * K >= 64 * 64. C and K are not
  // multiples of 8 or 16.
  const VariantCase cases[] = {
      {"9x11 pad 0 -> 7x9: too small, direct", {3, 67, 9, 11}, 69, 0, false, false},
      {"10x9 pad 1, C67 K69: F(2,3)", {3, 67, 10, 9}, 69, 1, true, true},
      {"10x9 pad 1, C17 K19: too few channels for F(2,3)", {3, 17, 10, 9}, 19, 1, false, false},
      {"23x21 pad 1, C18 K33: F(4,3)", {3, 18, 23, 21}, 33, 1, false, true},
      {"26x22 pad 2, C20 K17, batch 1: F(4,3)", {1, 20, 26, 22}, 17, 2, false, true},
      {"31x30 pad 0, C16 K16: F(4,3)", {3, 16, 31, 30}, 16, 0, false, true},
      {"22x21 pad 1, C65 K64: both", {3, 65, 22, 21}, 64, 1, true, true},
  };
  for (int threads : {1, 2})
    for (const VariantCase& c : cases) {
      omp_set_num_threads(threads);
      INFO(std::string(c.name) << ", " << threads << " threads");
      const Tensor x = testing::random_tensor(c.x, 51), w = testing::random_tensor({c.K, c.x[1], 3, 3}, 52);
      const Conv2dParams p{1, 1, c.pad, c.pad, 1, 1};
      const Tensor ref = infer("conv2d_*=reference", x, w, p), batched = infer("conv2d_*=batched", x, w, p);
      const Tensor w4 = infer("", x, w, p), w2 = infer("conv2d_forward=winograd", x, w, p);
      // the default is winograd4 (F(4,3), F(2,3) on small images); tolerances as above
      CHECK(relative_error(w4, ref) < kTolF4);
      CHECK(relative_error(w2, ref) < kTolF2);
      CHECK(relative_error(w4, batched) < kTolF4);
      CHECK(relative_error(w2, batched) < kTolF2);
      // where Winograd runs, its rounding differs from im2col's; elsewhere it is the batched path
      CHECK(identical(w4, batched) == !c.f4);
      CHECK(identical(w2, batched) == !c.f2);
    }
  omp_set_num_threads(saved);
}

namespace {

// One recorded conv2d forward and backward (training) under `selection`: {y, dx, dw}.
std::vector<Tensor> train_step(const std::string& selection, const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  KernelSelectionGuard s(selection);
  Tensor xs = x.clone().set_requires_grad(true), ws = w.clone().set_requires_grad(true);
  Tensor y = conv2d(xs, ws, Tensor(), p);
  y.backward(testing::random_tensor(y.shape(), 63));
  return std::vector<Tensor>{y.detach(), xs.grad(), ws.grad()};
}

}  // namespace

// Training: a recorded forward of a qualifying convolution runs F(2x2,3x3), never F(4x4,3x3)
// (on VGG16's training gradients F(4,3) measured 28x over test_models.cpp's tolerance, F(2,3)
// 0.002x); the tolerance is kTolF2 (above: F(2,3)'s error is the direct path's own size).
TEST_CASE("winograd: training forward runs F(2x2,3x3) through the dispatcher, matches the direct path; switches restore it") {
  const int saved = omp_get_max_threads();
  // 22x21 outputs: inference would take F(4,3) here; C * K = 65 * 64 >= 64 * 64 lets F(2,3) run.
  const Shape xs{2, 65, 22, 21};
  const Tensor x = testing::random_tensor(xs, 71), w = testing::random_tensor({64, 65, 3, 3}, 72);
  const Conv2dParams p{1, 1, 1, 1, 1, 1};
  const Tensor exact = direct_double(x, w, 1, 1);
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    INFO(threads << " threads");
    CHECK(kernels::conv2d_forward.variant(Device::CPU) == widest_copy("winograd4"));
    CHECK(kernels::conv2d_backward_input.variant(Device::CPU) == "batched");
    // the baseline copy of the default variant, so that the header's winograd_forward<2> (also
    // the baseline copy) is its bit-for-bit answer; the wider copies: tests/test_isa.cpp
    const auto fast = train_step("conv2d_forward=winograd4", x, w, p), direct = train_step("conv2d_*=batched", x, w, p);
    // y: F(2,3) bit for bit (so not F(4,3), not im2col), within F(2,3)'s tolerance of both direct answers
    Tensor y2 = Tensor::empty(exact.shape());
    conv2d_cpu::winograd_forward<2>(x, w, y2, p);
    CHECK(identical(fast[0], y2));
    CHECK(!identical(fast[0], direct[0]));
    const double ey = relative_error(fast[0], direct[0]), ex = relative_error(fast[0], exact);
    CHECK(ey < kTolF2);
    CHECK(ex < kTolF2);
    // dx and dw come from the same dy and x on the direct path: unchanged
    CHECK(identical(fast[1], direct[1]));
    CHECK(identical(fast[2], direct[2]));
    // dx by F(2,3) when selected: within F(2,3)'s tolerance of the direct dx
    const auto wdx = train_step("conv2d_backward_input=winograd", x, w, p);
    const double edx = relative_error(wdx[1], direct[1]);
    MESSAGE(threads << " threads: training y F(2,3) vs direct " << ey << ", vs double " << ex << "; dx F(2,3) vs direct " << edx);
    CHECK(edx < kTolF2);
    CHECK(!identical(wdx[1], direct[1]));
    CHECK(identical(wdx[2], direct[2]));
    // The switches: 'conv2d_forward=winograd4_infer' keeps Winograd for inference only (training
    // bit for bit the direct path, as before Winograd ran in training); 'conv2d_*=batched' turns it off.
    const auto old = train_step("conv2d_forward=winograd4_infer", x, w, p);
    for (size_t i = 0; i < old.size(); ++i) CHECK(identical(old[i], direct[i]));
    CHECK(!identical(infer("conv2d_forward=winograd4_infer", x, w, p), infer("conv2d_*=batched", x, w, p)));
  }
  omp_set_num_threads(saved);
}

TEST_CASE("winograd: recorded forwards with few channels, other convolutions and the switch back take the direct path exactly") {
  // C * K = 17 * 19 < 64 * 64: too few channels for F(2,3), so training stays on the batched path
  // (inference would run F(4,3) on these 24x22 outputs)
  const Tensor x = testing::random_tensor({3, 17, 24, 22}, 61), w = testing::random_tensor({19, 17, 3, 3}, 62);
  const Conv2dParams p{1, 1, 1, 1, 1, 1};
  const auto fast = train_step("", x, w, p), direct = train_step("conv2d_*=batched", x, w, p);
  CHECK(kernels::conv2d_forward.variant(Device::CPU) == widest_copy("winograd4"));
  for (size_t i = 0; i < fast.size(); ++i) CHECK(identical(fast[i], direct[i]));
  // dx by Winograd when selected: within F(2,3)'s tolerance of the direct dx
  const auto wdx = train_step("conv2d_backward_input=winograd", x, w, p);
  CHECK(identical(wdx[0], direct[0]));
  CHECK(relative_error(wdx[1], direct[1]) < kTolF2);
  CHECK(!identical(wdx[1], direct[1]));
  CHECK(identical(wdx[2], direct[2]));
  // Frozen weights and an input without gradient: nothing recorded even with grad mode on
  CHECK(!identical(conv2d(x, w, Tensor(), p), infer("conv2d_*=batched", x, w, p)));
  // Not 3x3 stride 1 dilation 1, or too few channels: the batched path
  struct Other {
    const char* name;
    Shape x, w;
    Conv2dParams p;
  };
  const Other others[] = {
      {"3x3 stride 2", {2, 17, 24, 24}, {19, 17, 3, 3}, {2, 2, 1, 1, 1, 1}},
      {"3x3 dilation 2", {2, 17, 24, 24}, {19, 17, 3, 3}, {1, 1, 2, 2, 2, 2}},
      {"5x5", {2, 17, 24, 24}, {19, 17, 5, 5}, {1, 1, 2, 2, 1, 1}},
      {"1x3", {2, 17, 24, 24}, {19, 17, 1, 3}, {1, 1, 0, 1, 1, 1}},
      {"C 15", {2, 15, 24, 24}, {19, 15, 3, 3}, {1, 1, 1, 1, 1, 1}},
      {"K 15", {2, 17, 24, 24}, {15, 17, 3, 3}, {1, 1, 1, 1, 1, 1}},
  };
  for (const Other& o : others) {
    INFO(o.name);
    const Tensor xo = testing::random_tensor(o.x, 64), wo = testing::random_tensor(o.w, 65);
    CHECK(identical(infer("", xo, wo, o.p), infer("conv2d_*=batched", xo, wo, o.p)));
  }
  // The switch back: GRAFT_KERNELS='conv2d_*=batched' names the batched variant
  KernelSelectionGuard s("conv2d_*=batched");
  CHECK(kernels::conv2d_forward.variant(Device::CPU) == "batched");
  CHECK(kernels::conv2d_backward_input.variant(Device::CPU) == "batched");
}

// Whole models, eval mode, with Winograd on: logits vs torchvision's (tests/test_models.cpp's
// references, tools/make_references.py). Inputs are 64x64 (ResNet18, DenseNet121) and 32x32
// (VGG16), so the 3x3 convolutions run at 32..8 pixels: F(2,3), and F(4,3) where the default
// allows (VGG's 32x32 block); with the F(4,3) threshold lowered to 8, F(4,3) on every one.
// Tolerance 1e-4 of the logits' scale, test_models.cpp's: the direct path measured ~1e-6 there;
// Winograd's extra rounding (above) is of the same order over 13 to 120 layers.
TEST_CASE("winograd: resnet18, vgg16 and densenet121 eval logits match torchvision with Winograd on") {
  REQUIRE_REFERENCE(path, "models.h5");
  H5File f(path, H5File::Mode::Read);
  for (const std::string arch : {"resnet18", "vgg16", "densenet121"}) {
    REQUIRE_REFERENCE(weights, "models_" + arch + ".h5");
    auto model = make_model(arch);
    load_weights(*model, weights);
    model->eval();
    const Tensor x = f.read(arch + "/x"), expected = f.read(arch + "/eval_logits");
    double scale = 0;
    for (int64_t i = 0; i < expected.numel(); ++i) scale = std::max(scale, double(std::fabs(expected.data()[i])));
    for (const std::string mode : {"winograd4", "winograd", "winograd4 everywhere", "batched"}) {
      conv2d_cpu::set_winograd_f4_min_size(mode == "winograd4 everywhere" ? 8 : -1);
      KernelSelectionGuard s(mode == "winograd4 everywhere" ? "" : "conv2d_forward=" + mode);
      NoGradGuard no_grad;
      const Tensor y = (*model)(x);
      const double err = relative_error(y, expected);
      MESSAGE(arch << " eval logits, " << mode << ": worst |graft - torch| / max|torch| " << err);
      CHECK(err < 1e-4);
      CHECK_CLOSE((arch + " " + mode), y, expected, 1e-4, 1e-4 * scale);
    }
    conv2d_cpu::set_winograd_f4_min_size(-1);
  }
}

// Winograd in training is deterministic: each output tile is computed by one thread from a
// block fixed by the sizes (conv2d_winograd.cpp), whichever thread takes it. So a stopped and
// resumed run (here: plain SGD, whose only state is the weights) equals the straight one bit for
// bit, as tests/test_fit.cpp checks on its toy model, with the 64 -> 64 convolutions on F(2,3).
TEST_CASE("winograd: training with F(2x2,3x3) forwards is reproducible: 2 + 2 resumed SGD steps equal 4 straight") {
  auto make = [] {
    manual_seed(5);
    return std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
        std::make_shared<Conv2d>(16, 64, 3, 1, 1), std::make_shared<ReLU>(true),  // C * K < 64 * 64: direct
        std::make_shared<Conv2d>(64, 64, 3, 1, 1), std::make_shared<ReLU>(true),  // F(2,3)
        std::make_shared<Conv2d>(64, 64, 3, 1, 1), std::make_shared<Flatten>(), std::make_shared<Linear>(64 * 10 * 10, 3)});
  };
  const Tensor x = testing::random_tensor({4, 16, 10, 10}, 81), target = Tensor::from_labels({0, 2, 1, 2});
  auto steps = [&](Sequential& m, int n) {
    SGD opt(m.parameters(), 0.05f);
    for (int i = 0; i < n; ++i) {
      opt.zero_grad();
      cross_entropy(m(x), target).backward();
      opt.step();
    }
  };
  for (const std::string selection : {"", "conv2d_backward_input=winograd"}) {
    INFO("selection '" << selection << "'");
    KernelSelectionGuard s(selection);
    auto straight = make();
    steps(*straight, 4);
    auto first = make();
    steps(*first, 2);
    auto resumed = make();  // "a new process": the weights of the first run, then 2 more steps
    REQUIRE(resumed->load_state_dict(first->state_dict(), true).unexpected.empty());
    steps(*resumed, 2);
    const NamedTensors a = straight->state_dict(), b = resumed->state_dict(), init = make()->state_dict();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      CHECK_MESSAGE(identical(a[i].second, b[i].second), a[i].first);
      CHECK_MESSAGE(!identical(a[i].second, init[i].second), a[i].first << " did not train");
    }
    // and the 64 -> 64 layers did take Winograd: the same steps on the direct path end elsewhere
    KernelSelectionGuard direct("conv2d_*=batched");
    auto exact = make();
    steps(*exact, 4);
    CHECK(!identical(exact->state_dict()[2].second, a[2].second));
  }
}
