#!/usr/bin/env bash
# The unit tests (graft_tests) built with AddressSanitizer + UndefinedBehaviorSanitizer, in a
# second build folder (build-asan, CPU only). Any report fails the run: ASan aborts at its first
# error, UBSan is made to (-fno-sanitize-recover=all, halt_on_error), and LeakSanitizer runs at exit.
# Called by tests/run_tests.sh when GRAFT_SANITIZERS=1 (on in .ci/run); by hand: bash tests/run_sanitizers.sh.
# SANITIZE_BUILD_DIR picks the folder (default build-asan). Prints "sanitizers: N passed, N failed".
#
# What runs: every graft_tests case, except those named in SKIP below. The PyTorch reference
# files are reused from the main build (GRAFT_REFS) when it has them, so the parity tests run
# too; they are not regenerated here.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${SANITIZE_BUILD_DIR:-build-asan}
refs=${GRAFT_REFS:-$PWD/${BUILD_DIR:-build}/tests/refs}
rm -f "$build/sanitizers.summary"  # run_tests.sh reads it; a stale one must not count

if [ ! -f "$build/build.ninja" ]; then
  # -O1 -g1: ASan's advice (fast enough, stack traces with file:line from line tables only) and a
  # cold build that fits CI; asserts on (b_ndebug=false). -fno-sanitize-recover=all: UBSan stops
  # at its first report like ASan. No CUDA, no MPI (the distributed tests run in the normal build).
  # b_lundef=false: with sanitizers meson advises it (the runtime resolves symbols at load).
  meson setup "$build" -Dcuda=disabled -Dmpi=disabled -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=plain -Doptimization=1 -Ddebug=false -Db_ndebug=false \
    "-Dcpp_args=-g1 -fno-sanitize-recover=all" "-Dcpp_link_args=-fno-sanitize-recover=all" ||
    { echo "sanitizers: 0 passed, 1 failed"; exit 1; }
fi
# Only the unit-test binary and the libraries it links (not graft, the benchmarks, the examples).
if ! ninja -C "$build" ${NINJA_JOBS:+-j "$NINJA_JOBS"} tests/graft_tests; then
  echo "sanitizers: build failed"
  echo "sanitizers: 0 passed, 1 failed"
  exit 1
fi

# Timing-free but slow under ASan (3-10x): the full-size model parities are covered by the
# normal run; under the sanitizers the small models and every layer, loader and decoder run.
SKIP='*VGG16*,*DenseNet121*,*densenet121*,*vgg16*'
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export OMP_NUM_THREADS=2 GRAFT_REFS="$refs" GRAFT_TOOLS="$PWD/tools"
log="$build/sanitizers.log"
start=$(date +%s)
"$build/tests/graft_tests" --duration=false -tce="$SKIP" 2>&1 | tee "$log" | grep -E "ERROR|Sanitizer|runtime error|test cases|Status" 
rc=${PIPESTATUS[0]}
echo "sanitizers: graft_tests took $(( $(date +%s) - start )) s"
read -r passed failed < <(grep -h '^\[doctest\] test cases:' "$log" |
  awk -F'|' '{ split($2, p, " "); split($3, f, " "); print p[1] + 0, f[1] + 0 }')
passed=${passed:-0} failed=${failed:-0}
# A sanitizer abort prints no doctest summary: count it as a failure.
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
if grep -qE "runtime error:|ERROR: (Address|Leak)Sanitizer" "$log"; then
  echo "sanitizers: reports found, see $log"
  [ "$failed" -eq 0 ] && failed=1
  rc=1
fi
echo "sanitizers: $passed passed, $failed failed" | tee "$build/sanitizers.summary"
exit "$rc"
