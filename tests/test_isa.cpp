// tests/test_isa.cpp — the CPU kernel files compiled once per instruction set (src/tensor/
// cpu_isa.h): the AVX2 and AVX-512 copies against the reference copy (the build's own flags,
// SSE2 on a portable x86-64 build), through whole models and optimizer steps.
//
// Tolerances, and why: the copies run the same source; they differ only where the compiler
// contracts a * b + c into one FMA (-mfma) or sums a vectorized reduction in another order,
// about one float32 rounding (6e-8 relative) per operation. Through ResNet18 / DenseNet121 that
// compounds as fused vs unfused does (tests/test_fusion.cpp): 1e-5 of the logits' scale, 1e-4
// of each gradient's; one optimizer step from the same gradients: 1e-6.
#include <algorithm>
#include <cmath>
#include <set>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "layers/conv2d.h"
#include "models/models.h"
#include "optim/adam.h"
#include "optim/sgd.h"
#include "tensor/cpu_isa.h"
#include "tensor/dispatch.h"
#include "tensor/random.h"
#include "testing.h"

using namespace graft;
using graft::testing::random_tensor;

namespace {

float scale_of(const Tensor& t) {
  float m = 1e-30f;
  for (float v : t.to_vector()) m = std::max(m, std::abs(v));
  return m;
}
#define CHECK_SCALE_CLOSE(what, a, b, tol) CHECK_CLOSE((what), (a), (b), 0.0, (tol) * scale_of(b))

// The selections compared: the per-ISA tables forced to one copy; the GEMM and the convolutions
// (which have variants of their own) at their defaults in all three, so only the copies differ.
const char* kReference = "*=reference,gemm=default,conv2d_*=default";
std::vector<std::string> wide_selections() {
  std::vector<std::string> out;
  if (cpu_has_avx2_fma()) out.push_back("*=avx2,gemm=default");
  if (cpu_has_avx512()) out.push_back("*=avx512,gemm=default");
  return out;
}

struct Run {
  Tensor logits;
  NamedTensors grads, after_sgd, after_adam;
};
Run train_step(const std::string& arch, const std::string& selection, const Tensor& x) {
  KernelSelectionGuard guard(selection);
  graft::manual_seed(3);
  auto model = make_model(arch, 10);
  model->train(true);
  Run r;
  Tensor logits = (*model)(x);
  sum(logits * logits).backward();
  r.logits = logits.detach();
  std::vector<Tensor> params;
  for (auto& [n, p] : model->named_parameters()) {
    r.grads.emplace_back(n, p.grad().clone());
    params.push_back(p);
  }
  SGD sgd(params, 0.1f, 0.9f, 0.0f, 1e-4f);
  sgd.step();
  sgd.step();  // the second step reads the momentum buffer
  for (auto& [n, p] : model->named_parameters()) r.after_sgd.emplace_back(n, p.detach().clone());
  Adam adam(params, 1e-3f);
  adam.step();
  for (auto& [n, p] : model->named_parameters()) r.after_adam.emplace_back(n, p.detach().clone());
  return r;
}

}  // namespace

TEST_CASE("isa: the kernel files compiled per instruction set register reference, avx2 and avx512") {
  if (!cpu_has_avx2_fma()) {
    MESSAGE("skipped: this CPU has no AVX2+FMA (only the reference copies are registered to run)");
    return;
  }
  std::set<std::string> wide;
  for (const KernelTable* t : registered_kernels()) {
    if (std::string(t->name()) == "gemm") continue;  // the GEMM's variants are its own (gemm_variants.h)
    std::set<std::string> names;
    for (const auto& v : t->variants(Device::CPU)) names.insert(v.name);
    if (!names.count("avx2")) continue;
    CAPTURE(t->name());
    CHECK(names.count("reference") == 1);
    CHECK(names.count("avx512") == 1);
    wide.insert(t->name());
  }
  // The hot kernels of a training step must be among them (src/*/meson.build: isa_kernel_sources).
  for (const char* name : {"batch_norm2d_backward", "batch_norm_act_backward", "batch_norm_act_forward",
                           "relu_forward", "add", "sgd_update", "adam_update", "adaptive_avg_pool2d_forward"}) {
    CAPTURE(name);
    CHECK(wide.count(name) == 1);
  }
  // The automatic choice is the widest copy this CPU runs.
  for (const KernelTable* t : registered_kernels())
    if (std::string(t->name()) == "batch_norm2d_backward")
      CHECK(t->variant(Device::CPU) == (cpu_has_avx512() ? "avx512" : "avx2"));
}

TEST_CASE("isa: ResNet18 and DenseNet121 training steps agree between the reference and wide copies") {
  const auto selections = wide_selections();
  if (selections.empty()) {
    MESSAGE("skipped: this CPU has no AVX2+FMA");
    return;
  }
  for (const char* arch : {"resnet18", "densenet121"}) {
    CAPTURE(arch);
    const Tensor x = random_tensor({2, 3, 32, 32}, 11);
    const Run ref = train_step(arch, kReference, x);
    for (const std::string& sel : selections) {
      CAPTURE(sel);
      const Run wide = train_step(arch, sel, x);
      CHECK_SCALE_CLOSE("logits", wide.logits, ref.logits, 1e-5);  // see the top
      REQUIRE(wide.grads.size() == ref.grads.size());
      for (size_t i = 0; i < ref.grads.size(); ++i) {
        CAPTURE(ref.grads[i].first);
        CHECK_SCALE_CLOSE("grad", wide.grads[i].second, ref.grads[i].second, 1e-4);
        // parameters after the steps: lr * grad is ~1e-3 of a weight, so 1e-6 of the weight's
        // scale holds even with the gradients' 1e-4 difference.
        CHECK_SCALE_CLOSE("sgd", wide.after_sgd[i].second, ref.after_sgd[i].second, 1e-6);
        CHECK_SCALE_CLOSE("adam", wide.after_adam[i].second, ref.after_adam[i].second, 1e-6);
      }
    }
  }
}

// Winograd (conv2d_winograd.cpp) is compiled per instruction set too, its copies named
// "winograd4_avx2", "winograd_avx512", ... The copies run the same transforms; contraction into
// FMAs changes their rounding by about one float32 ulp per step, well inside each algorithm's
// own error against the exact answer (tests/test_winograd.cpp: F(2,3) 2e-6, F(4,3) 1e-5 of the
// output's scale), so the copies must agree with the baseline copy to those tolerances.
TEST_CASE("isa: the Winograd copies agree with the baseline copy (forward F(4,3) and F(2,3), dx F(2,3))") {
  std::vector<std::string> suffixes;
  if (cpu_has_avx2_fma()) suffixes.push_back("_avx2");
  if (cpu_has_avx512()) suffixes.push_back("_avx512");
  if (suffixes.empty()) {
    MESSAGE("skipped: this CPU has no AVX2+FMA");
    return;
  }
  NoGradGuard no_grad;
  const Conv2dParams p{1, 1, 1, 1, 1, 1};
  // 24x22: winograd4 takes F(4,3); 12x10 with C*K >= 64*64: F(2,3). Sizes not multiples of 8.
  for (const Shape& xs : {Shape{2, 67, 24, 22}, Shape{3, 65, 12, 10}}) {
    CAPTURE(xs[2]);
    const Tensor x = random_tensor(xs, 21), w = random_tensor({69, xs[1], 3, 3}, 22);
    const Tensor gy = random_tensor({xs[0], 69, xs[2], xs[3]}, 23);
    const bool f4 = xs[2] >= 20;
    for (const char* base : {"winograd4", "winograd"}) {
      Tensor ref = Tensor::empty({xs[0], 69, xs[2], xs[3]});
      kernels::conv2d_forward.call_variant(Device::CPU, base, x, w, ref, p);
      for (const std::string& suffix : suffixes) {
        CAPTURE(std::string(base) + suffix);
        Tensor y = Tensor::empty(ref.shape());
        kernels::conv2d_forward.call_variant(Device::CPU, base + suffix, x, w, y, p);
        const double tol = (f4 && std::string(base) == "winograd4") ? 1e-5 : 2e-6;  // see above
        CHECK_SCALE_CLOSE("y", y, ref, tol);
      }
    }
    Tensor dref = Tensor::empty(xs);
    kernels::conv2d_backward_input.call_variant(Device::CPU, "winograd", gy, w, dref, p);
    for (const std::string& suffix : suffixes) {
      CAPTURE(suffix);
      Tensor dx = Tensor::empty(xs);
      kernels::conv2d_backward_input.call_variant(Device::CPU, "winograd" + suffix, gy, w, dx, p);
      CHECK_SCALE_CLOSE("dx", dx, dref, 2e-6);  // F(2,3), see above
    }
  }
}
