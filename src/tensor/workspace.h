// src/tensor/workspace.h — per-thread scratch memory that CPU kernels reuse between calls.
//
// im2col's column matrix can be hundreds of MB (VGG at 224); allocating it on every call costs
// page faults (fresh pages are zeroed by the kernel). Each thread keeps its buffers and only
// grows them, so they are paid for once per process.
#pragma once

#include <cstdint>

namespace graft {

// At least n floats, 64-byte aligned, uninitialized, owned by the calling thread. Slot 0..5:
// different slots are different buffers (a kernel needing two at once uses two slots). Valid
// until the same thread asks for a larger buffer in the same slot. Slots 0-2: conv2d's column
// matrix, grouped dy/y and weight-gradient sum; 3-5: graft's own GEMMs, gemm_packed.inc
// (3: the transposed result, or the small-M path's copy of A^T; 4-5: packed panels).
float* thread_workspace(int slot, int64_t n);

}  // namespace graft
