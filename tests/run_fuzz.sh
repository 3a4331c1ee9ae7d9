#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz (docs/reliability.md "Fuzzing"): builds them with clang
# (ASan + UBSan + libFuzzer) in a build folder of their own, then runs each for FUZZ_SECONDS
# (default 30) starting from its seed corpus tests/fuzz/corpus/<target>/.
# Prints one line "fuzz: N passed, N failed" (a target passes when it ran its time without a
# crash, sanitizer report, hang or memory blow-up) and exits non-zero when one failed; the input
# that failed is kept under <build>/fuzz-crashes/ and printed in base64, so a CI log is enough
# to reproduce it:  echo <base64> | base64 -d > crash && build-fuzz/tests/fuzz/fuzz_<target> crash
#
# Environment: FUZZ_SECONDS (0: only replay the corpus once), FUZZ_TARGETS (default: all),
# FUZZ_BUILD_DIR (default build-fuzz), FUZZ_CXX / FUZZ_CC (default clang++-14 / clang-14, else
# clang++ / clang), FUZZ_JOBS (ninja -j, default 2: the CI machine has 2 cores).
# Called by tests/run_tests.sh when GRAFT_FUZZ=1; by hand: bash tests/run_fuzz.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-30}
targets=${FUZZ_TARGETS:-image csv idx transform_spec layer_spec hdf5}
rm -f "$build/fuzz.summary"  # run_tests.sh reads it; a stale one must not count

summary() {
  echo "fuzz: $1 passed, $2 failed"
  mkdir -p "$build" && echo "fuzz: $1 passed, $2 failed" > "$build/fuzz.summary"
}

cxx=${FUZZ_CXX:-$(command -v clang++-14 || command -v clang++)}
cc=${FUZZ_CC:-$(command -v clang-14 || command -v clang)}
if [ -z "$cxx" ] || [ -z "$cc" ]; then
  echo "fuzz: clang not found; install clang-14 and libclang-rt-14-dev (see .ci/packages.txt)"
  summary 0 1
  exit 1
fi

start=$(date +%s)
if [ ! -f "$build/build.ninja" ]; then
  # No CUDA, no MPI: neither is fuzzed. debugoptimized (-O2 -g): reports with file:line.
  # b_lundef=false: with sanitizers meson advises it (the runtime resolves symbols at load).
  CC="$cc" CXX="$cxx" meson setup "$build" -Dfuzz=enabled -Dcuda=disabled -Dmpi=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized ||
    { echo "fuzz: meson setup failed"; summary 0 1; exit 1; }
fi
exes=()
for t in $targets; do exes+=("tests/fuzz/fuzz_$t"); done
if ! ninja -C "$build" -j "${FUZZ_JOBS:-2}" "${exes[@]}"; then
  echo "fuzz: build failed"
  summary 0 1
  exit 1
fi
echo "fuzz: build took $(( $(date +%s) - start )) s"

# halt_on_error: stop at the first report (the code is also built with -fno-sanitize-recover).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export OMP_NUM_THREADS=1  # the layer-spec target runs small convolutions; one thread is enough
passed=0 failed=0
for t in $targets; do
  seeds=tests/fuzz/corpus/$t
  work=$build/fuzz-corpus/$t  # what this run finds (libFuzzer adds new inputs to the first folder)
  crashes=$build/fuzz-crashes
  mkdir -p "$work" "$crashes"
  rm -f "$crashes/$t-"*
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=("-dict=tests/fuzz/$t.dict")
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: memory beyond 2 GB is a blow-up
  # (libFuzzer's malloc limit is the same number: one allocation above it fails the target).
  if [ "$seconds" = 0 ]; then run=(-runs=0); else run=(-max_total_time="$seconds"); fi
  log=$build/fuzz-$t.log
  t0=$(date +%s)
  "$build/tests/fuzz/fuzz_$t" "${run[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    "${dict[@]}" -artifact_prefix="$crashes/$t-" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz: $t passed ($(( $(date +%s) - t0 )) s, ${runs:-?} inputs)"
  else
    failed=$((failed + 1))
    echo "fuzz: $t FAILED (exit $rc after $(( $(date +%s) - t0 )) s); the end of $log:"
    grep -vE '^(#[0-9]+|\s+NEW_FUNC|INFO:|MS:|".*" # Uses:)' "$log" | tail -40
    for f in "$crashes/$t-"*; do
      [ -f "$f" ] || continue
      echo "fuzz: failing input $f ($(stat -c %s "$f") bytes), base64:"
      head -c 8192 "$f" | base64 -w 0; echo
    done
  fi
done
summary "$passed" "$failed"
[ "$failed" -eq 0 ]
