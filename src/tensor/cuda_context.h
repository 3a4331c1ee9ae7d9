// src/tensor/cuda_context.h — the process-wide CUDA state graft runs on.
//
// One stream, one cuBLAS handle and one cuDNN handle, both bound to that stream, plus one
// scratch workspace for cuDNN that grows to the largest request and is then reused.
// Design note: a single stream makes every kernel, copy and library call stream-ordered, so
// the caching allocator can hand a freed block to the next request without any event or
// synchronization (the next user's work is queued behind the previous user's). The host only
// waits when it reads a value back (Tensor::item, to_vector, max_abs).
// Internal header for the CUDA build (includes the CUDA headers); the public, build-independent
// functions are in device.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/cuda_check.h"

namespace graft::cuda {

// Created on first use, on device 0 unless select_device() said otherwise. Throws with the
// CUDA error text if no GPU can be used.
cudaStream_t stream();
// The GPU this process uses (a data-parallel rank: its local rank); only before first use.
void select_device(int index);
// Makes that GPU current in the calling thread (the accessors above do it themselves).
void bind_thread();
cublasHandle_t cublas();
cudnnHandle_t cudnn();

// Device scratch memory of at least `bytes`, valid until the next workspace() call with a
// larger size. Stream ordering makes it safe to reuse as soon as the call that used it has
// been queued.
void* workspace(size_t bytes);

// Number of streaming multiprocessors (for sizing grid-stride launches).
int sm_count();

// Waits for everything queued on graft's stream.
void synchronize_stream();
// Device memory from the caching allocator (cuda_device.cpp), for the backend's own scratch
// buffers; tensors get theirs through device_malloc.
void* malloc(size_t bytes);
void free(void* ptr);

}  // namespace graft::cuda
