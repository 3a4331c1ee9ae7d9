// src/layers/conv_bn.cpp — the fused ops of conv_bn.h (forward and backward) and the module
// helpers that pick the fused or the unfused path; kernels: conv_bn_cpu.cpp.
#include "layers/conv_bn.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "layers/activation.h"
#include "layers/bias.h"
#include "layers/concat.h"
#include "layers/linear.h"
#include "layers/sync_batch_norm2d.h"
#include "tensor/check.h"
#include "tensor/gemm.h"

namespace graft {

GRAFT_DEFINE_KERNELS(affine_act, relu_mask_sum, batch_norm_act_forward, batch_norm_act_backward);

namespace {

std::atomic<int> g_fusion{-1};  // -1: not read yet

Tensor zeros_k(int64_t k) { return Tensor::zeros({k}, DType::Float32, Device::CPU); }

void check_cpu(const char* op, const Tensor& t) {
  GRAFT_CHECK(!t.defined() || t.device() == Device::CPU, op, "the fused ops are CPU-only, got a CUDA tensor",
              "; use the unfused modules (set_fusion_enabled(false)) there");
}

// g = gz * [z > 0] (or gz itself without the ReLU) and its per-channel sums. gz: [N,K,...]
std::pair<Tensor, Tensor> masked_grad(const Tensor& z, const Tensor& gz, int64_t K, bool relu) {
  if (!relu) return {gz, bias_grad(gz, K)};
  Tensor g = Tensor::empty(gz.shape(), DType::Float32, gz.device()), gsum = Tensor::empty({K}, DType::Float32, gz.device());
  kernels::relu_mask_sum(gz.device(), z, gz, g, gsum, relu);
  return {g, gsum};
}

struct AffineAttrs {
  Conv2dParams p;
  bool relu = false, has_bn = false;
};

}  // namespace

bool fusion_enabled() {
  int on = g_fusion.load();
  if (on < 0) {
    const char* v = std::getenv("GRAFT_FUSE");
    on = (v != nullptr && std::strcmp(v, "0") == 0) ? 0 : 1;
    g_fusion.store(on);
  }
  return on == 1;
}

void set_fusion_enabled(bool on) { g_fusion.store(on ? 1 : 0); }

// ---- 1. convolution + (eval-mode) batch norm or bias + residual + ReLU ------------------------

Tensor conv2d_affine_act(const Tensor& x, const Tensor& w, const Tensor& conv_b, const Conv2dParams& p,
                         const Tensor& bn_w, const Tensor& bn_b, const Tensor& running_mean,
                         const Tensor& running_var, float eps, const Tensor& residual, bool relu) {
  const char* op = "conv2d_affine_act";
  check_dim(op, "input", x, 4);
  check_dim(op, "weight", w, 4);
  for (const Tensor* t : {&x, &w, &conv_b, &bn_w, &bn_b, &running_mean, &running_var, &residual}) check_cpu(op, *t);
  GRAFT_CHECK(x.size(1) == w.size(1), op, "input has ", x.size(1), " channels (shape ", x.shape(),
              ") but the weight expects ", w.size(1), " (weight shape ", w.shape(), ")");
  const int64_t K = w.size(0);
  const bool has_bn = running_var.defined();
  GRAFT_CHECK(!has_bn || running_mean.defined(), op, "running_var given without running_mean");
  for (const Tensor* t : {&conv_b, &bn_w, &bn_b, &running_mean, &running_var})
    if (t->defined()) check_shape(op, "per-channel tensor", *t, {K});
  const Shape out_shape = conv2d_output_shape(x.shape(), w.shape(), p);
  if (residual.defined()) check_shape(op, "residual", residual, out_shape);

  // Per output channel: z = act((y - sub) * mul + add + residual), y = conv(x, w).
  Tensor sub = Tensor::empty({K}), mul = Tensor::empty({K}), add = Tensor::empty({K}), invstd;
  float *ps = sub.data(), *pm = mul.data(), *pa = add.data();
  const float* pcb = conv_b.defined() ? conv_b.data() : nullptr;
  if (has_bn) {
    invstd = Tensor::empty({K});
    float* pi = invstd.data();
    const float *prm = running_mean.data(), *prv = running_var.data();
    const float* pw = bn_w.defined() ? bn_w.data() : nullptr;
    const float* pb = bn_b.defined() ? bn_b.data() : nullptr;
    for (int64_t k = 0; k < K; ++k) {  // the same float values as batch_norm2d's eval kernel
      const double inv = 1.0 / std::sqrt(static_cast<double>(prv[k]) + eps);
      pi[k] = static_cast<float>(inv);
      pm[k] = static_cast<float>(inv * (pw ? pw[k] : 1.0f));
      ps[k] = prm[k] - (pcb ? pcb[k] : 0.0f);  // (y + b - mean) = (y - (mean - b))
      pa[k] = pb ? pb[k] : 0.0f;
    }
  } else {
    for (int64_t k = 0; k < K; ++k) {  // y + b, exactly: (y - (-b)) * 1 + 0
      ps[k] = pcb ? -pcb[k] : 0.0f;
      pm[k] = 1.0f;
      pa[k] = 0.0f;
    }
  }
  const Device dev = x.device();
  Tensor z = Tensor::empty(out_shape, DType::Float32, dev);
  kernels::conv2d_forward(dev, x, w, z, p);
  kernels::affine_act(dev, z, sub, mul, add, residual, relu, z);

  return record(op, {x, w, conv_b, bn_w, bn_b, residual}, z, {x, w, relu ? z : Tensor(), sub, mul, invstd},
                AffineAttrs{p, relu, has_bn}, [](const Ctx<AffineAttrs>& ctx, const Tensor& gz) -> Grads {
                  const Tensor &x = ctx.saved(0), &w = ctx.saved(1), &sub = ctx.saved(3), &mul = ctx.saved(4);
                  const AffineAttrs& a = ctx.attrs;
                  const int64_t K = w.size(0), per_k = w.numel() / K;
                  const Device dev = gz.device();
                  const Tensor relu_out = a.relu ? ctx.saved(2) : Tensor();
                  auto [g, gsum] = masked_grad(relu_out, gz, K, a.relu);  // g = dz * [z > 0]
                  const float *pm = mul.data(), *pgs = gsum.data();
                  Tensor gx, gw, gcb, ggamma, gbeta, gres;
                  if (ctx.needs_grad(0)) {  // dx = conv_backward_input(g, w * s)
                    Tensor ws = a.has_bn ? Tensor::empty(w.shape()) : w;
                    if (a.has_bn) {
                      const float* pw = w.data();
                      float* pws = ws.data();
                      for (int64_t k = 0; k < K; ++k)
                        for (int64_t i = 0; i < per_k; ++i) pws[k * per_k + i] = pw[k * per_k + i] * pm[k];
                    }
                    gx = Tensor::empty(x.shape(), DType::Float32, dev);
                    kernels::conv2d_backward_input(dev, g, ws, gx, a.p);
                  }
                  if (ctx.needs_grad(1) || (a.has_bn && ctx.needs_grad(3))) {
                    Tensor gwu = Tensor::empty(w.shape(), DType::Float32, dev);  // dw_u = conv_backward_weight(g, x)
                    kernels::conv2d_backward_weight(dev, g, x, gwu, a.p);
                    if (a.has_bn && ctx.needs_grad(3)) {  // dgamma = invstd * (<w, dw_u> + sum(g) * (b - mean))
                      ggamma = Tensor::empty({K});
                      const float *pw = w.data(), *pu = gwu.data(), *pi = ctx.saved(5).data(), *ps = sub.data();
                      float* pg = ggamma.data();
                      for (int64_t k = 0; k < K; ++k) {
                        double dot = 0.0;
                        for (int64_t i = 0; i < per_k; ++i) dot += double(pw[k * per_k + i]) * pu[k * per_k + i];
                        pg[k] = static_cast<float>(pi[k] * (dot - double(pgs[k]) * ps[k]));
                      }
                    }
                    if (ctx.needs_grad(1)) {  // dw = s * dw_u
                      gw = gwu;
                      if (a.has_bn) {
                        float* pu = gw.data();
                        for (int64_t k = 0; k < K; ++k)
                          for (int64_t i = 0; i < per_k; ++i) pu[k * per_k + i] *= pm[k];
                      }
                    }
                  }
                  if (ctx.needs_grad(2)) {  // dconv_b = s * sum(g)
                    gcb = Tensor::empty({K});
                    for (int64_t k = 0; k < K; ++k) gcb.data()[k] = pgs[k] * pm[k];
                  }
                  if (ctx.needs_grad(4)) gbeta = gsum;  // dbeta = sum(g)
                  if (ctx.needs_grad(5)) gres = g;      // dresidual = g
                  return {gx, gw, gcb, ggamma, gbeta, gres};
                });
}

Tensor linear_relu(const Tensor& x, const Tensor& w, const Tensor& b) {
  const char* op = "linear_relu";
  check_dim(op, "input", x, 2);
  check_dim(op, "weight", w, 2);
  for (const Tensor* t : {&x, &w, &b}) check_cpu(op, *t);
  const int64_t N = x.size(0), in = x.size(1), out = w.size(0);
  GRAFT_CHECK(w.size(1) == in, op, "input has ", in, " features (shape ", x.shape(), ") but the weight expects ",
              w.size(1), " (weight shape ", w.shape(), ")");
  Tensor sub = zeros_k(out), mul = Tensor::ones({out}), add = zeros_k(out);
  if (b.defined()) {
    check_shape(op, "bias", b, {out});
    for (int64_t k = 0; k < out; ++k) sub.data()[k] = -b.data()[k];  // y + b, exactly
  }
  const Device dev = x.device();
  Tensor z = Tensor::empty({N, out}, DType::Float32, dev);  // z = relu(x w^T + b)
  gemm(dev, false, true, N, out, in, 1.0f, x.data(), w.data(), 0.0f, z.data());
  kernels::affine_act(dev, z, sub, mul, add, Tensor(), true, z);
  return record(op, {x, w, b}, z, {x, w, z}, [](const Ctx<>& ctx, const Tensor& gz) -> Grads {
    const Tensor &x = ctx.saved(0), &w = ctx.saved(1);
    const int64_t N = x.size(0), in = x.size(1), out = w.size(0);
    const Device dev = gz.device();
    auto [g, gsum] = masked_grad(ctx.saved(2), gz, out, true);  // g = dz * [z > 0]
    Tensor gx, gw;
    if (ctx.needs_grad(0)) {  // dx[N,in] = g[N,out] * W[out,in]
      gx = Tensor::empty({N, in}, DType::Float32, dev);
      gemm(dev, false, false, N, in, out, 1.0f, g.data(), w.data(), 0.0f, gx.data());
    }
    if (ctx.needs_grad(1)) {  // dW[out,in] = g^T[out,N] * x[N,in]
      gw = Tensor::empty({out, in}, DType::Float32, dev);
      gemm(dev, true, false, out, in, N, 1.0f, g.data(), x.data(), 0.0f, gw.data());
    }
    return {gx, gw, ctx.needs_grad(2) ? gsum : Tensor()};
  });
}

// ---- 2. training-mode batch norm + residual + ReLU -------------------------------------------

Tensor batch_norm_act(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                      Tensor& running_var, float momentum, float eps, const Tensor& residual, bool relu) {
  const char* op = "batch_norm_act";
  check_dim(op, "input", x, 4);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&x, &weight, &bias, &running_mean, &running_var, &residual}) check_cpu(op, *t);
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&weight, &bias, &running_mean, &running_var})
    if (t->defined()) check_shape(op, "per-channel tensor", *t, {C});
  if (residual.defined()) check_shape(op, "residual", residual, x.shape());
  GRAFT_CHECK(N * HW > 1, op, "expected more than 1 value per channel when training, got input ", x.shape(),
              "; use a larger batch or eval mode");
  const Device dev = x.device();
  const Tensor w = weight.defined() ? weight : Tensor::ones({C}, dev);
  const Tensor b = bias.defined() ? bias : Tensor::zeros({C}, DType::Float32, dev);
  Tensor z = Tensor::empty(x.shape(), DType::Float32, dev);
  Tensor save_mean = Tensor::empty({C}), save_invstd = Tensor::empty({C});
  kernels::batch_norm_act_forward(dev, x, w, b, running_mean, running_var, momentum, eps, residual, relu, z, save_mean,
                                  save_invstd);
  return record(op, {x, weight, bias, residual}, z, {x, w, relu ? z : Tensor(), save_mean, save_invstd}, relu,
                [](const Ctx<bool>& ctx, const Tensor& gz) -> Grads {
                  const Tensor &x = ctx.saved(0), &w = ctx.saved(1);
                  const int64_t C = w.size(0);
                  const Device dev = gz.device();
                  Tensor gx = Tensor::empty(x.shape(), DType::Float32, dev);
                  Tensor gw = Tensor::empty({C}), gb = Tensor::empty({C});
                  Tensor g = ctx.needs_grad(3) ? Tensor::empty(x.shape(), DType::Float32, dev) : Tensor();
                  kernels::batch_norm_act_backward(dev, x, ctx.attrs ? ctx.saved(2) : Tensor(), gz, w, ctx.saved(3),
                                                   ctx.saved(4), ctx.attrs, g, gx, gw, gb);
                  return {ctx.needs_grad(0) ? gx : Tensor(), ctx.needs_grad(1) ? gw : Tensor(),
                          ctx.needs_grad(2) ? gb : Tensor(), g};
                });
}

// ---- the modules -------------------------------------------------------------------------------

bool may_fuse(std::initializer_list<const Module*> modules, const Tensor& x) {
  if (!fusion_enabled() || x.device() != Device::CPU || global_forward_hooks_active()) return false;
  for (const Module* m : modules)
    if (m && m->has_forward_hooks()) return false;
  return true;
}

namespace {

// The fused form of relu?(bn(h) + residual) for a BatchNorm2d that normalizes with batch
// statistics (the counter as BatchNorm2d::forward keeps it).
Tensor bn_train_act(BatchNorm2d& bn, const Tensor& h, const Tensor& residual, bool relu) {
  kernels::increment_counter(bn.num_batches_tracked.device(), bn.num_batches_tracked);
  return batch_norm_act(h, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.momentum, bn.eps, residual, relu);
}

}  // namespace

Tensor conv_bn_act(const ModulePtr& conv, const ModulePtr& bn, const ModulePtr& relu, const Tensor& x,
                   const Tensor& residual) {
  auto* c = dynamic_cast<Conv2d*>(conv.get());
  auto* b = bn ? dynamic_cast<BatchNorm2d*>(bn.get()) : nullptr;
  auto* r = relu ? dynamic_cast<ReLU*>(relu.get()) : nullptr;
  const bool types = c && (!bn || b) && (!relu || r);
  if (types && may_fuse({c, b, r}, x)) {
    if (!b || !b->uses_batch_stats())
      return conv2d_affine_act(x, c->weight, c->bias, c->params, b ? b->weight : Tensor(), b ? b->bias : Tensor(),
                               b ? b->running_mean : Tensor(), b ? b->running_var : Tensor(), b ? b->eps : 0.0f,
                               residual, r != nullptr);
    if (!batch_norm_sync()) return bn_train_act(*b, conv2d(x, c->weight, c->bias, c->params), residual, r != nullptr);
  }
  Tensor h = (*conv)(x);  // the reference: each module in turn
  if (bn) h = (*bn)(h);
  if (residual.defined()) h = h + residual;
  if (relu) h = (*relu)(h);
  return h;
}

Tensor bn_act(const ModulePtr& bn, const ModulePtr& relu, const Tensor& x) {
  auto* b = dynamic_cast<BatchNorm2d*>(bn.get());
  auto* r = relu ? dynamic_cast<ReLU*>(relu.get()) : nullptr;
  if (b && (!relu || r) && may_fuse({b, r}, x) && x.dim() == 4) {
    if (b->uses_batch_stats()) {
      if (!batch_norm_sync()) return bn_train_act(*b, x, Tensor(), r != nullptr);
    } else if (!needs_grad({x, b->weight, b->bias})) {
      // Eval statistics and nothing to differentiate (inference, a frozen backbone): one pass.
      const int64_t C = x.size(1);
      GRAFT_CHECK(b->running_mean.defined() && b->running_mean.numel() == C, "BatchNorm2d",
                  "input ", x.shape(), " has ", C, " channels but the layer has ", b->running_mean.numel());
      Tensor sub = Tensor::empty({C}), mul = Tensor::empty({C});
      const float *prm = b->running_mean.data(), *prv = b->running_var.data(), *pw = b->weight.data();
      for (int64_t k = 0; k < C; ++k) {  // the same float values as batch_norm2d's eval kernel
        sub.data()[k] = prm[k];
        mul.data()[k] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(prv[k]) + b->eps) * pw[k]);
      }
      Tensor z = Tensor::empty(x.shape());
      kernels::affine_act(x.device(), x, sub, mul, b->bias, Tensor(), r != nullptr, z);
      return z;
    }
  }
  Tensor h = (*bn)(x);  // the reference
  return relu ? (*relu)(h) : h;
}

Tensor sequential_forward(const NamedModules& children, const Tensor& x) {
  Tensor h = x;
  auto is = [&](size_t i, const char* type) { return i < children.size() && children[i].second->type() == type; };
  for (size_t i = 0; i < children.size();) {
    const ModulePtr& m = children[i].second;
    if (fusion_enabled() && h.device() == Device::CPU) {
      if (is(i, "Conv2d") && (is(i + 1, "BatchNorm2d") || is(i + 1, "ReLU"))) {
        const bool with_bn = is(i + 1, "BatchNorm2d");
        const size_t relu_at = with_bn ? i + 2 : i + 1;
        const ModulePtr relu = is(relu_at, "ReLU") ? children[relu_at].second : nullptr;
        h = conv_bn_act(m, with_bn ? children[i + 1].second : nullptr, relu, h);
        i = relu ? relu_at + 1 : relu_at;
        continue;
      }
      if (is(i, "Linear") && is(i + 1, "ReLU") && h.dim() == 2) {
        auto* lin = dynamic_cast<Linear*>(m.get());
        const ModulePtr& relu = children[i + 1].second;
        if (lin && dynamic_cast<ReLU*>(relu.get()) && may_fuse({lin, relu.get()}, h)) {
          h = linear_relu(h, lin->weight, lin->bias);
          i += 2;
          continue;
        }
      }
      if (is(i, "BatchNorm2d") && is(i + 1, "ReLU")) {
        h = bn_act(m, children[i + 1].second, h);
        i += 2;
        continue;
      }
    }
    h = (*m)(h);  // through the child's hooks
    ++i;
  }
  return h;
}

}  // namespace graft
