// src/tensor/fast_paths.cpp — see fast_paths.h.
#include "tensor/fast_paths.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

namespace graft {

namespace {
std::atomic<bool>& fast_flag() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("GRAFT_REFERENCE");
    return !(v && std::strcmp(v, "") != 0 && std::strcmp(v, "0") != 0);
  }()};
  return on;
}

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
struct Workspace {
  std::unique_ptr<float, FreeDeleter> data;
  int64_t capacity = 0;
};
}  // namespace

bool fast_paths_enabled() { return fast_flag().load(std::memory_order_relaxed); }
void set_fast_paths(bool on) { fast_flag().store(on); }

float* thread_workspace(int slot, int64_t n) {
  constexpr int kSlots = 6;
  thread_local Workspace spaces[kSlots];
  if (slot < 0 || slot >= kSlots)
    throw std::invalid_argument("thread_workspace: slot " + std::to_string(slot) + " is not in 0..5");
  Workspace& w = spaces[slot];
  if (n > w.capacity) {
    const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
    w.data.reset();  // free first: the old and new buffers need not coexist
    w.capacity = 0;
    w.data.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!w.data)
      throw std::runtime_error("thread_workspace: out of host memory for " + std::to_string(n) +
                               " floats of scratch; use a smaller batch or image size");
    w.capacity = n;
  }
  return w.data.get();
}

}  // namespace graft
