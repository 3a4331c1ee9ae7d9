#!/usr/bin/env bash
# The threaded tests under ThreadSanitizer, in a build folder of their own (build-tsan, CPU only,
# clang). Any report fails the run (halt_on_error). Called by tests/run_tests.sh when GRAFT_TSAN=1
# (on in .ci/run); by hand: bash tests/run_tsan.sh. TSAN_BUILD_DIR picks the folder. Prints
# "tsan: N passed, N failed".
#
# What runs: graft_thread_tests (tests/meson.build), the loader tests (test_data_loader.cpp:
# 0/1/2/3 workers, caches, skip_bad), test_threads.cpp (the bounded queue with 4 workers, epochs
# stopped and resumed, both caches filled by several workers, errors in workers and in the
# consumer, OpenMP convolution and GEMM beside loader workers), test_perf.cpp (every GEMM variant
# threaded and inside a parallel region, the OpenMP batch-split convolution), test_conv2d.cpp and
# test_tensor.cpp. OMP_NUM_THREADS=2, so every OpenMP region has two threads.
#
# OpenMP: GCC's libgomp is not built with TSan, so its barriers and joins are invisible to it and
# every parallel region reads as a race. This build uses clang with LLVM's libomp and Archer
# (libarcher.so, Debian's libomp-14-dev), an OMPT tool that tells TSan about OpenMP's
# synchronisation (forks, joins, barriers, reductions, locks); ignore_noninstrumented_modules
# keeps TSan from reporting libomp's own internals. The run checks that Archer announced itself,
# so OpenMP regions are never silently unchecked.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${TSAN_BUILD_DIR:-build-tsan}
refs=${GRAFT_REFS:-$PWD/${BUILD_DIR:-build}/tests/refs}
cxx=${TSAN_CXX:-clang++-14}
archer=${TSAN_ARCHER:-/usr/lib/llvm-14/lib/libarcher.so}
mkdir -p "$build"
rm -f "$build/tsan.summary"  # run_tests.sh reads it; a stale one must not count
fail() {
  echo "tsan: $1"
  echo "tsan: 0 passed, 1 failed" | tee "$build/tsan.summary"
  exit 1
}
command -v "$cxx" >/dev/null || fail "$cxx not found: apt-get install clang-14 libomp-14-dev (see .ci/packages.txt)"
[ -f "$archer" ] || fail "$archer not found: apt-get install libomp-14-dev (it ships LLVM's Archer OpenMP tool)"

if [ ! -f "$build/build.ninja" ]; then
  # -O1 -g1: TSan's advice (fast enough, stack traces with file:line) and a short cold build;
  # asserts on (b_ndebug=false). b_lundef=false: the runtime resolves symbols at load.
  CXX="$cxx" meson setup "$build" -Dcuda=disabled -Dmpi=disabled -Db_sanitize=thread -Db_lundef=false \
    -Dbuildtype=plain -Doptimization=1 -Ddebug=false -Db_ndebug=false -Dcpp_args=-g1 || fail "meson setup failed"
fi
ninja -C "$build" ${NINJA_JOBS:+-j "$NINJA_JOBS"} tests/graft_thread_tests || fail "build failed"

export OMP_TOOL_LIBRARIES="$archer" ARCHER_OPTIONS=verbose=1
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:ignore_noninstrumented_modules=1:second_deadlock_stack=1}
export OMP_NUM_THREADS=2 GRAFT_REFS="$refs"
log="$build/tsan.log"
start=$(date +%s)
"$build/tests/graft_thread_tests" --duration=false 2>&1 | tee "$log" | grep -E "ThreadSanitizer|ERROR|test cases|Status"
rc=${PIPESTATUS[0]}
echo "tsan: graft_thread_tests took $(( $(date +%s) - start )) s"
read -r passed failed < <(grep -h '^\[doctest\] test cases:' "$log" |
  awk -F'|' '{ split($2, p, " "); split($3, f, " "); print p[1] + 0, f[1] + 0 }')
passed=${passed:-0} failed=${failed:-0}
# A TSan abort prints no doctest summary: count it as a failure.
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
if grep -q "WARNING: ThreadSanitizer" "$log"; then
  echo "tsan: reports found, see $log"
  [ "$failed" -eq 0 ] && failed=1
  rc=1
fi
if ! grep -q "Archer detected OpenMP application with TSan" "$log"; then
  echo "tsan: Archer did not load ($archer), so OpenMP regions were not checked"
  [ "$failed" -eq 0 ] && failed=1
  rc=1
fi
echo "tsan: $passed passed, $failed failed" | tee "$build/tsan.summary"
exit "$rc"
