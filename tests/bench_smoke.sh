#!/bin/sh
# tests/bench_smoke.sh GRAFT — `graft bench` runs end to end on a tiny configuration
# (resnet18, batch 1, 64x64 images, 1 step per mode, no PyTorch) and prints a table row with
# a positive images/s for each mode. No timing assertion: the machine may be busy.
# (32x32 would leave one value per channel at the last batch norm, which training mode
# rejects, as PyTorch does.)
set -u
graft="$1"
out=$("$graft" bench --models resnet18 --configs 1x64 --reps 1 --warmup 0 --threads 1 2>&1)
status=$?
echo "$out"
if [ $status -ne 0 ]; then echo "bench_smoke: graft bench exited with $status"; exit 1; fi
for mode in infer train frozen; do
  # "| resnet18 | infer | 1 | 32 | 123.4 (..." -> the 6th |-separated field starts with img/s
  ips=$(echo "$out" | awk -F'|' -v m="$mode" '$2 ~ /resnet18/ && $3 ~ m { split($6, a, " "); print a[1] }')
  if [ -z "$ips" ]; then echo "bench_smoke: no table row for mode $mode"; exit 1; fi
  if ! awk -v v="$ips" 'BEGIN { exit !(v + 0 > 0) }'; then
    echo "bench_smoke: images/s for $mode is '$ips', expected a positive number"; exit 1
  fi
done
# GRAFT_MAX_ISA=avx2 caps every kernel table at its AVX2 code (src/tensor/cpu_isa.h): the
# header names the variants that ran. On a CPU without AVX2 the cap changes nothing to check.
if grep -q ' avx2' /proc/cpuinfo 2>/dev/null && grep -q ' fma' /proc/cpuinfo; then
  capped=$(GRAFT_MAX_ISA=avx2 "$graft" bench --models resnet18 --modes infer --configs 1x64 --reps 1 --warmup 0 --threads 1 2>&1)
  echo "$capped" | head -3
  echo "$capped" | grep -q 'kernels: gemm avx2,.* batch norm avx2' ||
    { echo "bench_smoke: GRAFT_MAX_ISA=avx2 did not run the AVX2 variants"; exit 1; }
fi
bad=$(GRAFT_MAX_ISA=avx3 "$graft" bench --models resnet18 --modes infer --configs 1x64 --reps 1 --warmup 0 2>&1)
if [ $? -eq 0 ] || ! echo "$bad" | grep -q "GRAFT_MAX_ISA='avx3': use avx512, avx2 or sse2"; then
  echo "bench_smoke: GRAFT_MAX_ISA=avx3 was not refused with a clear message: $bad"; exit 1
fi
echo "bench_smoke: ok"
