// src/dist/comm.cpp — see comm.h. Every collective is a non-blocking MPI call polled until it
// completes or the deadline passes (Note [No hangs]).
#include "dist/comm.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "tensor/check.h"

#ifndef GRAFT_MPI
#define GRAFT_MPI 0  // meson defines it to 1 when it found MPI
#endif
#if GRAFT_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only: OpenMPI's deprecated C++ bindings warn under -Wextra
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace graft::dist {

namespace {
World g_world;
bool g_initialized = false;
double g_timeout = 300.0;
}  // namespace

bool built_with_mpi() { return GRAFT_MPI; }
bool initialized() { return g_initialized; }
const World& world() { return g_world; }
void set_timeout(double seconds) { g_timeout = seconds; }
double timeout() { return g_timeout; }

void abort(const std::string& why) {
  std::fprintf(stderr, "graft: rank %d of %d: %s\n", g_world.rank, g_world.size, why.c_str());
  std::fflush(stderr);
#if GRAFT_MPI
  if (g_initialized) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
  std::_Exit(1);
}

#if GRAFT_MPI

void init() {
  if (g_initialized) return;
  // SERIALIZED: MPI is called from more than one thread (the gradient reducer's), never at once.
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
  if (provided < MPI_THREAD_SERIALIZED)
    throw std::runtime_error("distributed: this MPI library does not allow calls from a second thread "
                             "(MPI_THREAD_SERIALIZED); use Debian's OpenMPI (apt-get install openmpi-bin libopenmpi-dev)");
  g_initialized = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);
  MPI_Comm local;  // the ranks that share this machine's memory (and cores)
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_world.rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &g_world.local_rank);
  MPI_Comm_size(local, &g_world.local_size);
  MPI_Comm_free(&local);
  // srun without an MPI plugin starts N copies that each think they are alone.
  if (const char* tasks = std::getenv("SLURM_NTASKS"); tasks && std::atoi(tasks) > 1 && g_world.size == 1)
    throw std::runtime_error(std::string("distributed: Slurm started ") + tasks +
                             " tasks but MPI sees only this one; launch with `srun --mpi=pmix ...` (or mpirun inside "
                             "the allocation)");
}

void finalize() {
  if (!g_initialized) return;
  MPI_Finalize();
  g_initialized = false;
}

namespace {
void check_started(int rc, const std::string& what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  abort(what + " failed: " + std::string(text, size_t(len)));
}

// Note [No hangs]: poll until done or the deadline; a short sleep keeps the core for the others.
void wait(MPI_Request& request, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(g_timeout);
  for (int done = 0;;) {
    check_started(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    if (std::chrono::steady_clock::now() > deadline)
      abort(what + ": no answer from the other ranks for " + std::to_string(int(g_timeout)) +
            " s; a rank has died or hangs (raise the limit with --dist-timeout)");
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void require_init(const std::string& what) {
  if (!g_initialized) throw std::logic_error("distributed: " + what + " before dist::init()");
}
}  // namespace

void all_reduce_sum(float* data, size_t n, const std::string& what) {
  if (g_world.size == 1 || n == 0) return;  // one process (initialized or not): the sum is x
  require_init(what);
  MPI_Request r;
  check_started(MPI_Iallreduce(MPI_IN_PLACE, data, int(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r), what);
  wait(r, what);
}

void all_reduce_sum(std::vector<double>& data, const std::string& what) {
  if (g_world.size == 1 || data.empty()) return;
  require_init(what);
  MPI_Request r;
  check_started(MPI_Iallreduce(MPI_IN_PLACE, data.data(), int(data.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &r),
                what);
  wait(r, what);
}

void broadcast(void* data, size_t bytes, int root, const std::string& what) {
  if (g_world.size == 1 || bytes == 0) return;
  require_init(what);
  // MPI counts are int: send large buffers in pieces of at most 1 GiB.
  auto* p = static_cast<char*>(data);
  for (size_t done = 0; done < bytes;) {
    const size_t piece = std::min<size_t>(bytes - done, size_t(1) << 30);
    MPI_Request r;
    check_started(MPI_Ibcast(p + done, int(piece), MPI_BYTE, root, MPI_COMM_WORLD, &r), what);
    wait(r, what);
    done += piece;
  }
}

namespace {
// MPI_Allgatherv of `mine` (type: MPI_FLOAT or MPI_INT64_T): first every rank's length, then the data.
template <class T>
std::vector<T> gather_all(const std::vector<T>& mine, MPI_Datatype type, const std::string& what) {
  if (g_world.size == 1) return mine;
  require_init(what);
  GRAFT_CHECK(mine.size() <= size_t(INT32_MAX), "distributed", what, ": ", mine.size(), " values do not fit one MPI call");
  std::vector<int> counts(size_t(g_world.size)), offsets(size_t(g_world.size));
  int n = int(mine.size());
  MPI_Request r;
  check_started(MPI_Iallgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD, &r), what);
  wait(r, what);
  int64_t total = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    GRAFT_CHECK(total <= INT32_MAX, "distributed", what, ": more than 2^31 values in all");
    offsets[i] = int(total);
    total += counts[i];
  }
  std::vector<T> all(static_cast<size_t>(total));
  check_started(MPI_Iallgatherv(mine.data(), n, type, all.data(), counts.data(), offsets.data(), type,
                                MPI_COMM_WORLD, &r),
                what);
  wait(r, what);
  return all;
}
}  // namespace

std::vector<float> all_gather(const std::vector<float>& mine, const std::string& what) {
  return gather_all(mine, MPI_FLOAT, what);
}
std::vector<int64_t> all_gather(const std::vector<int64_t>& mine, const std::string& what) {
  return gather_all(mine, MPI_INT64_T, what);
}

void barrier(const std::string& what) {
  if (g_world.size == 1) return;
  require_init(what);
  MPI_Request r;
  check_started(MPI_Ibarrier(MPI_COMM_WORLD, &r), what);
  wait(r, what);
}

#else  // built without MPI: one process, and a clear error for anyone who asks for more

void init() {
  throw std::runtime_error("distributed: graft was built without MPI; install it (apt-get install openmpi-bin "
                           "libopenmpi-dev), then `meson setup --reconfigure build` and rebuild");
}
void finalize() {}
void all_reduce_sum(float*, size_t, const std::string&) {}
void all_reduce_sum(std::vector<double>&, const std::string&) {}
void broadcast(void*, size_t, int, const std::string&) {}
std::vector<float> all_gather(const std::vector<float>& mine, const std::string&) { return mine; }
std::vector<int64_t> all_gather(const std::vector<int64_t>& mine, const std::string&) { return mine; }
void barrier(const std::string&) {}

#endif

}  // namespace graft::dist
