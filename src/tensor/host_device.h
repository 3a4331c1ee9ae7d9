// src/tensor/host_device.h — GRAFT_HOST_DEVICE: a function compiled for the CPU and the GPU.
//
// A formula used by a CPU loop and a CUDA kernel (an optimizer's per-element update) is written
// once, in a header, as a GRAFT_HOST_DEVICE inline function: nvcc compiles it for both sides,
// g++ for the host only. Both devices then run the same expression in the same order.
#pragma once

#if defined(__CUDACC__)
#define GRAFT_HOST_DEVICE __host__ __device__
#else
#define GRAFT_HOST_DEVICE
#endif
