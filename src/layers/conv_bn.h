// src/layers/conv_bn.h — fused epilogues: a convolution (or Linear) and the batch norm, residual
// add and ReLU after it in one pass over the output, instead of one pass (and one tensor) each.
//
// 1. Batch norm with running statistics (eval mode, a frozen backbone) is a per-channel affine
//    map, so it folds into the convolution before it:
//      s_k = gamma_k / sqrt(var_k + eps)
//      z = act((conv(x, w)[k] - mean_k) * s_k + beta_k + residual)          (act: ReLU or none)
//    which is what bn(conv(x)) computes, with the same float operations as the batch norm
//    kernel, written while the convolution's output is hot; the BN tensor, the sum and the ReLU
//    output are never made. A conv bias (and no BN) is the same map with s = 1: VGG's
//    conv + bias + ReLU, and Linear + bias + ReLU.
//    backward, g = dz * [z > 0] (ReLU) or dz:
//      dresidual = g,  dbeta = sum(g),  dconv_b = s * sum(g)
//      dw = s_k * dw_u with dw_u = conv_backward_weight(g, x),  dx = conv_backward_input(g, w * s)
//      dgamma_k = invstd_k * (<w_k, dw_u_k> + sum(g_k) * (conv_b_k - mean_k))
//    (the last because sum over n,p,q of g * conv(x, w) = <w, dw_u>: no conv output is kept).
// 2. Batch norm with batch statistics (training) cannot fold; batch_norm_act() computes it with
//    the residual add and the ReLU in its output pass, and its backward masks the gradient by
//    [z > 0] inside batch norm's own two passes:
//      forward:  z = act((x - mean) * invstd * gamma + beta + residual)
//      backward: g = dz * [z > 0];  dresidual = g;  dx, dgamma, dbeta as batch_norm2d with g.
//
// The modules stay as they are (torchvision's names, checkpoints unchanged); the models ask
// conv_bn_act() / sequential_forward() to run a conv-BN-ReLU chain, which runs the fused op
// when it may and the modules one by one otherwise (the reference path, kept as it was):
//   - fusion is on (GRAFT_FUSE=0 in the environment or set_fusion_enabled(false) turns it off),
//   - the input is on the CPU (the kernels are CPU kernels),
//   - no module of the chain has a forward hook and no global hook is set (summaries,
//     tracing and Grad-CAM see each module's output, which the fused pass never makes),
//   - batch norm is not synchronized over processes (--sync-bn).
#pragma once

#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/module.h"
#include "tensor/dispatch.h"

namespace graft {

// GRAFT_FUSE=0 (read once) turns fusion off; tests switch it with set_fusion_enabled.
bool fusion_enabled();
void set_fusion_enabled(bool on);

// 1. x: [N,C,H,W], w: [K,C,R,S], conv_b: [K] or undefined; bn_w, bn_b, running_mean,
//    running_var: [K], all undefined for no batch norm; residual: [N,K,P,Q] or undefined.
//    -> z: [N,K,P,Q]. Differentiable in x, w, conv_b, bn_w, bn_b, residual.
Tensor conv2d_affine_act(const Tensor& x, const Tensor& w, const Tensor& conv_b, const Conv2dParams& p,
                         const Tensor& bn_w, const Tensor& bn_b, const Tensor& running_mean,
                         const Tensor& running_var, float eps, const Tensor& residual, bool relu);
// x: [N,in], w: [out,in], b: [out] -> relu(x w^T + b): [N,out]
Tensor linear_relu(const Tensor& x, const Tensor& w, const Tensor& b);
// 2. Training-mode batch norm (updates the running statistics as batch_norm2d) + residual + act.
Tensor batch_norm_act(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                      Tensor& running_var, float momentum, float eps, const Tensor& residual, bool relu);

// ---- running modules -------------------------------------------------------------------------
// relu?(bn?(conv(x)) + residual?) for the modules in these slots (bn, relu may be null; relu must
// be a ReLU, bn a BatchNorm2d, conv a Conv2d, or the chain runs unfused). Fused when it may be
// (see the top); otherwise each module is called in turn, as the model's own code would.
Tensor conv_bn_act(const ModulePtr& conv, const ModulePtr& bn, const ModulePtr& relu, const Tensor& x,
                   const Tensor& residual = Tensor());
// relu?(bn(x)) for a BatchNorm2d and an optional ReLU (DenseNet's pre-activations).
Tensor bn_act(const ModulePtr& bn, const ModulePtr& relu, const Tensor& x);
// Whether the modules (and the chain's x) allow the fused path: fusion on, CPU, no hooks.
bool may_fuse(std::initializer_list<const Module*> modules, const Tensor& x);
// A Sequential's children on x, with Conv2d [BatchNorm2d] [ReLU], Linear ReLU and BatchNorm2d
// ReLU runs fused (Sequential::forward).
Tensor sequential_forward(const NamedModules& children, const Tensor& x);

namespace kernels {  // conv_bn_cpu.cpp
// y, out: [N,K,inner] (out may be y): out = act((y - sub[k]) * mul[k] + add[k] + residual);
// residual may be undefined.
GRAFT_DECLARE_KERNEL(affine_act, void(const Tensor& y, const Tensor& sub, const Tensor& mul, const Tensor& add,
                                      const Tensor& residual, bool relu, Tensor& out));
// z, gy, g: [N,K,inner] -> g = gy * [z > 0] and its per-channel sums gsum: [K] (in double).
GRAFT_DECLARE_KERNEL(relu_mask_sum, void(const Tensor& z, const Tensor& gy, Tensor& g, Tensor& gsum, bool relu));
GRAFT_DECLARE_KERNEL(batch_norm_act_forward,
                     void(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& running_mean, Tensor& running_var,
                          float momentum, float eps, const Tensor& residual, bool relu, Tensor& z, Tensor& save_mean,
                          Tensor& save_invstd));
// g (output, may be undefined when no residual needs it) = gz * [z > 0]; gx, gw, gb as batch norm's.
GRAFT_DECLARE_KERNEL(batch_norm_act_backward,
                     void(const Tensor& x, const Tensor& z, const Tensor& gz, const Tensor& w, const Tensor& save_mean,
                          const Tensor& save_invstd, bool relu, Tensor& g, Tensor& gx, Tensor& gw, Tensor& gb));
}  // namespace kernels

}  // namespace graft
