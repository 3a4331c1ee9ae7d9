// src/tensor/cpu_isa.h — one kernel file compiled for several instruction sets.
//
// graft's default build is portable (no -march), so a plain loop compiles to SSE2: a batch
// norm's double sums run one element at a time, an add four floats at a time. The GEMM has its
// own wide variants (gemm_variants.h); the other hot CPU kernel files are compiled three times
// instead, the same source each time (src/meson.build, `isa_kernel_sources`):
//   the build's own flags  -> registered as "reference" (rank 0): the loop to read and test against
//   -mavx2 -mfma           -> "avx2"   (rank 1), on CPUs with AVX2 and FMA
//   AVX-512 F/BW/VL        -> "avx512" (rank 2), on CPUs with AVX-512
// so such a file registers its kernels with `kIsa` for the variant:
//   GRAFT_REGISTER_KERNEL(kernels::relu_forward, CPU, kIsa, relu_forward_cpu);
// GRAFT_MAX_ISA=avx2 makes every AVX-512 variant unsupported, so each table runs its best AVX2
// code (the AVX2 path of an AVX2-only CPU, on an AVX-512 machine); GRAFT_KERNELS='*=avx2' the
// "avx2" copies of these files alone; GRAFT_KERNELS=reference the SSE2 reference loops.
//
// The wider copies may round differently where the compiler contracts a * b + c into one FMA
// (-mfma), which changes the last bit of some results; the tests compare the copies with the
// reference to a stated tolerance (tests/test_isa.cpp).
//
// ODR: every function of such a file must have internal linkage (an anonymous namespace), or
// be compiled in one copy only (`#if GRAFT_ISA_BASELINE`, as conv2d_winograd.cpp's test entry
// points): an inline function with external linkage compiled into two copies with different
// flags is one symbol to the linker, which keeps either — an AVX-512 body could then run on
// any CPU.
// tests/check_isa_symbols.sh fails the build's tests if a copy defines any weak symbol.
#pragma once

namespace graft {

// What this CPU can run (false on other architectures), capped by $GRAFT_MAX_ISA (avx512,
// avx2 or sse2); defined in gemm_cpu.cpp.
bool cpu_has_avx2_fma();
bool cpu_has_avx512();

// The variant that the file being compiled registers (GRAFT_ISA is set by src/meson.build).
struct CpuIsa {
  const char* variant;
  int rank;
  bool (*supported)();  // null: every CPU
};

#if !defined(GRAFT_ISA) || GRAFT_ISA == 0
#define GRAFT_ISA_BASELINE 1  // what only one copy may define (a file's external functions)
static constexpr CpuIsa kIsa{"reference", 0, nullptr};
#elif GRAFT_ISA == 1
#define GRAFT_ISA_BASELINE 0
static constexpr CpuIsa kIsa{"avx2", 1, &cpu_has_avx2_fma};
#elif GRAFT_ISA == 2
#define GRAFT_ISA_BASELINE 0
static constexpr CpuIsa kIsa{"avx512", 2, &cpu_has_avx512};
#else
#error "GRAFT_ISA: 0 (the build's flags), 1 (AVX2+FMA) or 2 (AVX-512)"
#endif

// A file with several variants of its own (pool2d_cpu.cpp: reference, separable, interior)
// names each copy after the variant: GRAFT_ISA_VARIANT("interior", 2) is "interior" of rank 6
// in the baseline build, "interior_avx2" of rank 7 and "interior_avx512" of rank 8 in the
// copies, so the widest copy of the best variant runs and the order of the variants is kept.
// (Rank -1, "only when selected", stays negative.)
#if !defined(GRAFT_ISA) || GRAFT_ISA == 0
#define GRAFT_ISA_SUFFIX ""
#elif GRAFT_ISA == 1
#define GRAFT_ISA_SUFFIX "_avx2"
#else
#define GRAFT_ISA_SUFFIX "_avx512"
#endif
#define GRAFT_ISA_VARIANT(base_name, base_rank) \
  (::graft::CpuIsa{base_name GRAFT_ISA_SUFFIX, 3 * (base_rank) + ::graft::kIsa.rank, ::graft::kIsa.supported})

}  // namespace graft
