// src/optim/adam.h — Adam and AdamW, as torch.optim.Adam / torch.optim.AdamW.
//
//   t = t + 1;  g = g + wd * p (Adam)   or   p = p * (1 - lr * wd) (AdamW, decoupled decay)
//   m = b1 * m + (1 - b1) * g;      v = b2 * v + (1 - b2) * g^2;   (amsgrad: vmax = max(vmax, v))
//   p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// The bias corrections 1 - b^t undo the zero initialization of m and v in the first steps.
// Shapes: p, its gradient g, m and v (and vmax) have the same shape (any); the update is elementwise.
// Design note: one fused loop per parameter (CPU here, a CUDA kernel in adam.cu) dispatched on
// the parameter's device; the step count is kept per parameter, as PyTorch does.
#pragma once

#include "optim/optimizer.h"

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

namespace cuda {
// p, g, m, v (and v_max when amsgrad, else null): n floats on the device. step is the count
// after this update (1 on the first call). decoupled: AdamW's decay.
void adam_update(float* p, const float* g, float* m, float* v, float* v_max, int64_t n, float lr, float b1, float b2,
                 float eps, float wd, bool decoupled, int64_t step);
}  // namespace cuda

}  // namespace graft
