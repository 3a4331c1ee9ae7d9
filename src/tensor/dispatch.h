// src/tensor/dispatch.h — kernel tables: the one place where work is sent to a device.
//
// An op (relu, conv2d, an SGD step) is written once: its checks, its output shapes and its
// autograd, forward and backward side by side. The arithmetic is done by kernels, and every
// kernel is a table with an entry per device, filled when the program starts by the backend
// files that were built (PyTorch's DispatchStub, ggml's backend function tables):
//
//   // relu.h — the kernel and its one signature, the same on every device:
//   namespace kernels { GRAFT_DECLARE_KERNEL(relu_forward, void(const Tensor& x, Tensor& y)); }
//   // relu.cpp — the op defines the table and calls it; the device comes from the tensor:
//   GRAFT_DEFINE_KERNEL(kernels::relu_forward);
//   kernels::relu_forward(x.device(), x, y);
//   // relu_cpu.cpp and relu.cu — each backend registers what it implements:
//   GRAFT_REGISTER_KERNEL(kernels::relu_forward, CPU, "reference", relu_forward_cpu);
//   GRAFT_REGISTER_KERNEL(kernels::relu_forward, CUDA, "cuda", relu_forward_cuda);
//
// A device with no entry fails loudly and names the kernel: "relu_forward: not built for cuda
// (graft was built without CUDA: ...)". Nothing ever falls back to another device.
//
// Variants. A device may have several entries for one kernel, each with a rank: rank 0 is the
// reference (the plain loop, kept to read and to test the others against, as llm.c keeps
// matmul_forward_naive), higher ranks are fast paths (a batched convolution, an AVX-512 GEMM).
// The highest-ranked variant this machine supports runs, unless a selection says otherwise:
//   GRAFT_KERNELS=reference                     every kernel's reference (the "before" timing)
//   GRAFT_KERNELS=gemm=avx2                     force one variant (the AVX2 path on an AVX-512 CPU)
//   GRAFT_KERNELS='conv2d_*=reference,gemm=eigen'   patterns end in '*'; later entries win
// or select_kernels("...") from code (the tests do). "reference" and "default" are keywords:
// the rank-0 variant, and the automatic choice.
//
// Registration runs from static initializers, so the backend libraries are linked whole
// (meson.build: link_whole); the tables themselves are constinit, so they exist before any
// registrar runs, whatever order the files are initialized in.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tensor/cpu_isa.h"
#include "tensor/tensor.h"

namespace graft {

constexpr int kDeviceCount = 2;  // Device::CPU, Device::CUDA

// The type-independent part of a kernel table (dispatch.cpp): entries, choice, registry.
class KernelTable {
 public:
  using AnyFn = void (*)();

  constexpr explicit KernelTable(const char* name) : name_(name) {}
  KernelTable(const KernelTable&) = delete;
  KernelTable& operator=(const KernelTable&) = delete;

  const char* name() const { return name_; }
  bool has(Device d) const { return count_[index(d)] > 0; }
  // The variant that runs on d now ("avx512"); throws like a call when d has none.
  std::string variant(Device d) const;
  // Every variant registered for d, highest rank first, and whether this machine can run it.
  struct VariantInfo {
    std::string name;
    int rank;
    bool supported;
  };
  std::vector<VariantInfo> variants(Device d) const;

  // Called by GRAFT_REGISTER_KERNEL. rank 0 is the reference; `supported` (may be null: always)
  // says whether this machine can run the variant (e.g. the CPU has AVX-512).
  bool add(Device d, const char* variant, AnyFn fn, int rank, bool (*supported)());

 protected:
  // The function to call on d: cached, re-chosen after select_kernels(). Throws "not built".
  AnyFn resolve(Device d) const {
    const int i = index(d);
    const unsigned now = selection_generation();
    if (chosen_generation_[i].load(std::memory_order_acquire) == now) return chosen_[i].load(std::memory_order_relaxed);
    return choose(d, now);
  }
  // The entry named `variant` on d; throws naming the variants that exist.
  AnyFn variant_fn(Device d, const std::string& variant) const;

 private:
  friend void select_kernels(const std::string& spec);
  friend std::vector<const KernelTable*> registered_kernels();
  static constexpr int kMaxVariants = 16;  // per device: conv2d_forward has 3 copies of its Winograd variants
  struct Entry {
    const char* variant = nullptr;
    AnyFn fn = nullptr;
    int rank = 0;
    bool (*supported)() = nullptr;
  };
  static constexpr int index(Device d) { return d == Device::CPU ? 0 : 1; }
  static unsigned selection_generation();
  AnyFn choose(Device d, unsigned generation) const;
  const Entry* pick(Device d) const;  // by the current selection

  const char* name_;
  Entry entries_[kDeviceCount][kMaxVariants] = {};
  int count_[kDeviceCount] = {};
  mutable std::atomic<AnyFn> chosen_[kDeviceCount] = {};
  mutable std::atomic<unsigned> chosen_generation_[kDeviceCount] = {};
  KernelTable* next_ = nullptr;  // the list of tables that have an entry (registered_kernels)
};

template <class Signature>
class Kernel;

// A table of functions with one signature: kernel(device, args...) calls the chosen entry.
template <class R, class... Args>
class Kernel<R(Args...)> : public KernelTable {
 public:
  using Fn = R (*)(Args...);
  constexpr explicit Kernel(const char* name) : KernelTable(name) {}

  R operator()(Device d, Args... args) const {
    return reinterpret_cast<Fn>(resolve(d))(std::forward<Args>(args)...);
  }
  // Calls one variant by name (the tests compare variants); throws if it is not there or this
  // machine cannot run it.
  R call_variant(Device d, const std::string& variant, Args... args) const {
    return reinterpret_cast<Fn>(variant_fn(d, variant))(std::forward<Args>(args)...);
  }
  bool add(Device d, const char* variant, Fn fn, int rank = 0, bool (*supported)() = nullptr) {
    return KernelTable::add(d, variant, reinterpret_cast<AnyFn>(fn), rank, supported);
  }
  // The entry of a file compiled once per instruction set (cpu_isa.h): variant, rank and check.
  bool add(Device d, const CpuIsa& isa, Fn fn) { return add(d, isa.variant, fn, isa.rank, isa.supported); }
};

// Replaces the current selection ("" = the defaults). Throws std::invalid_argument for an
// unknown kernel or variant, or a variant this CPU cannot run, naming what exists.
void select_kernels(const std::string& spec);
// The selection now in force ("" by default, or $GRAFT_KERNELS as read at start-up).
std::string kernel_selection();
// Reads $GRAFT_KERNELS (once; later calls do nothing). Commands call it first so that a typo
// is reported before any work; otherwise the first kernel call does it.
void select_kernels_from_environment();
// Every table with at least one entry, sorted by name.
std::vector<const KernelTable*> registered_kernels();
// One line per kernel: "gemm: cpu avx512 [avx512 eigen_avx2 eigen*]; cuda cublas" ('*': reference).
std::string kernel_report();

// RAII for tests: a selection for one scope, the previous one restored afterwards.
class KernelSelectionGuard {
 public:
  explicit KernelSelectionGuard(const std::string& spec) : previous_(kernel_selection()) { select_kernels(spec); }
  ~KernelSelectionGuard() { select_kernels(previous_); }
  KernelSelectionGuard(const KernelSelectionGuard&) = delete;
  KernelSelectionGuard& operator=(const KernelSelectionGuard&) = delete;

 private:
  std::string previous_;
};

}  // namespace graft

// In a header: the table and its signature. In the op's .cpp: its definition. In a backend
// file: an entry. The table's name is the text after the last "::" ("relu_forward").
#define GRAFT_DECLARE_KERNEL(table, signature) extern ::graft::Kernel<signature> table
#define GRAFT_DEFINE_KERNEL(table) constinit decltype(table) table{::graft::detail::kernel_name(#table)}
#define GRAFT_REGISTER_KERNEL(table, device, variant, ...)                                             \
  [[maybe_unused]] static const bool GRAFT_KERNEL_CONCAT(graft_kernel_entry_, __COUNTER__) =           \
      (table).add(::graft::Device::device, variant, __VA_ARGS__)
#define GRAFT_KERNEL_CONCAT_(a, b) a##b
#define GRAFT_KERNEL_CONCAT(a, b) GRAFT_KERNEL_CONCAT_(a, b)

// Several entries of one backend file at once, by the naming rule "table kernels::add, function
// add_cpu": GRAFT_REGISTER_KERNELS(CPU, "reference", _cpu, add, sub) is
//   GRAFT_REGISTER_KERNEL(kernels::add, CPU, "reference", add_cpu);
//   GRAFT_REGISTER_KERNEL(kernels::sub, CPU, "reference", sub_cpu);
// (The C++20 for-each idiom: GRAFT_KERNEL_EXPAND rescans the list until every name is used.)
#define GRAFT_REGISTER_KERNELS(device, variant, suffix, ...) \
  __VA_OPT__(GRAFT_KERNEL_EXPAND(GRAFT_KERNEL_EACH(device, variant, suffix, __VA_ARGS__)))
#define GRAFT_KERNEL_EACH(device, variant, suffix, name, ...)                      \
  GRAFT_REGISTER_KERNEL(kernels::name, device, variant, name##suffix)             \
  __VA_OPT__(; GRAFT_KERNEL_EACH_AGAIN GRAFT_KERNEL_PARENS(device, variant, suffix, __VA_ARGS__))
// GRAFT_DEFINE_KERNELS(add, sub) is GRAFT_DEFINE_KERNEL(kernels::add); GRAFT_DEFINE_KERNEL(kernels::sub);
#define GRAFT_DEFINE_KERNELS(...) __VA_OPT__(GRAFT_KERNEL_EXPAND(GRAFT_KERNEL_DEFINE_EACH(__VA_ARGS__)))
#define GRAFT_KERNEL_DEFINE_EACH(name, ...) \
  GRAFT_DEFINE_KERNEL(kernels::name) __VA_OPT__(; GRAFT_KERNEL_DEFINE_AGAIN GRAFT_KERNEL_PARENS(__VA_ARGS__))
#define GRAFT_KERNEL_DEFINE_AGAIN() GRAFT_KERNEL_DEFINE_EACH
#define GRAFT_KERNEL_PARENS ()
#define GRAFT_KERNEL_EACH_AGAIN() GRAFT_KERNEL_EACH
#define GRAFT_KERNEL_EXPAND(...) GRAFT_KERNEL_EXPAND3(GRAFT_KERNEL_EXPAND3(GRAFT_KERNEL_EXPAND3(__VA_ARGS__)))
#define GRAFT_KERNEL_EXPAND3(...) GRAFT_KERNEL_EXPAND2(GRAFT_KERNEL_EXPAND2(GRAFT_KERNEL_EXPAND2(__VA_ARGS__)))
#define GRAFT_KERNEL_EXPAND2(...) GRAFT_KERNEL_EXPAND1(GRAFT_KERNEL_EXPAND1(GRAFT_KERNEL_EXPAND1(__VA_ARGS__)))
#define GRAFT_KERNEL_EXPAND1(...) __VA_ARGS__

namespace graft::detail {
// "kernels::relu_forward" -> "relu_forward", at compile time.
constexpr const char* kernel_name(const char* qualified) {
  const char* last = qualified;
  for (const char* p = qualified; *p; ++p)
    if (*p == ':') last = p + 1;
  return last;
}
}  // namespace graft::detail
