// src/layers/loss.h — classification losses: NLL, cross-entropy, binary cross-entropy.
//
//   nll_loss:        l_i = -w[t_i] * lp[i, t_i]                       lp: [N,L], t: Int64 [N]
//   cross_entropy:   l_i =  w[t_i] * (logsumexp_j x[i,j] - x[i, t_i])  x:  [N,L], t: Int64 [N]
//                    d/dx[i,j] = w[t_i] * (softmax(x)[i,j] - [j == t_i])
//   bce_loss:        l = -w * (t * max(log p, -100) + (1 - t) * max(log(1 - p), -100))
//   bce_with_logits: l = (1 - t) * x + lw * softplus(-x),  lw = 1 + (pos_weight - 1) * t
//                      = max(x,0) - x*t + log(1 + exp(-|x|))  when there is no pos_weight
// Reduction as PyTorch: None keeps one loss per sample (per element for BCE), Sum adds them,
// Mean divides the sum by the sum of the target weights w[t_i] for NLL/CE (N without class
// weights) and by the number of elements for BCE.
//
// Design note: cross_entropy is ONE op (not log_softmax followed by nll_loss): the forward keeps
// only two numbers per row (max and log-sum-exp of the shifted row), the backward rebuilds
// softmax from them. Subtracting the row max makes logits of 1000 safe.
#pragma once

#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace graft {

enum class Reduction { Mean, Sum, None };
const char* reduction_name(Reduction r);  // "mean", "sum", "none"

// log_probs: [N,L], target: Int64 [N] in [0, L), weight: [L] or undefined -> [] (or [N] for None)
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight = Tensor(),
                Reduction r = Reduction::Mean);
// logits: [N,L], target: Int64 [N], weight: [L] or undefined -> [] (or [N] for None)
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight = Tensor(),
                     Reduction r = Reduction::Mean);
// probs: any shape, values in [0,1]; target, weight (optional): float32, same shape -> [] (or probs' shape)
Tensor bce_loss(const Tensor& probs, const Tensor& target, const Tensor& weight = Tensor(),
                Reduction r = Reduction::Mean);
// logits: any shape [..., L]; target: float32 same shape; pos_weight: [L] or undefined
Tensor bce_with_logits(const Tensor& logits, const Tensor& target, const Tensor& pos_weight = Tensor(),
                       Reduction r = Reduction::Mean);

// The kernels (loss_cpu.cpp, loss.cu); outputs preallocated by the op. `weight` / `pos_weight`
// may be undefined. `loss` is [N] (or the input's shape) for Reduction::None, one value
// otherwise; `total_weight` is one value (the sum of w[t_i], or N) that the backward reads for
// Mean — it stays on the device, so a CUDA step never copies a number to the host. `grad_loss`
// has the shape of `loss`. Labels outside [0, L): the CPU kernels throw, the CUDA kernels give
// that row a NaN loss (a kernel cannot throw), never a read out of bounds.
namespace kernels {
GRAFT_DECLARE_KERNEL(nll_forward, void(const Tensor& log_probs, const Tensor& target, const Tensor& weight, Reduction r,
                                       Tensor& loss, Tensor& total_weight));
GRAFT_DECLARE_KERNEL(nll_backward, void(const Tensor& target, const Tensor& weight, const Tensor& grad_loss,
                                        const Tensor& total_weight, Reduction r, Tensor& grad_log_probs));
// row_max, row_logsum: [N] each, saved for the backward: max_j x[i,j] and log(sum_j exp(x[i,j] -
// max)); softmax = exp((x - row_max) - row_logsum).
GRAFT_DECLARE_KERNEL(cross_entropy_forward, void(const Tensor& logits, const Tensor& target, const Tensor& weight,
                                                 Reduction r, Tensor& loss, Tensor& total_weight, Tensor& row_max,
                                                 Tensor& row_logsum));
GRAFT_DECLARE_KERNEL(cross_entropy_backward, void(const Tensor& logits, const Tensor& row_max, const Tensor& row_logsum,
                                                  const Tensor& target, const Tensor& weight, const Tensor& grad_loss,
                                                  const Tensor& total_weight, Reduction r, Tensor& grad_logits));
GRAFT_DECLARE_KERNEL(bce_forward, void(const Tensor& probs, const Tensor& target, const Tensor& weight, Reduction r,
                                       Tensor& loss));
GRAFT_DECLARE_KERNEL(bce_backward, void(const Tensor& probs, const Tensor& target, const Tensor& weight,
                                        const Tensor& grad_loss, Reduction r, Tensor& grad_probs));
// pos_weight[i % L] applies to element i, L = the last dim of logits.
GRAFT_DECLARE_KERNEL(bce_with_logits_forward, void(const Tensor& logits, const Tensor& target,
                                                   const Tensor& pos_weight, Reduction r, Tensor& loss));
GRAFT_DECLARE_KERNEL(bce_with_logits_backward, void(const Tensor& logits, const Tensor& target,
                                                    const Tensor& pos_weight, const Tensor& grad_loss, Reduction r,
                                                    Tensor& grad_logits));
}  // namespace kernels

}  // namespace graft
