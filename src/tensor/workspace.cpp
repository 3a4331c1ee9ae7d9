// src/tensor/workspace.cpp — see workspace.h.
#include "tensor/workspace.h"

#include <cstdlib>
#include <memory>

#include "tensor/check.h"

namespace graft {

namespace {
struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
struct Workspace {
  std::unique_ptr<float, FreeDeleter> data;
  int64_t capacity = 0;
};
}  // namespace

float* thread_workspace(int slot, int64_t n) {
  constexpr int kSlots = 6;
  thread_local Workspace spaces[kSlots];
  GRAFT_ASSERT(slot >= 0 && slot < kSlots, "thread_workspace", "slot ", slot, " is not in 0..", kSlots - 1);
  Workspace& w = spaces[slot];
  if (n > w.capacity) {
    const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
    w.data.reset();  // free first: the old and new buffers need not coexist
    w.capacity = 0;
    w.data.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    GRAFT_CHECK_DATA(w.data, "thread_workspace", "out of host memory for ", n,
                     " floats of scratch; use a smaller batch or image size");
    w.capacity = n;
  }
  return w.data.get();
}

}  // namespace graft
