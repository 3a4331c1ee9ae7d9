// src/dist/nccl_comm.h — all-reduce of CUDA tensors between GPUs with NCCL.
//
// MPI (dist/comm.h) starts the processes and carries CPU data; gradients that live on GPUs go
// through NCCL, which moves them GPU to GPU (NVLink, PCIe, InfiniBand) without the host. The
// two meet once: rank 0 draws NCCL's unique id and MPI broadcasts it, then every rank joins
// the communicator with its rank — as llm.c and flashlight do. Each rank uses the GPU
// local_rank (modulo the GPUs it can see) of its machine.
//
// Note [No hangs] holds here too: an all-reduce is queued on NCCL's own stream, after the
// work already on graft's stream (an event, no host wait), and then polled against dist's
// deadline; on timeout the communicator is aborted and the job stopped with a message.
// Built only in CUDA builds with MPI and NCCL (meson's summary says); elsewhere the functions
// exist and say so when called.
#pragma once

#include <cstddef>
#include <string>

namespace graft::dist {

bool built_with_nccl();
// Picks this rank's GPU and joins the NCCL communicator of the world (dist::init() first when
// there is more than one process). A world of one also goes through NCCL.
void nccl_init();
bool nccl_initialized();
// data: n floats in GPU memory, summed over the ranks in place.
void nccl_all_reduce_sum(float* data, size_t n, const std::string& what);
void nccl_finalize();

}  // namespace graft::dist
