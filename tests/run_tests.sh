#!/usr/bin/env bash
# Builds graft (if needed) and runs the whole test suite with `meson test`.
# Prints one closing line "N passed, N failed" (doctest's test-case counts) and exits
# non-zero on any failure. BUILD_DIR picks the build folder (default: build).
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
echo "$passed passed, $failed failed"
exit "$rc"
