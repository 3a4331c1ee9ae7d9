// src/dist/nccl_comm.cpp — see nccl_comm.h.
#include "dist/nccl_comm.h"

#include <stdexcept>

#ifndef GRAFT_NCCL
#define GRAFT_NCCL 0  // meson defines it to 1 in CUDA builds with MPI and NCCL
#endif

#if GRAFT_NCCL
#include <nccl.h>

#include <chrono>
#include <thread>

#include "dist/comm.h"
#include "tensor/cuda_context.h"
#endif

namespace graft::dist {

bool built_with_nccl() { return GRAFT_NCCL; }

#if GRAFT_NCCL

namespace {
ncclComm_t g_comm = nullptr;
cudaStream_t g_stream = nullptr;  // NCCL's, beside graft's (cuda::stream())
cudaEvent_t g_ready = nullptr;    // recorded on graft's stream: the gradients are written

void check(ncclResult_t rc, const std::string& what) {
  if (rc != ncclSuccess && rc != ncclInProgress) abort(what + ": NCCL error: " + ncclGetErrorString(rc));
}
}  // namespace

bool nccl_initialized() { return g_comm != nullptr; }

void nccl_init() {
  if (g_comm) return;
  const World& w = world();
  int gpus = 0;
  CUDA_CHECK(cudaGetDeviceCount(&gpus));
  if (gpus == 0) throw std::runtime_error("distributed: --device cuda, but this machine has no CUDA GPU");
  cuda::select_device(w.local_rank % gpus);  // before graft's stream and handles exist
  ncclUniqueId id;
  if (w.rank == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  broadcast(&id, sizeof id, 0, "broadcast of NCCL's unique id");
  check(ncclCommInitRank(&g_comm, w.size, id, w.rank), "ncclCommInitRank");
  CUDA_CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
  CUDA_CHECK(cudaEventCreateWithFlags(&g_ready, cudaEventDisableTiming));
}

void nccl_all_reduce_sum(float* data, size_t n, const std::string& what) {
  if (!g_comm) throw std::logic_error("distributed: " + what + " before nccl_init()");
  if (n == 0) return;
  CUDA_CHECK(cudaEventRecord(g_ready, cuda::stream()));
  CUDA_CHECK(cudaStreamWaitEvent(g_stream, g_ready, 0));
  check(ncclAllReduce(data, data, n, ncclFloat, ncclSum, g_comm, g_stream), what);
  // Note [No hangs]: poll the stream against the deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout());
  for (;;) {
    const cudaError_t rc = cudaStreamQuery(g_stream);
    if (rc == cudaSuccess) return;
    if (rc != cudaErrorNotReady) abort(what + ": CUDA error: " + cudaGetErrorString(rc));
    ncclResult_t async = ncclSuccess;
    check(ncclCommGetAsyncError(g_comm, &async), what);
    check(async, what);
    if (std::chrono::steady_clock::now() > deadline) {
      ncclCommAbort(g_comm);
      abort(what + ": no answer from the other ranks for " + std::to_string(int(timeout())) +
            " s; a rank has died or hangs (raise the limit with --dist-timeout)");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void nccl_finalize() {
  if (!g_comm) return;
  ncclCommDestroy(g_comm);
  g_comm = nullptr;
}

#else  // no NCCL in this build

namespace {
[[noreturn]] void missing() {
  throw std::runtime_error("distributed: --device cuda needs graft built with CUDA, MPI and NCCL (meson's summary "
                           "line 'NCCL (--distributed on GPUs)'); this build has no NCCL");
}
}  // namespace

bool nccl_initialized() { return false; }
void nccl_init() { missing(); }
void nccl_all_reduce_sum(float*, size_t, const std::string&) { missing(); }
void nccl_finalize() {}

#endif

}  // namespace graft::dist
