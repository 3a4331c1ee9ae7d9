// src/layers/soft_targets.h — cross-entropy against soft targets, and label smoothing.
//
//   soft_target_cross_entropy:  l = (1/N) sum_i sum_j -q[i,j] * log_softmax(x)[i,j]   (timm's
//                               SoftTargetCrossEntropy; q from mixup/cutmix, rows sum to 1)
//                               d/dx[i,j] = (softmax(x)[i,j] - q[i,j]) / N
//   cross_entropy_smoothed:     torch's cross_entropy(x, t, weight=w, label_smoothing=e):
//                               (1 - e) * CE(x, t; w) + (e / L) * sum_i sum_j w[j] * -lp[i,j] / D
//                               D = sum_i w[t_i] (Mean; N without weights), 1 (Sum)
// Both are one sum over a coefficient matrix C [N,L]: l = -sum(C * log_softmax(x)), with
// C = q / N, or C[i,j] = ((1 - e) w[t_i] [j == t_i] + (e / L) w[j]) / D for label smoothing.
// Design note: composed from differentiable primitives (log_softmax, *, sum), so the backward
// is theirs and runs on either device. Label smoothing builds C on the host from the labels
// (one small copy to the host per batch).
// Log-probabilities (a logsoftmax head, --loss nll) may be passed as x: log_softmax leaves
// them unchanged, so both losses are then the same functions of the model's outputs.
#pragma once

#include "layers/loss.h"

namespace graft {

// logits: [N,L], q: float32 [N,L] -> [] (mean over the N rows)
Tensor soft_target_cross_entropy(const Tensor& logits, const Tensor& q);
// logits: [N,L], target: Int64 [N], weight: [L] or undefined, smoothing in [0, 1] -> [];
// Reduction::Mean or Sum (None would need a sum per row).
Tensor cross_entropy_smoothed(const Tensor& logits, const Tensor& target, double smoothing,
                              const Tensor& weight = Tensor(), Reduction r = Reduction::Mean);

}  // namespace graft
