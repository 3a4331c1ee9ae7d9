// src/dist/comm.h — the processes of a data-parallel run and what they say to each other.
//
// graft does not move bytes between processes itself: MPI does (OpenMPI on Debian: `mpirun`
// starts the processes, on one machine or many, and gives each its rank; under Slurm, `srun`
// does). This file is the whole of graft's use of MPI, a handful of collectives:
//
//   init()                 MPI_Init_thread; world() is then {rank, size, local_rank, local_size}
//   all_reduce_sum(x, n)   x <- sum over ranks of x (float, in place), gradients and metrics
//   broadcast(p, bytes)    rank 0's bytes to every rank, the initial weights
//   all_gather(v)          every rank's vector, concatenated in rank order (features, indices)
//   barrier()              everyone has reached this line
//
// Note [No hangs]: every collective is started non-blocking and then polled against a
// deadline (set_timeout, default 300 s). A rank that died or stopped answering makes the
// others print which collective timed out and abort the whole job (MPI_Abort) instead of
// waiting forever. (mpirun also notices a rank killed by a signal and stops the others; the
// deadline covers the cases it cannot see: a rank stuck in a loop, a lost node.)
//
// Without MPI (a build with -Dmpi=disabled, or libopenmpi-dev missing) the functions exist,
// world() is {0, 1}, and init() says how to get MPI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace graft::dist {

struct World {
  int rank = 0, size = 1;              // this process among all of them
  int local_rank = 0, local_size = 1;  // among those on this machine (to share its cores)
};

bool built_with_mpi();
// Starts MPI (once); throws a clear error when graft was built without it.
void init();
bool initialized();
const World& world();
inline bool is_main() { return world().rank == 0; }
// Ends MPI cleanly (all ranks must call it); a no-op when init() was not called.
void finalize();
// Prints "graft: rank R of N: why" and stops every process of the job.
[[noreturn]] void abort(const std::string& why);

// Note [No hangs]: the longest any collective may wait for the other ranks.
void set_timeout(double seconds);
double timeout();

// `what` names the collective in a timeout's message ("all-reduce of gradient bucket 3").
void all_reduce_sum(float* data, size_t n, const std::string& what);
void all_reduce_sum(std::vector<double>& data, const std::string& what);
void broadcast(void* data, size_t bytes, int root, const std::string& what);
// Every rank's `mine` (lengths may differ), concatenated in rank order, on every rank.
std::vector<float> all_gather(const std::vector<float>& mine, const std::string& what);
std::vector<int64_t> all_gather(const std::vector<int64_t>& mine, const std::string& what);
void barrier(const std::string& what);

}  // namespace graft::dist
