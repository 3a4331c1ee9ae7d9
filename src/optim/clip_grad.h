// src/optim/clip_grad.h — gradient norm clipping and scaling, as torch.nn.utils.clip_grad_norm_.
//
//   total = sqrt(sum over parameters p of sum_i g_p[i]^2)     (the 2-norm of all gradients as one vector)
//   coef  = max_norm / (total + 1e-6);   if coef < 1: every g_p *= coef
// Parameters without a gradient (frozen, or not reached by backward) are left out, as in PyTorch.
// Design note: each parameter's sum of squares stays on its device (sum_all accumulates in
// double); only the total is read to the host, once per call.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace graft {

double grad_norm(const std::vector<Tensor>& params);  // `total` above; 0 when no parameter has a gradient
// Clips in place and returns the norm before clipping (torch returns it too).
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm);
// g_p *= s for every parameter with a gradient (gradient accumulation's 1 / samples).
void scale_grads_(const std::vector<Tensor>& params, float s);

}  // namespace graft
