#!/usr/bin/env bash
# gpu-check.sh: the one command that checks the CUDA backend on a real GPU machine.
#
# The GPU machine has CUDA 13 (NVRTC, cuBLAS, driver 580) but no .NET SDK and no network, and
# receives at most 64 MiB; so fsr is published here, on the CPU machine, as a self-contained,
# trimmed bundle, and travels with the repository:
#
#   scripts/gpu-check.sh publish     # CPU machine: writes build/gpu-fsr (about 40 MiB) and checks it
#
# which runs
#   cmake -S native -B build/gpu-native-cmake -DCMAKE_BUILD_TYPE=Release -DFSR_PORTABLE=ON -DFSR_BLAS_ORDER=none \
#         -DFSR_OUTPUT_DIR=build/gpu-native && cmake --build build/gpu-native-cmake
#   dotnet publish src/FastSelfReward.Cli -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true \
#         -p:TrimMode=partial -p:SuppressTrimAnalysisWarnings=true -p:JsonSerializerIsReflectionEnabledByDefault=true \
#         -o build/gpu-fsr
# then copies the portable libfsr_native.so (generic x86-64, no OpenBLAS: the GPU machine's CPU
# and libraries are unknown) and libgomp over the ones the publish picked up, checks the bundle is
# under 64 MiB, and runs the published binary here: `fsr info`, `fsr selftest --device emulated`
# and `fsr bench --short --device emulated --config tiny`.
# TrimMode=partial trims the framework only: the CLI parser and the JSON settings reflect over
# this project's types, which full trimming would remove.
#
#   scripts/gpu-check.sh             # GPU machine (build/gpu-fsr carried along): about 1-5 minutes
#
# rebuilds the bundle's libfsr_native against the toolkit's nvtx3 headers when g++ is there (so
# Nsight Systems sees the NVTX ranges), then runs `fsr info` (limit 60 s), `fsr selftest --device
# cuda` (every kernel against the CPU kernels in fp32 and bf16 storage, training parity in fp32 and
# bf16 mixed precision; limit 240 s), `fsr selftest --collectives --device cuda` (sums of GPU buffers
# over a job of one: NCCL when libnccl.so.2 is present, and three ZeRO-1 training steps of a bf16 model
# through them against three without, bit for bit; limit 60 s) and `fsr bench --device cuda --short` (the bench and 1b
# configs; limit: what is left of five minutes, at least 120 s), then prints a summary with the
# bench's key numbers; exit code 1 when a step fails. Each step's output and the bench's JSON
# (bench-cuda.json) are saved in $OUT/gpu-check when OUT is set (a caller that collects $OUT gets
# them back), else in build/gpu-check.
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bundle="$root/build/gpu-fsr"
limit_mib=64

# One line per config of a bench JSON: training tokens/s, TFLOP/s against the GEMM ceiling and as MFU of an
# H100/H200's dense bf16 peak, the attention kernels' TFLOP/s, generation tokens/s.
bench_summary() {
  command -v python3 >/dev/null || { echo "(no python3 to read $1)"; return; }
  python3 - "$1" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for c in report["configs"]:
    t = c["training"]
    generation = ", ".join(f'B={g["batch"]} {g["tokens_per_second"]:.0f} tok/s' for g in c["generation"])
    a = t.get("attention")
    attention = f'; attention {a["gflops"] / 1e3:.2f} TFLOP/s (fwd {a["forward_ms"]:.1f} ms, bwd {a["backward_ms"]:.1f} ms)' if a else ''
    print(f'{c["name"]} ({c["storage_type"]}): train B={t["batch"]} T={t["seq_len"]} {t["tokens_per_second"]:.0f} tok/s, '
          f'{t["gflops"] / 1e3:.2f} TFLOP/s = {t["percent_of_ceiling"]}% of a {t["ceiling"]["gflops"] / 1e3:.2f} TFLOP/s '
          f'{t["ceiling"]["type"]} GEMM ceiling, MFU {100 * t["gflops"] / 989e3:.1f}% of 989 TFLOP/s (H100/H200 dense bf16)'
          f'{attention}; generate {generation}')
PY
}

publish() {
  set -e
  cd "$root"
  cmake -S native -B build/gpu-native-cmake -DCMAKE_BUILD_TYPE=Release -DFSR_PORTABLE=ON -DFSR_BLAS_ORDER=none \
    -DFSR_OUTPUT_DIR="$root/build/gpu-native" >/dev/null
  cmake --build build/gpu-native-cmake -j "$(nproc)" --target fsr_native -- --no-print-directory >/dev/null
  rm -rf "$bundle"
  dotnet publish src/FastSelfReward.Cli -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true \
    -p:TrimMode=partial -p:SuppressTrimAnalysisWarnings=true -p:JsonSerializerIsReflectionEnabledByDefault=true \
    -nologo -v:q -clp:ErrorsOnly -o "$bundle"
  cp "$root/build/gpu-native/libfsr_native.so" "$bundle/"
  # The OpenMP runtime the native library links; the GPU machine may lack it outside PyTorch's tree.
  gomp="$(ldd "$bundle/libfsr_native.so" | awk '/libgomp/ { print $3 }')"
  [ -n "$gomp" ] && cp -L "$gomp" "$bundle/"
  rm -f "$bundle"/*.pdb "$bundle"/*.xml
  local mib=$(( $(du -sk "$bundle" | cut -f1) / 1024 ))
  echo "bundle: $bundle, ${mib} MiB (limit ${limit_mib})"
  [ "$mib" -lt "$limit_mib" ] || { echo "bundle too large" >&2; exit 1; }
  LD_LIBRARY_PATH="$bundle${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$bundle/fsr" info
  LD_LIBRARY_PATH="$bundle${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$bundle/fsr" selftest --device emulated
  local json="$root/build/gpu-check/bench-emulated.json"
  mkdir -p "$(dirname "$json")"
  LD_LIBRARY_PATH="$bundle${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$bundle/fsr" bench --short --device emulated --config tiny \
    --output "$json" >/dev/null
  bench_summary "$json"
}

check() {
  [ -x "$bundle/fsr" ] || { echo "no $bundle/fsr: run 'scripts/gpu-check.sh publish' on the CPU machine first" >&2; exit 1; }
  local libs="$bundle"
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [ -d "$d" ] && libs="$libs:$d"; done
  export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local out="${OUT:-$root/build}/gpu-check"
  mkdir -p "$out"
  local summary=() failed=0 start=$SECONDS rc
  # step [--stdout FILE] NAME BUDGET COMMAND...: COMMAND under a time limit, its output on the console
  # and in $out/NAME.log; with --stdout, its standard output goes to FILE instead.
  step() {
    local stdout=/dev/stdout
    [ "$1" = --stdout ] && { stdout="$2"; shift 2; }
    local name="$1" budget="$2"
    shift 2
    echo "== $name: $*"
    local t=$SECONDS
    { timeout "$budget" "$@" >"$stdout"; } 2>&1 | tee "$out/${name// /-}.log"
    rc=${PIPESTATUS[0]}
    summary+=("$(printf '%-22s %s (%ds)' "$name" "$([ $rc -eq 0 ] && echo ok || echo "FAILED, exit $rc")" $((SECONDS - t)))")
    [ $rc -eq 0 ] || failed=1
  }
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
  # NVTX3 is header-only, and the CPU machine that published the bundle has no CUDA headers: rebuild
  # the bundle's portable libfsr_native here against the toolkit's, so `fsr info` says "nvtx: compiled
  # in" and an nsys run of this bundle shows the ranges. Without g++ or the headers the bundle's
  # library (no NVTX) stays.
  local nvtx_include=/usr/local/cuda/include
  if [ -f "$nvtx_include/nvtx3/nvToolsExt.h" ] && command -v g++ >/dev/null; then
    echo "== nvtx: rebuilding libfsr_native against $nvtx_include"
    if command -v cmake >/dev/null; then
      cmake -S "$root/native" -B "$root/build/gpu-nvtx-cmake" -DCMAKE_BUILD_TYPE=Release -DFSR_PORTABLE=ON -DFSR_BLAS_ORDER=none \
        -DFSR_NVTX_INCLUDE="$nvtx_include" -DFSR_OUTPUT_DIR="$root/build/gpu-nvtx" >/dev/null &&
      cmake --build "$root/build/gpu-nvtx-cmake" -j "$(nproc)" --target fsr_native -- --no-print-directory >/dev/null
    else
      mkdir -p "$root/build/gpu-nvtx" &&
      g++ -std=c++17 -O3 -fPIC -shared -fopenmp -fno-math-errno -fvisibility=hidden -I "$root/native/cpu" -I "$nvtx_include" \
        "$root"/native/cpu/*.cpp -ldl -o "$root/build/gpu-nvtx/libfsr_native.so"
    fi && cp "$root/build/gpu-nvtx/libfsr_native.so" "$bundle/libfsr_native.so" \
      || echo "nvtx: rebuild failed; keeping the bundle's library (no NVTX)"
  fi
  step "info" 60 "$bundle/fsr" info
  step "selftest cuda" 240 "$bundle/fsr" selftest --device cuda
  # One rank's collectives on GPU buffers, and an optimizer's training steps through them: NCCL (a
  # communicator of one) when libnccl.so.2 is there, else MPI through host memory; the output names which ran.
  step "collectives cuda" 60 "$bundle/fsr" selftest --collectives --device cuda
  # The bench gets what is left of five minutes, but at least the two minutes a short GPU run stays under.
  local left=$((300 - (SECONDS - start)))
  [ "$left" -ge 120 ] || left=120
  local json="$out/bench-cuda.json"
  rm -f "$json"
  # The JSON goes to the file only; standard error (progress) stays on the console.
  step --stdout /dev/null "bench cuda" "$left" "$bundle/fsr" bench --device cuda --short --output "$json"
  if [ "$rc" -eq 0 ] && [ -s "$json" ]; then
    while IFS= read -r line; do summary+=("    $line"); done < <(bench_summary "$json")
  fi
  echo "== summary ($((SECONDS - start)) s; logs and bench-cuda.json in $out)"
  printf '  %s\n' "${summary[@]}"
  exit $failed
}

case "${1:-check}" in
  publish) publish ;;
  check) check ;;
  *) echo "usage: scripts/gpu-check.sh [publish|check]" >&2; exit 2 ;;
esac
