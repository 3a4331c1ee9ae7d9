// src/layers/loss.cu — the losses of loss.h on the GPU, reduced on the device.
//
//   nll:            l_i = -w[t_i] * lp[i, t_i]
//   cross_entropy:  l_i =  w[t_i] * ((m_i - x[i,t_i]) + log s_i),  m_i = max_j x[i,j],
//                   s_i = sum_j exp(x[i,j] - m_i);   dx = w[t_i] * dL/dl_i * (softmax - onehot)
//   bce:            l_i = -w_i * (t log p + (1-t) log(1-p)), logs clamped at -100
//   bce_with_logits l_i = (1-t) x + lw * (max(-x,0) + log1p(exp(-|x|))),  lw = 1 + (pw-1) t
// Reduction: None writes l; Sum writes sum(l); Mean divides by the total target weight (NLL/CE)
// or by the element count (BCE). Per-element losses and the sums are in double, as the CPU twin
// (loss_cpu.cpp), then rounded once to float.
// No host synchronization: the Mean denominator stays on the device (total_weight), and dL/dl
// (grad_loss) is read by the backward kernels from device memory.
// Labels out of [0, L) cannot throw from a kernel: that row's loss (and the total weight) become
// NaN, so the mistake shows in the first printed loss instead of reading out of bounds.
#include "layers/loss.h"
#include "tensor/cuda_launch.cuh"

namespace graft::cuda {
namespace {

// dL/dl_i, as loss.cpp's grad_of: gl[i] (None), gl[0] (Sum), gl[0] / denominator (Mean).
__device__ inline float grad_of(const float* gl, int64_t i, Reduction r, double denom) {
  if (r == Reduction::None) return gl[i];
  return r == Reduction::Mean ? static_cast<float>(gl[0] / denom) : gl[0];
}

// ---- NLL and cross-entropy: per-row losses, then one block sums them ----------------------------

// l[i] (double) and wt[i] = w[t_i] for every row; NaN for a label out of range.
__global__ void nll_rows_kernel(const float* lp, const int64_t* t, const float* w, int64_t N, int64_t L,
                                double* l, double* wt) {
  CUDA_KERNEL_LOOP(i, N) {
    const int64_t ti = t[i];
    if (ti < 0 || ti >= L) {
      l[i] = wt[i] = NAN;
      continue;
    }
    const double wi = w ? w[ti] : 1.0;
    l[i] = -wi * lp[i * L + ti];
    wt[i] = wi;
  }
}

// One block per row: the row max and log-sum-exp (saved for the backward), and l[i].
__global__ void cross_entropy_rows_kernel(const float* x, const int64_t* t, const float* w, int64_t L,
                                          float* row_max, float* row_logsum, double* l, double* wt) {
  const int64_t i = blockIdx.x;
  const float* row = x + i * L;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) m = fmaxf(m, row[j]);
  m = block_max_all(m, -INFINITY);
  double s = 0.0;
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) s += exp(static_cast<double>(row[j]) - m);
  s = block_sum(s);
  if (threadIdx.x == 0) {
    const int64_t ti = t[i];
    row_max[i] = m;
    row_logsum[i] = static_cast<float>(::log(s));
    if (ti < 0 || ti >= L) {
      l[i] = wt[i] = NAN;
    } else {
      const double wi = w ? w[ti] : 1.0;
      l[i] = wi * ((m - row[ti]) + ::log(s));  // -log_softmax(x)[t]; m - x[t] in float as the CPU
      wt[i] = wi;
    }
  }
}

// One block: total_weight = sum wt; loss = l (None), sum l (Sum) or sum l / sum wt (Mean).
__global__ void reduce_rows_kernel(const double* l, const double* wt, int64_t N, Reduction r, float* loss,
                                   float* total_weight) {
  double sl = 0.0, sw = 0.0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    sl += l[i];
    sw += wt[i];
    if (r == Reduction::None) loss[i] = static_cast<float>(l[i]);
  }
  sl = block_sum(sl);
  sw = block_sum(sw);
  if (threadIdx.x == 0) {
    *total_weight = static_cast<float>(sw);
    if (r != Reduction::None) loss[0] = static_cast<float>(r == Reduction::Mean ? sl / sw : sl);
  }
}

__global__ void nll_backward_kernel(const int64_t* t, const float* w, const float* gl, const float* total_weight,
                                    int64_t N, int64_t L, Reduction r, float* g) {
  CUDA_KERNEL_LOOP(k, N * L) {
    const int64_t i = k / L, j = k - i * L, ti = t[i];
    g[k] = j == ti ? -(w ? w[ti] : 1.0f) * grad_of(gl, i, r, *total_weight) : 0.0f;
  }
}

__global__ void cross_entropy_backward_kernel(const float* x, const float* row_max, const float* row_logsum,
                                              const int64_t* t, const float* w, const float* gl,
                                              const float* total_weight, int64_t N, int64_t L, Reduction r,
                                              float* gx) {
  CUDA_KERNEL_LOOP(k, N * L) {
    const int64_t i = k / L, j = k - i * L, ti = t[i];
    const bool valid = ti >= 0 && ti < L;
    const float g = (w && valid ? w[ti] : 1.0f) * grad_of(gl, i, r, *total_weight);
    gx[k] = valid ? g * (expf((x[k] - row_max[i]) - row_logsum[i]) - (j == ti ? 1.0f : 0.0f)) : NAN;
  }
}

// ---- BCE: per-element losses; partial sums per block, then one block adds them ----------------

struct BceLoss {  // on probabilities
  const float *p, *t, *w;
  __device__ double operator()(int64_t i) const {
    const double log_p = fmax(::log(static_cast<double>(p[i])), -100.0);
    const double log_1mp = fmax(log1p(-static_cast<double>(p[i])), -100.0);
    return -(w ? w[i] : 1.0) * (t[i] * log_p + (1.0 - t[i]) * log_1mp);
  }
};

struct BceLogitsLoss {  // on logits, pos_weight indexed by the last dim
  const float *x, *t, *pw;
  int64_t L;
  __device__ double operator()(int64_t i) const {
    const double xi = x[i], ti = t[i];
    const double lw = pw ? 1.0 + (pw[i % L] - 1.0) * ti : 1.0;
    return (1.0 - ti) * xi + lw * (fmax(-xi, 0.0) + log1p(exp(-fabs(xi))));
  }
};

template <class Loss>
__global__ void elementwise_loss_kernel(Loss f, int64_t n, Reduction r, float* loss, double* partial) {
  double s = 0.0;
  CUDA_KERNEL_LOOP(i, n) {
    const double l = f(i);
    if (r == Reduction::None)
      loss[i] = static_cast<float>(l);
    else
      s += l;
  }
  if (r == Reduction::None) return;  // uniform across the block: no thread skips the reduction alone
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sum_partials_kernel(const double* partial, int blocks, double denom, float* loss) {
  double s = 0.0;
  for (int i = threadIdx.x; i < blocks; i += blockDim.x) s += partial[i];
  s = block_sum(s);
  if (threadIdx.x == 0) loss[0] = static_cast<float>(s / denom);
}

__global__ void bce_backward_kernel(const float* p, const float* t, const float* w, const float* gl, int64_t n,
                                    Reduction r, float* gp) {
  CUDA_KERNEL_LOOP(i, n) {
    gp[i] = grad_of(gl, i, r, static_cast<double>(n)) * (w ? w[i] : 1.0f) * (p[i] - t[i]) /
            fmaxf((1.0f - p[i]) * p[i], 1e-12f);  // PyTorch's floor on p(1-p)
  }
}

__global__ void bce_with_logits_backward_kernel(const float* x, const float* t, const float* pw, const float* gl,
                                                int64_t n, int64_t L, Reduction r, float* gx) {
  CUDA_KERNEL_LOOP(i, n) {
    const double xi = x[i], ti = t[i], pwi = pw ? pw[i % L] : 1.0;
    const double lw = 1.0 + (pwi - 1.0) * ti;
    const double sig = xi >= 0 ? 1.0 / (1.0 + exp(-xi)) : exp(xi) / (1.0 + exp(xi));  // never overflows
    gx[i] = grad_of(gl, i, r, static_cast<double>(n)) * static_cast<float>(lw * sig - pwi * ti);
  }
}

// ---- launchers ----------------------------------------------------------------------------------

// Per-row scratch (l and weights in double) from the caching allocator; freed right after the
// reduction is queued, which stream ordering makes safe.
struct RowScratch {
  explicit RowScratch(int64_t N) : n(N), l(static_cast<double*>(cuda::malloc(2 * N * sizeof(double)))), wt(l + N) {}
  ~RowScratch() { cuda::free(l); }
  int64_t n;
  double *l, *wt;
};

template <class Loss>
void elementwise_loss(Loss f, int64_t n, Reduction r, float* loss) {
  if (r == Reduction::None) {
    if (n == 0) return;
    elementwise_loss_kernel<<<grid_for(n), kThreads, 0, stream()>>>(f, n, r, loss, nullptr);
    CUDA_CHECK_LAUNCH("elementwise_loss_kernel");
    return;
  }
  const int blocks = grid_for(n);
  auto* partial = static_cast<double*>(cuda::malloc(blocks * sizeof(double)));
  elementwise_loss_kernel<<<blocks, kThreads, 0, stream()>>>(f, n, r, loss, partial);
  CUDA_CHECK_LAUNCH("elementwise_loss_kernel");
  // Mean of nothing is 0/0 = NaN, as PyTorch.
  sum_partials_kernel<<<1, 1024, 0, stream()>>>(partial, blocks, r == Reduction::Mean ? double(n) : 1.0, loss);
  CUDA_CHECK_LAUNCH("sum_partials_kernel");
  cuda::free(partial);
}

const float* opt_ptr(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

void nll_forward_cuda(const Tensor& log_probs, const Tensor& target, const Tensor& weight, Reduction r, Tensor& loss,
                      Tensor& total_weight) {
  const int64_t N = log_probs.size(0), L = log_probs.size(1);
  RowScratch s(N);
  if (N > 0) {
    nll_rows_kernel<<<grid_for(N), kThreads, 0, stream()>>>(log_probs.data(), target.data_ptr<int64_t>(),
                                                            opt_ptr(weight), N, L, s.l, s.wt);
    CUDA_CHECK_LAUNCH("nll_rows_kernel");
  }
  reduce_rows_kernel<<<1, 1024, 0, stream()>>>(s.l, s.wt, N, r, loss.data(), total_weight.data());
  CUDA_CHECK_LAUNCH("reduce_rows_kernel");
}

void nll_backward_cuda(const Tensor& target, const Tensor& weight, const Tensor& grad_loss, const Tensor& total_weight,
                       Reduction r, Tensor& grad_log_probs) {
  const int64_t N = grad_log_probs.size(0), L = grad_log_probs.size(1);
  if (N * L == 0) return;
  nll_backward_kernel<<<grid_for(N * L), kThreads, 0, stream()>>>(target.data_ptr<int64_t>(), opt_ptr(weight),
                                                                   grad_loss.data(), total_weight.data(), N, L, r,
                                                                   grad_log_probs.data());
  CUDA_CHECK_LAUNCH("nll_backward_kernel");
}

void cross_entropy_forward_cuda(const Tensor& logits, const Tensor& target, const Tensor& weight, Reduction r,
                                Tensor& loss, Tensor& total_weight, Tensor& row_max, Tensor& row_logsum) {
  const int64_t N = logits.size(0), L = logits.size(1);
  RowScratch s(N);
  if (N > 0) {
    cross_entropy_rows_kernel<<<static_cast<unsigned>(N), kThreads, 0, stream()>>>(
        logits.data(), target.data_ptr<int64_t>(), opt_ptr(weight), L, row_max.data(), row_logsum.data(), s.l, s.wt);
    CUDA_CHECK_LAUNCH("cross_entropy_rows_kernel");
  }
  reduce_rows_kernel<<<1, 1024, 0, stream()>>>(s.l, s.wt, N, r, loss.data(), total_weight.data());
  CUDA_CHECK_LAUNCH("reduce_rows_kernel");
}

void cross_entropy_backward_cuda(const Tensor& logits, const Tensor& row_max, const Tensor& row_logsum,
                                 const Tensor& target, const Tensor& weight, const Tensor& grad_loss,
                                 const Tensor& total_weight, Reduction r, Tensor& grad_logits) {
  const int64_t N = logits.size(0), L = logits.size(1);
  if (N * L == 0) return;
  cross_entropy_backward_kernel<<<grid_for(N * L), kThreads, 0, stream()>>>(
      logits.data(), row_max.data(), row_logsum.data(), target.data_ptr<int64_t>(), opt_ptr(weight), grad_loss.data(),
      total_weight.data(), N, L, r, grad_logits.data());
  CUDA_CHECK_LAUNCH("cross_entropy_backward_kernel");
}

void bce_forward_cuda(const Tensor& probs, const Tensor& target, const Tensor& weight, Reduction r, Tensor& loss) {
  elementwise_loss(BceLoss{probs.data(), target.data(), opt_ptr(weight)}, probs.numel(), r, loss.data());
}

void bce_backward_cuda(const Tensor& probs, const Tensor& target, const Tensor& weight, const Tensor& grad_loss,
                       Reduction r, Tensor& grad_probs) {
  const int64_t n = probs.numel();
  if (n == 0) return;
  bce_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(probs.data(), target.data(), opt_ptr(weight),
                                                              grad_loss.data(), n, r, grad_probs.data());
  CUDA_CHECK_LAUNCH("bce_backward_kernel");
}

void bce_with_logits_forward_cuda(const Tensor& logits, const Tensor& target, const Tensor& pos_weight, Reduction r,
                                  Tensor& loss) {
  const int64_t L = logits.dim() > 0 ? logits.size(-1) : 1;
  elementwise_loss(BceLogitsLoss{logits.data(), target.data(), opt_ptr(pos_weight), L}, logits.numel(), r,
                   loss.data());
}

void bce_with_logits_backward_cuda(const Tensor& logits, const Tensor& target, const Tensor& pos_weight,
                                   const Tensor& grad_loss, Reduction r, Tensor& grad_logits) {
  const int64_t n = logits.numel(), L = logits.dim() > 0 ? logits.size(-1) : 1;
  if (n == 0) return;
  bce_with_logits_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
      logits.data(), target.data(), opt_ptr(pos_weight), grad_loss.data(), n, L, r, grad_logits.data());
  CUDA_CHECK_LAUNCH("bce_with_logits_backward_kernel");
}

}  // namespace

GRAFT_REGISTER_KERNELS(CUDA, "cuda", _cuda, nll_forward, nll_backward, cross_entropy_forward, cross_entropy_backward,
                       bce_forward, bce_backward, bce_with_logits_forward, bce_with_logits_backward);

}  // namespace graft::cuda
