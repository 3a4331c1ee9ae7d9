// tests/test_fusion.cpp — the fused epilogues (src/layers/conv_bn.h) against the unfused modules
// and ops they replace, against values worked out by hand, against finite differences, and
// whole models against torchvision with fusion on.
//
// Tolerances, and why:
//   forward, fused vs unfused: 1e-6 of the tensor's scale. The fused kernels do the unfused
//     kernels' float operations in the same order (batch norm's (x - mean) * alpha + beta, a
//     float add, ReLU), on the same convolution output, so the values agree to the last bit
//     or nearly (the compiler may contract a multiply-add differently in another loop).
//   gradients, fused vs unfused: 1e-5 of the tensor's scale. The fused backward sums in
//     another order: dx through the weights scaled by s instead of the gradient scaled by s,
//     dgamma as <w, dw_u> (a sum over C*R*S of sums over N*P*Q) instead of one sum over N*P*Q
//     of dy * xhat; float32 rounding of sums of ~10^2-10^3 terms is ~1e-6 relative.
//   finite differences: gradcheck's own tolerance (tests/testing.h), inputs kept away from
//     ReLU's kink so that a perturbation never crosses it.
#include <algorithm>
#include <cmath>
#include <functional>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "layers/activation.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/conv_bn.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/sequential.h"
#include "models/models.h"
#include "tensor/random.h"
#include "testing.h"

using namespace graft;
using graft::testing::random_tensor;

namespace {

// Restores fusion's setting when a test ends.
struct FusionSetting {
  bool previous = fusion_enabled();
  explicit FusionSetting(bool on) { set_fusion_enabled(on); }
  ~FusionSetting() { set_fusion_enabled(previous); }
};

float scale_of(const Tensor& t) {
  float m = 1e-30f;
  for (float v : t.to_vector()) m = std::max(m, std::abs(v));
  return m;
}

// |a - b| <= tol * max|b| elementwise (relative to the tensor's scale, see the top).
#define CHECK_SCALE_CLOSE(what, a, b, tol) CHECK_CLOSE((what), (a), (b), 0.0, (tol) * scale_of(b))

std::string op_of(const Tensor& t) { return t.impl()->grad_fn ? t.impl()->grad_fn->name : "(no graph)"; }

// Fresh leaves that require a gradient (undefined stays undefined).
std::vector<Tensor> leaves(const std::vector<Tensor>& ts) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(t.defined() ? t.clone().set_requires_grad(true) : Tensor());
  return out;
}

// Output and input gradients of f(inputs) under the loss sum(z * weights).
struct Run {
  Tensor z;
  std::vector<Tensor> grads;
};
Run run(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
        const Tensor& loss_weights) {
  std::vector<Tensor> in = leaves(inputs);
  Run r;
  r.z = f(in);
  sum(r.z * loss_weights).backward();
  for (const Tensor& t : in) r.grads.push_back(t.defined() ? t.grad() : Tensor());
  r.z = r.z.detach();
  return r;
}

// A positive variance and a batch norm's running statistics for K channels.
struct Stats {
  Tensor mean, var;
};
Stats stats(int64_t K, uint64_t seed) {
  return {random_tensor({K}, seed, -0.5f, 0.5f), random_tensor({K}, seed + 1, 0.2f, 2.0f)};
}

}  // namespace

TEST_CASE("fusion: conv + eval batch norm + residual + ReLU on a 1x1 case worked out by hand") {
  // x [1,1,2,2] = 1 -1 2 0; w = 2 (1x1); gamma 3, beta 1, mean 0.5, var 3, eps 1: invstd 0.5,
  // s = 1.5. conv = 2 -2 4 0; bn = (conv - 0.5) * 1.5 + 1 = 3.25 -2.75 6.25 0.25;
  // + residual (0 1 -7 0) = 3.25 -1.75 -0.75 0.25; ReLU: 3.25 0 0 0.25.
  Tensor x = Tensor::from_vector({1, 1, 2, 2}, {1, -1, 2, 0}).set_requires_grad(true);
  Tensor w = Tensor::from_vector({1, 1, 1, 1}, {2}).set_requires_grad(true);
  Tensor gamma = Tensor::from_vector({1}, {3}).set_requires_grad(true);
  Tensor beta = Tensor::from_vector({1}, {1}).set_requires_grad(true);
  Tensor r = Tensor::from_vector({1, 1, 2, 2}, {0, 1, -7, 0}).set_requires_grad(true);
  const Tensor rm = Tensor::from_vector({1}, {0.5f}), rv = Tensor::from_vector({1}, {3});
  Tensor z = conv2d_affine_act(x, w, Tensor(), Conv2dParams{}, gamma, beta, rm, rv, 1.0f, r, true);
  CHECK(z.to_vector() == std::vector<float>{3.25f, 0, 0, 0.25f});
  sum(z).backward();
  // g = [z > 0] = 1 0 0 1; dx = g * s * w = 3 0 0 3; dw = s * sum(g * x) = 1.5 * (1 + 0);
  // dgamma = invstd * sum(g * (conv - mean)) = 0.5 * (1.5 - 0.5); dbeta = sum(g) = 2; dr = g.
  CHECK(x.grad().to_vector() == std::vector<float>{3, 0, 0, 3});
  CHECK(w.grad().to_vector() == std::vector<float>{1.5f});
  CHECK(gamma.grad().to_vector() == std::vector<float>{0.5f});
  CHECK(beta.grad().to_vector() == std::vector<float>{2});
  CHECK(r.grad().to_vector() == std::vector<float>{1, 0, 0, 1});
}

TEST_CASE("fusion: training batch norm + residual + ReLU on a case worked out by hand") {
  // One channel, x = 1 2 3 6 (mean 3, biased var 3.5), eps 0.5: invstd = 1/sqrt(4) = 0.5;
  // gamma 2, beta -1: bn = (x - 3) * 1 - 1 = -3 -2 -1 2; + residual 4 0 0 0 = 1 -2 -1 2; ReLU 1 0 0 2.
  // Running stats (momentum 0.5, from 0 and 1): mean 1.5, var 0.5 + 0.5 * 14/3 (unbiased 14/3).
  Tensor x = Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 6});
  Tensor gamma = Tensor::from_vector({1}, {2}), beta = Tensor::from_vector({1}, {-1});
  Tensor r = Tensor::from_vector({1, 1, 2, 2}, {4, 0, 0, 0});
  Tensor rm = Tensor::from_vector({1}, {0}), rv = Tensor::from_vector({1}, {1});
  Tensor z = batch_norm_act(x, gamma, beta, rm, rv, 0.5f, 0.5f, r, true);
  CHECK(z.to_vector() == std::vector<float>{1, 0, 0, 2});
  CHECK(rm.to_vector()[0] == doctest::Approx(1.5));
  CHECK(rv.to_vector()[0] == doctest::Approx(0.5 + 0.5 * 14.0 / 3.0));
}

TEST_CASE("fusion: conv2d_affine_act equals conv2d -> eval batch_norm2d -> + residual -> relu, values and gradients") {
  struct Case {
    int64_t N, C, H, K, R, stride, pad;
    bool bn, conv_bias, residual, relu;
  };
  const Case cases[] = {
      {2, 3, 7, 4, 3, 1, 1, true, false, true, true},    // ResNet's conv2 + bn2 + identity + ReLU
      {2, 3, 8, 5, 3, 2, 1, true, false, false, true},   // strided conv + bn + ReLU
      {3, 4, 5, 6, 1, 2, 0, true, false, false, false},  // downsample: 1x1/2 conv + bn
      {2, 3, 6, 4, 3, 1, 1, false, true, false, true},   // VGG: conv + bias + ReLU
      {2, 3, 6, 4, 3, 1, 1, true, true, true, false},    // conv with a bias and a batch norm
  };
  uint64_t seed = 100;
  for (const Case& c : cases) {
    CAPTURE(c.K);
    CAPTURE(c.stride);
    const Conv2dParams p{c.stride, c.stride, c.pad, c.pad, 1, 1};
    const int64_t P = (c.H + 2 * c.pad - c.R) / c.stride + 1;
    const Tensor x = random_tensor({c.N, c.C, c.H, c.H}, seed++), w = random_tensor({c.K, c.C, c.R, c.R}, seed++, -0.5f, 0.5f);
    const Tensor cb = c.conv_bias ? random_tensor({c.K}, seed++) : Tensor();
    const Tensor gamma = c.bn ? random_tensor({c.K}, seed++, 0.5f, 1.5f) : Tensor();
    const Tensor beta = c.bn ? random_tensor({c.K}, seed++) : Tensor();
    const Stats s = c.bn ? stats(c.K, seed += 2) : Stats{};
    const Tensor r = c.residual ? random_tensor({c.N, c.K, P, P}, seed++) : Tensor();
    const Tensor lw = random_tensor({c.N, c.K, P, P}, seed++);
    Tensor rm = s.mean, rv = s.var;
    const Run fused = run(
        [&](const std::vector<Tensor>& in) {
          Tensor z = conv2d_affine_act(in[0], in[1], in[2], p, in[3], in[4], rm, rv, 1e-5f, in[5], c.relu);
          CHECK(op_of(z) == "conv2d_affine_act");
          return z;
        },
        {x, w, cb, gamma, beta, r}, lw);
    const Run reference = run(
        [&](const std::vector<Tensor>& in) {
          Tensor h = conv2d(in[0], in[1], in[2], p);
          if (c.bn) h = batch_norm2d(h, in[3], in[4], rm, rv, /*training=*/false, 0.1f, 1e-5f);
          if (c.residual) h = h + in[5];
          return c.relu ? relu(h) : h;
        },
        {x, w, cb, gamma, beta, r}, lw);
    CHECK_SCALE_CLOSE("output", fused.z, reference.z, 1e-6);  // see the top
    const char* names[] = {"x", "w", "conv bias", "gamma", "beta", "residual"};
    for (size_t i = 0; i < fused.grads.size(); ++i) {
      CAPTURE(names[i]);
      REQUIRE(fused.grads[i].defined() == reference.grads[i].defined());
      if (fused.grads[i].defined()) CHECK_SCALE_CLOSE(names[i], fused.grads[i], reference.grads[i], 1e-5);
    }
  }
}

TEST_CASE("fusion: conv2d_affine_act's gradients match finite differences (eval batch norm, residual, ReLU)") {
  const Conv2dParams p{1, 1, 1, 1, 1, 1};
  const Tensor x = random_tensor({2, 2, 4, 4}, 7), w = random_tensor({3, 2, 3, 3}, 8, -0.5f, 0.5f);
  const Tensor gamma = random_tensor({3}, 9, 0.5f, 1.5f), beta = random_tensor({3}, 10);
  const Stats s = stats(3, 11);
  const Tensor lw = random_tensor({2, 3, 4, 4}, 13);
  // A residual that keeps every pre-activation at least 0.3 away from ReLU's kink: gradcheck's
  // perturbation of 1e-2 moves an output by at most ~0.1 here.
  Tensor pre = batch_norm2d(conv2d(x, w, Tensor(), p), gamma, beta, const_cast<Tensor&>(s.mean),
                            const_cast<Tensor&>(s.var), false, 0.1f, 1e-5f);
  std::vector<float> rv = random_tensor({2, 3, 4, 4}, 12, -0.2f, 0.2f).to_vector(), pv = pre.to_vector();
  for (size_t i = 0; i < rv.size(); ++i)
    if (std::abs(pv[i] + rv[i]) < 0.3f) rv[i] += (pv[i] + rv[i] >= 0 ? 0.6f : -0.6f);
  const Tensor r = Tensor::from_vector({2, 3, 4, 4}, rv);
  Tensor rm = s.mean, rvar = s.var;
  auto f = [&](const std::vector<Tensor>& in) {
    return sum(conv2d_affine_act(in[0], in[1], Tensor(), p, in[2], in[3], rm, rvar, 1e-5f, in[4], true) * lw);
  };
  auto res = graft::testing::gradcheck(f, {x, w, gamma, beta, r});
  CHECK_MESSAGE(res.ok, res.message);
}

TEST_CASE("fusion: batch_norm_act (training) equals batch_norm2d -> + residual -> relu, and finite differences") {
  for (bool with_residual : {true, false})
    for (bool with_relu : {true, false}) {
      CAPTURE(with_residual);
      CAPTURE(with_relu);
      const Tensor x = random_tensor({3, 4, 5, 5}, 21, -2.0f, 3.0f), gamma = random_tensor({4}, 22, 0.5f, 1.5f);
      const Tensor beta = random_tensor({4}, 23), lw = random_tensor({3, 4, 5, 5}, 25);
      const Tensor r = with_residual ? random_tensor({3, 4, 5, 5}, 24) : Tensor();
      const Stats s = stats(4, 26);
      Tensor rm1 = s.mean.clone(), rv1 = s.var.clone(), rm2 = s.mean.clone(), rv2 = s.var.clone();
      const Run fused = run(
          [&](const std::vector<Tensor>& in) {
            return batch_norm_act(in[0], in[1], in[2], rm1, rv1, 0.1f, 1e-5f, in[3], with_relu);
          },
          {x, gamma, beta, r}, lw);
      const Run reference = run(
          [&](const std::vector<Tensor>& in) {
            Tensor h = batch_norm2d(in[0], in[1], in[2], rm2, rv2, true, 0.1f, 1e-5f);
            if (with_residual) h = h + in[3];
            return with_relu ? relu(h) : h;
          },
          {x, gamma, beta, r}, lw);
      CHECK_SCALE_CLOSE("output", fused.z, reference.z, 1e-6);
      CHECK_SCALE_CLOSE("running_mean", rm1, rm2, 1e-6);
      CHECK_SCALE_CLOSE("running_var", rv1, rv2, 1e-6);
      const char* names[] = {"x", "gamma", "beta", "residual"};
      for (size_t i = 0; i < fused.grads.size(); ++i) {
        CAPTURE(names[i]);
        REQUIRE(fused.grads[i].defined() == reference.grads[i].defined());
        if (fused.grads[i].defined()) CHECK_SCALE_CLOSE(names[i], fused.grads[i], reference.grads[i], 1e-5);
      }
    }
  // Finite differences of the fused op itself, the residual chosen as above to keep
  // pre-activations 0.3 away from the kink (batch statistics move with x: a perturbation of
  // 1e-2 moves every output of its channel by ~1e-2 * invstd * gamma / M plus its own).
  const Tensor x = random_tensor({2, 2, 3, 3}, 31, -2.0f, 2.0f), gamma = random_tensor({2}, 32, 0.5f, 1.5f);
  const Tensor beta = random_tensor({2}, 33), lw = random_tensor({2, 2, 3, 3}, 35);
  Tensor rm, rv;  // undefined: not updated
  Tensor pre = batch_norm2d(x, gamma, beta, rm, rv, true, 0.1f, 1e-5f);
  std::vector<float> res = random_tensor({2, 2, 3, 3}, 34, -0.2f, 0.2f).to_vector(), pv = pre.to_vector();
  for (size_t i = 0; i < res.size(); ++i)
    if (std::abs(pv[i] + res[i]) < 0.3f) res[i] += (pv[i] + res[i] >= 0 ? 0.6f : -0.6f);
  const Tensor r = Tensor::from_vector({2, 2, 3, 3}, res);
  auto f = [&](const std::vector<Tensor>& in) {
    return sum(batch_norm_act(in[0], in[1], in[2], rm, rv, 0.1f, 1e-5f, in[3], true) * lw);
  };
  auto check = graft::testing::gradcheck(f, {x, gamma, beta, r});
  CHECK_MESSAGE(check.ok, check.message);
}

TEST_CASE("fusion: linear_relu equals linear -> relu, values and gradients") {
  const Tensor x = random_tensor({5, 7}, 41), w = random_tensor({6, 7}, 42), b = random_tensor({6}, 43);
  const Tensor lw = random_tensor({5, 6}, 44);
  const Run fused = run([](const std::vector<Tensor>& in) { return linear_relu(in[0], in[1], in[2]); }, {x, w, b}, lw);
  const Run reference = run([](const std::vector<Tensor>& in) { return relu(linear(in[0], in[1], in[2])); }, {x, w, b}, lw);
  CHECK(fused.z.to_vector() == reference.z.to_vector());  // the same GEMM, then y + b and x > 0 ? x : 0
  const char* names[] = {"x", "w", "b"};
  for (size_t i = 0; i < 3; ++i) {
    CAPTURE(names[i]);
    CHECK_SCALE_CLOSE(names[i], fused.grads[i], reference.grads[i], 1e-5);
  }
}

namespace {

// Logits and every parameter's gradient of `arch` (random weights from a fixed seed) on x, in
// train or eval mode, with fusion on or off; `frozen`: the backbone frozen (grads of the head).
struct ModelRun {
  Tensor logits;
  NamedTensors grads;
  std::string last_op;
};
ModelRun model_run(const std::string& arch, bool fused, bool training, const Tensor& x) {
  FusionSetting setting(fused);
  graft::manual_seed(1);
  auto model = make_model(arch, 10);
  model->train(training);
  for (auto& [n, m] : model->named_modules())
    if (m->type() == "Dropout") m->eval();
  ModelRun r;
  Tensor logits = (*model)(x);
  sum(logits * logits).backward();
  r.logits = logits.detach();
  for (auto& [n, p] : model->named_parameters()) r.grads.emplace_back(n, p.grad());
  return r;
}

void check_model_fused_vs_unfused(const std::string& arch, int64_t size) {
  const Tensor x = random_tensor({2, 3, size, size}, 5);
  for (bool training : {false, true}) {
    CAPTURE(training);
    const ModelRun a = model_run(arch, true, training, x), b = model_run(arch, false, training, x);
    // 10-120 layers compound the per-layer differences of the top of the file: 1e-5 / 1e-4.
    CHECK_SCALE_CLOSE("logits", a.logits, b.logits, 1e-5);
    REQUIRE(a.grads.size() == b.grads.size());
    for (size_t i = 0; i < a.grads.size(); ++i) {
      CAPTURE(a.grads[i].first);
      REQUIRE(a.grads[i].second.defined());
      CHECK_SCALE_CLOSE(a.grads[i].first, a.grads[i].second, b.grads[i].second, 1e-4);
    }
  }
}

}  // namespace

TEST_CASE("fusion: resnet18 fused equals unfused (logits and every gradient, eval and train mode)") {
  check_model_fused_vs_unfused("resnet18", 32);
}
TEST_CASE("fusion: densenet121 fused equals unfused (logits and every gradient, eval and train mode)") {
  check_model_fused_vs_unfused("densenet121", 32);
}
TEST_CASE("fusion: Sequential chains (VGG's conv + ReLU and Linear + ReLU, conv + BN + ReLU, BN + ReLU) fused equal unfused") {
  // VGG16 itself is compared with torchvision with fusion on in tests/test_models.cpp; here its
  // patterns in a small Sequential, cheaper than VGG16's 138M parameters four times over.
  auto features = [](bool training) {
    graft::manual_seed(2);
    auto s = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
        std::make_shared<Conv2d>(3, 4, 3, 1, 1), std::make_shared<ReLU>(true),                  // VGG
        std::make_shared<Conv2d>(4, 5, 3, 2, 1, false), std::make_shared<BatchNorm2d>(5),        // conv + BN + ReLU
        std::make_shared<ReLU>(true), std::make_shared<BatchNorm2d>(5), std::make_shared<ReLU>(true),  // BN + ReLU
        std::make_shared<Conv2d>(5, 3, 1)});                                                     // a conv alone
    s->train(training);
    return s;
  };
  auto classifier = [] {
    graft::manual_seed(4);
    return std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
        std::make_shared<Linear>(48, 16), std::make_shared<ReLU>(true), std::make_shared<Linear>(16, 3)});
  };
  const Tensor x = random_tensor({2, 3, 8, 8}, 51), lw = random_tensor({2, 3}, 52);
  for (bool training : {false, true}) {
    CAPTURE(training);
    Run r[2];
    for (int fused = 0; fused < 2; ++fused) {
      FusionSetting setting(fused == 1);
      auto f = features(training);
      auto c = classifier();
      r[fused] = run([&](const std::vector<Tensor>& in) { return (*c)(flatten((*f)(in[0]))); }, {x}, lw);
      for (auto& [n, p] : f->named_parameters()) r[fused].grads.push_back(p.grad());
      for (auto& [n, p] : c->named_parameters()) r[fused].grads.push_back(p.grad());
      for (auto& [n, b] : f->named_buffers())
        if (b.dtype() == DType::Float32) r[fused].grads.push_back(b.clone());  // running statistics
    }
    CHECK_SCALE_CLOSE("output", r[1].z, r[0].z, 1e-5);
    REQUIRE(r[1].grads.size() == r[0].grads.size());
    for (size_t i = 0; i < r[0].grads.size(); ++i) {
      CAPTURE(i);
      CHECK_SCALE_CLOSE("gradient or running statistic", r[1].grads[i], r[0].grads[i], 1e-5);
    }
  }
}

TEST_CASE("fusion: resnet18 and densenet121 with fusion on give torchvision's logits (eval, frozen backbone)") {
  // The reference files of tests/test_models.cpp (tools/references/models.py): torchvision's
  // eval logits of converted random weights. Tolerance 1e-4 of their scale, as there.
  REQUIRE_REFERENCE(path, "models.h5");
  H5File f(path, H5File::Mode::Read);
  FusionSetting on(true);
  for (const std::string arch : {"resnet18", "densenet121"}) {
    CAPTURE(arch);
    REQUIRE_REFERENCE(weights, "models_" + arch + ".h5");
    auto model = make_model(arch);
    load_weights(*model, weights);
    const Tensor x = f.read(arch + "/x"), expected = f.read(arch + "/eval_logits");
    model->eval();
    {
      NoGradGuard no_grad;
      CHECK_SCALE_CLOSE("eval logits", (*model)(x), expected, 1e-4);
    }
    // A frozen backbone in training mode: batch norm keeps its running statistics, so the
    // logits are the eval ones (the fused eval path, with autograd recording on).
    model->train();
    model->freeze();
    CHECK_SCALE_CLOSE("frozen logits", (*model)(x), expected, 1e-4);
  }
}

TEST_CASE("fusion: a hook on a module inside a fused chain is called (that chain runs unfused); GRAFT_FUSE off") {
  graft::manual_seed(3);
  auto model = make_model("resnet18", 10);
  model->eval();
  const Tensor x = random_tensor({1, 3, 32, 32}, 6);
  NoGradGuard no_grad;
  FusionSetting on(true);
  const Tensor plain = (*model)(x);
  int calls = 0;
  Tensor seen;
  {
    HookHandle h = model->get("layer1.0.bn1")->register_forward_hook(
        [&](Module&, const std::vector<Tensor>&, const Tensor& out) {
          ++calls;
          seen = out;
          return Tensor();
        });
    const Tensor hooked = (*model)(x);
    CHECK_SCALE_CLOSE("logits with a hook", hooked, plain, 1e-5);
  }
  CHECK(calls == 1);
  REQUIRE(seen.defined());
  CHECK(seen.shape() == Shape{1, 64, 8, 8});  // bn1's own output: the chain was not fused
  // The switch: with fusion off the ops are the modules' own (the graph names them).
  Tensor xg = x.clone().set_requires_grad(true);
  EnableGradGuard grad;
  auto conv = std::make_shared<Conv2d>(3, 4, 3, 1, 1, false);
  auto bn = std::make_shared<BatchNorm2d>(4);
  auto act = std::make_shared<ReLU>(true);
  bn->eval();
  CHECK(op_of(conv_bn_act(conv, bn, act, xg)) == "conv2d_affine_act");
  set_fusion_enabled(false);
  CHECK(op_of(conv_bn_act(conv, bn, act, xg)) == "relu");
  bn->train();
  set_fusion_enabled(true);
  CHECK(op_of(conv_bn_act(conv, bn, act, xg)) == "batch_norm_act");
}
