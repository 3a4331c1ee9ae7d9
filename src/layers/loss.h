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
// softmax from them. Subtracting the row max
// makes logits of 1000 safe. The kernels reduce themselves and keep the Mean denominator
// ("total weight") in a device scalar, so a CUDA step never copies a number to the host.
#pragma once

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

// CUDA launchers (loss.cu). All pointers are device pointers; `weight`/`pos_weight` may be null.
// Outputs: `loss` is [N] (or [n]) for Reduction::None, one float otherwise; `total_weight` is one
// float (sum of w[t_i], or N) that the backward reads for Mean. `grad_loss` has the shape of
// `loss`: one float for Mean/Sum (every row uses grad_loss[0]), one per sample for None.
// Labels outside [0, L) must be reported as an error, not read out of bounds.
namespace cuda {
void nll_forward(const float* log_probs, const int64_t* target, const float* weight, int64_t N, int64_t L, Reduction r,
                 float* loss, float* total_weight);
void nll_backward(const int64_t* target, const float* weight, const float* grad_loss, const float* total_weight,
                  int64_t N, int64_t L, Reduction r, float* grad_log_probs);
// row_max, row_logsum: [N] each, saved for the backward: max_j x[i,j] and
// log(sum_j exp(x[i,j] - max)); softmax = exp((x - row_max) - row_logsum).
void cross_entropy_forward(const float* logits, const int64_t* target, const float* weight, int64_t N, int64_t L,
                           Reduction r, float* loss, float* total_weight, float* row_max, float* row_logsum);
void cross_entropy_backward(const float* logits, const float* row_max, const float* row_logsum, const int64_t* target,
                            const float* weight, const float* grad_loss, const float* total_weight, int64_t N,
                            int64_t L, Reduction r, float* grad_logits);
void bce_forward(const float* probs, const float* target, const float* weight, int64_t n, Reduction r, float* loss);
void bce_backward(const float* probs, const float* target, const float* weight, const float* grad_loss, int64_t n,
                  Reduction r, float* grad_probs);
// pos_weight[i % L] applies to element i.
void bce_with_logits_forward(const float* logits, const float* target, const float* pos_weight, int64_t n, int64_t L,
                             Reduction r, float* loss);
void bce_with_logits_backward(const float* logits, const float* target, const float* pos_weight, const float* grad_loss,
                              int64_t n, int64_t L, Reduction r, float* grad_logits);
}  // namespace cuda

}  // namespace graft
