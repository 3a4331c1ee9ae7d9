#!/bin/sh
# tests/check_isa_symbols.sh LIB... — the per-instruction-set copies of the CPU kernel files
# (src/tensor/cpu_isa.h) and graft's AVX2 / AVX-512 GEMM libraries must not define weak symbols: the linker keeps one copy of a weak
# symbol for the whole program, and if it kept the AVX-512 copy, the baseline code would run
# AVX-512 instructions (SIGILL on an AVX2 CPU). Such a symbol appears when a kernel file uses an
# inline function or template with external linkage that the compiler does not inline (an
# error message's formatting, a helper in a header outside an anonymous namespace).
# DW.ref.__gxx_personality_v0 (exception tables' pointer to the C++ runtime) is data, the same
# in every copy, and allowed.
status=0
for lib in "$@"; do
  weak=$(nm -C --defined-only "$lib" | grep -E ' [WVu] ' | grep -v 'DW\.ref\.__gxx_personality_v0')
  if [ -n "$weak" ]; then
    echo "$lib defines weak symbols (give them internal linkage, or keep that code out of isa_kernel_sources):"
    echo "$weak"
    status=1
  else
    echo "$lib: no weak symbols"
  fi
done
exit $status
