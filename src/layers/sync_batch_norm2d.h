// src/layers/sync_batch_norm2d.h — batch norm with the statistics of the whole global batch,
// for data-parallel training (PyTorch's nn.SyncBatchNorm; graft train --distributed --sync-bn).
//
// With N processes each holding B images, plain batch norm normalizes each process's B images
// with their own mean and variance. Synchronized, every process uses the mean and variance of
// all N*B images, so the result is the same as one process with the whole batch:
//
//   forward   S_c = sum over all processes of sum(x)          -> mean_c = S_c / M  (M: all values)
//             Q_c = sum over all processes of sum((x-mean)^2) -> var_c = Q_c / M,  invstd = 1/sqrt(var+eps)
//             y = (x - mean_c) * invstd * gamma_c + beta_c; running stats as batch_norm2d (M/(M-1))
//   backward  with xhat = (x-mean)*invstd, and each process's dy (for its own loss):
//             sdy_c = sum over all processes of sum(dy), sdyx_c = ... of sum(dy * xhat)
//             dx = gamma * invstd * (dy - sdy_c/M - xhat * sdyx_c/M)
//             dgamma = this process's sum(dy * xhat), dbeta = this process's sum(dy)
//
// Why dgamma and dbeta stay local: data-parallel training averages every parameter's gradient
// over the processes afterwards (dist/reducer.h), exactly as for a convolution's weight; dx
// needs the global sums because x moved the global mean and variance that every process used.
//
// `sum` adds a vector over the processes in place (identity for one process). It is called the
// same number of times, in the same order, on every process: twice in forward, once in backward.
// CPU, plain loops (the reference: the per-process op is batch_norm2d, layers/batch_norm2d.h).
// Shapes: x [N,C,H,W]; weight, bias, running_mean, running_var [C].
#pragma once

#include <functional>
#include <vector>

#include "tensor/tensor.h"

namespace graft {

using SumOverProcesses = std::function<void(std::vector<double>&)>;

Tensor sync_batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                         Tensor& running_var, float momentum, float eps, const SumOverProcesses& sum);

// Set (by src/dist for --sync-bn): every BatchNorm2d that computes batch statistics uses
// sync_batch_norm2d with this sum. Unset (the default, an empty function): per-process statistics.
void set_batch_norm_sync(SumOverProcesses sum);
const SumOverProcesses& batch_norm_sync();

}  // namespace graft
