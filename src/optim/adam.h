// src/optim/adam.h — Adam and AdamW, as torch.optim.Adam / torch.optim.AdamW.
//
//   t = t + 1;  g = g + wd * p (Adam)   or   p = p * (1 - lr * wd) (AdamW, decoupled decay)
//   m = b1 * m + (1 - b1) * g;      v = b2 * v + (1 - b2) * g^2;   (amsgrad: vmax = max(vmax, v))
//   p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// The bias corrections 1 - b^t undo the zero initialization of m and v in the first steps.
// Shapes: p, its gradient g, m and v (and vmax) have the same shape (any); the update is elementwise.
// Design note: one fused pass per parameter; the step count is kept per parameter, as PyTorch
// does. The bias corrections are computed once per parameter on the host in double (Python
// floats in torch.optim); the per-element update is adam_element() below, compiled for both
// devices; the loops are adam_cpu.cpp and adam.cu.
#pragma once

#include <cmath>

#include "optim/optimizer.h"
#include "tensor/dispatch.h"
#include "tensor/host_device.h"

namespace graft {

class Adam : public Optimizer {
 public:
  // lr and weight decay come from each group (as SGD's group constructor).
  explicit Adam(std::vector<ParamGroup> groups, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f,
                bool amsgrad = false);
  explicit Adam(std::vector<Tensor> params, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
                float eps = 1e-8f, float weight_decay = 0, bool amsgrad = false);

  void step() override;
  NamedTensors state() const override;  // buffers: "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (amsgrad)
  void load_state(const NamedTensors& state) override;
  bool has_momentum() const override { return true; }
  float momentum_coefficient() const override { return beta1; }
  void set_momentum_coefficient(float b1) override { beta1 = b1; }

  float beta1, beta2, eps;
  bool amsgrad;

 protected:
  Adam(std::vector<ParamGroup> groups, float beta1, float beta2, float eps, bool amsgrad, bool decoupled,
       const char* name);
  bool decoupled_;  // AdamW: weight decay applied to the parameter, not added to the gradient
};

// Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr * wd before the update.
class AdamW : public Adam {
 public:
  explicit AdamW(std::vector<ParamGroup> groups, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f,
                 bool amsgrad = false);
  explicit AdamW(std::vector<Tensor> params, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
                 float eps = 1e-8f, float weight_decay = 1e-2f, bool amsgrad = false);
};

// The settings of one parameter's update, with the bias corrections already folded in.
struct AdamStep {
  float beta1, beta2, eps, weight_decay;
  bool decoupled;   // AdamW: p *= decay instead of g += wd * p
  float step_size;  // lr / (1 - b1^t)
  float bc2_sqrt;   // sqrt(1 - b2^t)
  float decay;      // 1 - lr * wd (AdamW)
};
// t = the step count after this update (1 on the first).
AdamStep adam_step(float lr, float beta1, float beta2, float eps, float weight_decay, bool decoupled, int64_t t);

// One element, in torch.optim.Adam's order of operations. v_max is null unless amsgrad.
GRAFT_HOST_DEVICE inline void adam_element(float& p, float g, float& m, float& v, float* v_max, const AdamStep& s) {
  if (s.weight_decay != 0) {
    if (s.decoupled)
      p *= s.decay;
    else
      g = g + s.weight_decay * p;
  }
  m = m * s.beta1 + (1 - s.beta1) * g;
  v = v * s.beta2 + (1 - s.beta2) * g * g;
  float vi = v;
  if (v_max) vi = *v_max = *v_max < v ? v : *v_max;  // std::max(v_max, v)
  const float denom = sqrtf(vi) / s.bc2_sqrt + s.eps;
  p -= s.step_size * (m / denom);
}

namespace kernels {  // adam_cpu.cpp, adam.cu; v_max is undefined unless amsgrad
GRAFT_DECLARE_KERNEL(adam_update, void(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, Tensor& v_max,
                                       const AdamStep& s));
}  // namespace kernels

}  // namespace graft
