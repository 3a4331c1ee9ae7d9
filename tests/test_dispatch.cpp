// tests/test_dispatch.cpp — the kernel tables (tensor/dispatch.h), the device tables
// (tensor/device.h) and the caching allocator's policy (tensor/caching_allocator.h).
//
// A table of this file's own, `twice`, has three CPU variants whose results tell them apart:
// the reference (rank 0), a fast one (rank 1) and one that no machine can run (rank 2), so the
// choice rules can be checked exactly, whatever the CPU.
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "layers/activation.h"
#include "layers/conv2d.h"
#include "tensor/caching_allocator.h"
#include "tensor/device.h"
#include "tensor/dispatch.h"
#include "tensor/gemm.h"
#include "testing.h"

using namespace graft;

namespace test_kernels {
GRAFT_DECLARE_KERNEL(twice, int(int x));
}  // namespace test_kernels

namespace {
int twice_reference(int x) { return 2 * x; }
int twice_fast(int x) { return 2 * x + 1000; }  // +1000: a different answer, to see which ran
int twice_impossible(int) { return -1; }
bool never() { return false; }
}  // namespace

GRAFT_DEFINE_KERNEL(test_kernels::twice);
GRAFT_REGISTER_KERNEL(test_kernels::twice, CPU, "reference", twice_reference);
GRAFT_REGISTER_KERNEL(test_kernels::twice, CPU, "fast", twice_fast, 1);
GRAFT_REGISTER_KERNEL(test_kernels::twice, CPU, "impossible", twice_impossible, 2, never);

TEST_CASE("dispatch: the highest-ranked variant this machine runs is the default") {
  KernelSelectionGuard defaults("");
  CHECK(test_kernels::twice.name() == std::string("twice"));
  CHECK(test_kernels::twice(Device::CPU, 5) == 1010);  // "fast": "impossible" cannot run
  CHECK(test_kernels::twice.variant(Device::CPU) == "fast");
  const auto v = test_kernels::twice.variants(Device::CPU);  // highest rank first
  REQUIRE(v.size() == 3);
  CHECK(v[0].name == "impossible");
  CHECK_FALSE(v[0].supported);
  CHECK(v[2].name == "reference");
  CHECK(v[2].rank == 0);
  CHECK(test_kernels::twice.call_variant(Device::CPU, "reference", 5) == 10);
  CHECK_THROWS_WITH(test_kernels::twice.call_variant(Device::CPU, "impossible", 5),
                    doctest::Contains("cannot run on this machine"));
  CHECK_THROWS_WITH(test_kernels::twice.call_variant(Device::CPU, "slow", 5),
                    doctest::Contains("no variant 'slow' for cpu (variants: impossible, fast, reference (reference))"));
}

TEST_CASE("dispatch: a device without an entry fails loudly, naming the kernel") {
  CHECK_FALSE(test_kernels::twice.has(Device::CUDA));
  CHECK_THROWS_WITH(test_kernels::twice(Device::CUDA, 5), doctest::Contains("twice: not built for cuda"));
  if (!kernels::gemm.has(Device::CUDA)) {  // a build without CUDA: no CUDA entry anywhere
    float a = 1, b = 1, c = 0;
    CHECK_THROWS_WITH(gemm(Device::CUDA, false, false, 1, 1, 1, 1.0f, &a, &b, 0.0f, &c),
                      doctest::Contains("gemm: not built for cuda (graft was built without CUDA"));
    CHECK_THROWS_WITH(Tensor::empty({4}, DType::Float32, Device::CUDA), doctest::Contains("allocate: not built for cuda"));
    CHECK_FALSE(cuda_available());
    CHECK(device_summary(Device::CUDA).find("without CUDA") != std::string::npos);
    CHECK(memory_stats(Device::CUDA).allocated_bytes == 0);
  }
}

TEST_CASE("dispatch: selections pick variants by name, by pattern and by keyword") {
  {
    KernelSelectionGuard s("twice=reference");
    CHECK(test_kernels::twice(Device::CPU, 5) == 10);
    CHECK(kernel_selection() == "twice=reference");
  }
  CHECK(test_kernels::twice(Device::CPU, 5) == 1010);  // the guard restored the defaults
  {
    KernelSelectionGuard s("reference");  // every kernel's rank-0 variant
    CHECK(test_kernels::twice(Device::CPU, 5) == 10);
    CHECK(kernels::conv2d_forward.variant(Device::CPU) == "reference");
    CHECK(kernels::gemm.variant(Device::CPU) == "eigen");
  }
  {
    KernelSelectionGuard s("t*=reference,twice=fast");  // a pattern, then a later rule that wins
    CHECK(test_kernels::twice(Device::CPU, 5) == 1010);
  }
  {
    KernelSelectionGuard s("reference,twice=default");
    CHECK(test_kernels::twice(Device::CPU, 5) == 1010);
    CHECK(kernels::relu_forward.variant(Device::CPU) == "reference");
  }
  CHECK_THROWS_WITH(select_kernels("twice=impossible"), doctest::Contains("this machine cannot run it"));
  CHECK_THROWS_WITH(select_kernels("twise=fast"), doctest::Contains("no kernel matches 'twise'"));
  CHECK_THROWS_WITH(select_kernels("twice=quick"), doctest::Contains("has a variant 'quick'"));
  CHECK_THROWS_WITH(select_kernels("twice"), doctest::Contains("expected 'reference', 'default' or KERNEL=VARIANT"));
  CHECK(test_kernels::twice(Device::CPU, 5) == 1010);  // a rejected selection changes nothing
}

TEST_CASE("dispatch: the registry lists every table, and the report says what runs") {
  std::set<std::string> names;
  for (const KernelTable* t : registered_kernels()) names.insert(t->name());
  for (const char* k : {"twice", "gemm", "conv2d_forward", "relu_backward", "cross_entropy_forward", "sgd_update",
                        "adam_update", "allocate", "copy_bytes", "fill"})
    CHECK_MESSAGE(names.count(k) == 1, k);
  const std::string report = kernel_report();
  CHECK(report.find("twice: cpu fast [impossible(n/a) fast reference*]") != std::string::npos);
  // conv2d: Winograd (conv2d_winograd.cpp) first; its dx variant, "winograd4_infer" (Winograd in
  // inference only) and the im2col ones (conv2d_cpu_batched.cpp) have rank -1, run only when
  // selected (in either order: equal ranks)
  const auto line_of = [&](const std::string& prefix) {
    const size_t at = report.find(prefix);
    REQUIRE(at != std::string::npos);
    return report.substr(at, report.find('\n', at) - at);
  };
  // conv2d_winograd.cpp is compiled once per instruction set (tensor/cpu_isa.h): each Winograd
  // variant has a baseline copy and, on x86-64, an _avx2 and an _avx512 one ranked above it.
  std::string copies;
  for (const std::string base : {"winograd4", "winograd"}) {
#if defined(GRAFT_GEMM_X86_VARIANTS)
    copies += base + "_avx512" + (cpu_has_avx512() ? "" : "(n/a)") + " ";
    copies += base + "_avx2" + (cpu_has_avx2_fma() ? "" : "(n/a)") + " ";
#endif
    copies += base + " ";
  }
  const std::string best = copies.substr(0, copies.find_first_of(" ("));
  const std::string fw = line_of("conv2d_forward: cpu " + best + " [" + copies + "batched reference* ");
  CHECK(fw.find(" im2col") != std::string::npos);
  CHECK(fw.find(" winograd4_infer") != std::string::npos);
  const std::string dx = line_of("conv2d_backward_input: cpu batched [batched reference* ");
  CHECK(dx.find(" winograd") != std::string::npos);
  CHECK(dx.find(" im2col") != std::string::npos);
}

// ---- the caching allocator's policy, on a counting fake of the driver ---------------------------

namespace {
struct FakeDriver {
  static inline int64_t mallocs = 0, frees = 0;
  static inline size_t limit = 1 << 30, in_use = 0;  // what the fake device holds
  static inline std::vector<std::pair<void*, size_t>> blocks;
  static void* malloc(size_t bytes) {
    if (in_use + bytes > limit) return nullptr;  // out of memory
    ++mallocs;
    in_use += bytes;
    void* p = ::operator new(bytes);
    blocks.emplace_back(p, bytes);
    return p;
  }
  static void free(void* p) {
    ++frees;
    for (auto it = blocks.begin(); it != blocks.end(); ++it)
      if (it->first == p) {
        in_use -= it->second;
        blocks.erase(it);
        break;
      }
    ::operator delete(p);
  }
  static void info(size_t* free_b, size_t* total) {
    *free_b = limit - in_use;
    *total = limit;
  }
};
}  // namespace

TEST_CASE("caching allocator: size classes, reuse without the driver, empty_cache, out of memory") {
  // Size classes: 512 B granules below 1 MiB, 1/8-power-of-two steps above (hand-worked).
  CHECK(allocation_size_class(0) == 0);
  CHECK(allocation_size_class(1) == 512);
  CHECK(allocation_size_class(513) == 1024);
  CHECK(allocation_size_class(1 << 20) == (1 << 20));
  CHECK(allocation_size_class((1 << 20) + 1) == (1 << 20) + (1 << 17));
  CHECK(allocation_size_class(3 << 20) == (3 << 20));  // 3 MiB = 2 MiB + 4 * 256 KiB

  FakeDriver::mallocs = FakeDriver::frees = 0;
  FakeDriver::limit = 8 << 20;
  CachingAllocator a(RawAllocator{FakeDriver::malloc, FakeDriver::free, FakeDriver::info, "FAKE", "device 0"});
  const size_t bytes = 3 * 1000 * 1000 + 4;  // an odd size, rounded up to its class
  void* p = a.allocate(bytes);
  MemoryStats s = a.stats();
  CHECK(s.allocated_bytes == allocation_size_class(bytes));
  CHECK(s.reserved_bytes == allocation_size_class(bytes));
  CHECK(s.driver_malloc_calls == 1);
  a.release(p);
  CHECK(a.stats().allocated_bytes == 0);
  CHECK(a.stats().reserved_bytes == allocation_size_class(bytes));  // kept in the cache
  void* q = a.allocate(bytes - 100);  // the same class: the same block, no driver call
  CHECK(q == p);
  CHECK(FakeDriver::mallocs == 1);
  CHECK(a.stats().peak_allocated_bytes == allocation_size_class(bytes));
  CHECK_THROWS_AS(a.release(reinterpret_cast<void*>(&s)), std::logic_error);  // not one of its blocks

  // 3.1 MB in use, 3.1 MB cached after this release; asking for 6 MB of another class exceeds
  // the 8 MB device: the cache is given back (a driver free) and the retry succeeds.
  void* r = a.allocate(1 << 20);
  a.release(q);
  void* big = a.allocate(6 << 20);
  CHECK(big != nullptr);
  CHECK(FakeDriver::frees == 1);
  CHECK(a.stats().driver_free_calls == 1);
  // Nothing left to give back: the error names the size, what is free and held, and what to do.
  try {
    a.allocate(4 << 20);
    FAIL("allocated past the device's memory");
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    CHECK(m.find("FAKE out of memory: tried to allocate 4.0 MiB") != std::string::npos);
    CHECK(m.find("on device 0, which has 1.0 MiB free of 8.0 MiB") != std::string::npos);
    CHECK(m.find("graft holds 7.0 MiB in tensors") != std::string::npos);
    CHECK(m.find("smaller batch") != std::string::npos);
  }
  a.release(r);
  a.release(big);
  a.empty_cache();
  CHECK(a.stats().reserved_bytes == 0);
  CHECK(FakeDriver::blocks.empty());
}

TEST_CASE("device tables: the CPU is always there and copies host memory") {
  CHECK(device_available(Device::CPU));
  CHECK(memory_stats(Device::CPU).allocated_bytes == 0);  // no allocator statistics on the CPU
  std::vector<float> src = {1, 2, 3}, dst(3);
  device_copy(dst.data(), Device::CPU, src.data(), Device::CPU, 3 * sizeof(float));
  CHECK(dst == src);
  void* p = device_malloc(Device::CPU, 100);
  CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);  // aligned for AVX-512 loads
  device_free(Device::CPU, p, 100);
}
