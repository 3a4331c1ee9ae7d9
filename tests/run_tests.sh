#!/usr/bin/env bash
# Builds graft (if needed) and runs the whole test suite with `meson test`.
# Prints one closing line "N passed, N failed" (doctest's test-case counts) and exits
# non-zero on any failure. BUILD_DIR picks the build folder (default: build).
# GRAFT_SANITIZERS=1 also runs the unit tests under ASan + UBSan (tests/run_sanitizers.sh),
# GRAFT_TSAN=1 the threaded tests under ThreadSanitizer (tests/run_tsan.sh), GRAFT_FUZZ=1 the
# libFuzzer targets for FUZZ_SECONDS each (tests/run_fuzz.sh); .ci/run sets all three.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" || { echo "0 passed, 1 failed"; exit 1; }
fi
if ! meson compile -C "$build"; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
meson test -C "$build" --print-errorlogs
rc=$?

# Sum the test-case counts that every doctest binary printed.
log="$build/meson-logs/testlog.txt"
read -r passed failed < <(grep -h '^\[doctest\] test cases:' "$log" 2>/dev/null |
  awk -F'|' '{ split($2, p, " "); split($3, f, " "); P += p[1]; F += f[1] } END { print P + 0, F + 0 }')
# A crashed test binary prints no summary: count it as a failure.
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi

# GRAFT_SANITIZERS=1 (on in .ci/run): the unit tests again under ASan + UBSan in a second
# build folder (tests/run_sanitizers.sh); their counts join the closing line.
if [ "${GRAFT_SANITIZERS:-0}" = 1 ]; then
  GRAFT_REFS="$(cd "$build" && pwd)/tests/refs" bash tests/run_sanitizers.sh
  san_rc=$?
  read -r sp sf < <(sed -n 's/^sanitizers: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' \
    "${SANITIZE_BUILD_DIR:-build-asan}/sanitizers.summary" 2>/dev/null)
  passed=$((passed + ${sp:-0}))
  failed=$((failed + ${sf:-1}))
  if [ "$san_rc" -ne 0 ]; then rc=1; fi
fi

# GRAFT_TSAN=1 (on in .ci/run): the loader and threaded-kernel tests under ThreadSanitizer in a
# third build folder (tests/run_tsan.sh); their counts join the closing line too.
if [ "${GRAFT_TSAN:-0}" = 1 ]; then
  GRAFT_REFS="$(cd "$build" && pwd)/tests/refs" bash tests/run_tsan.sh
  tsan_rc=$?
  read -r tp tf < <(sed -n 's/^tsan: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' \
    "${TSAN_BUILD_DIR:-build-tsan}/tsan.summary" 2>/dev/null)
  passed=$((passed + ${tp:-0}))
  failed=$((failed + ${tf:-1}))
  if [ "$tsan_rc" -ne 0 ]; then rc=1; fi
fi

# GRAFT_FUZZ=1 (on in .ci/run): every fuzz target for FUZZ_SECONDS (default 30) in its
# own build folder (tests/run_fuzz.sh); a target is one test case in the closing line.
if [ "${GRAFT_FUZZ:-0}" = 1 ]; then
  bash tests/run_fuzz.sh
  fuzz_rc=$?
  read -r fp ff < <(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' \
    "${FUZZ_BUILD_DIR:-build-fuzz}/fuzz.summary" 2>/dev/null)
  passed=$((passed + ${fp:-0}))
  failed=$((failed + ${ff:-1}))
  if [ "$fuzz_rc" -ne 0 ]; then rc=1; fi
fi

echo "$passed passed, $failed failed"
exit "$rc"
