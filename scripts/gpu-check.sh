#!/usr/bin/env bash
# gpu-check.sh: the one command that checks the CUDA backend on a real GPU machine.
#
# The GPU machine has CUDA 13 (NVRTC, cuBLAS, driver 580) but no .NET SDK and no network, and
# receives at most 64 MiB; so fsr is published here, on the CPU machine, as a self-contained,
# trimmed bundle, and travels with the repository:
#
#   scripts/gpu-check.sh publish     # CPU machine: writes build/gpu-fsr (about 30 MiB) and checks it
#
# which runs
#   cmake -S native -B build/gpu-native-cmake -DCMAKE_BUILD_TYPE=Release -DFSR_PORTABLE=ON -DFSR_BLAS=none \
#         -DFSR_OUTPUT_DIR=build/gpu-native && cmake --build build/gpu-native-cmake
#   dotnet publish src/FastSelfReward.Cli -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true \
#         -p:TrimMode=partial -p:SuppressTrimAnalysisWarnings=true -p:JsonSerializerIsReflectionEnabledByDefault=true \
#         -o build/gpu-fsr
# then copies the portable libfsr_native.so (generic x86-64, no OpenBLAS: the GPU machine's CPU
# and libraries are unknown) and libgomp over the ones the publish picked up, checks the bundle is
# under 64 MiB, and runs the published binary here: `fsr info` and `fsr selftest --device emulated`.
# TrimMode=partial trims the framework only: the CLI parser and the JSON settings reflect over
# this project's types, which full trimming would remove.
#
#   scripts/gpu-check.sh             # GPU machine (build/gpu-fsr carried along): about 1-5 minutes
#
# runs `fsr info`, `fsr selftest --device cuda` (every kernel against the CPU kernels, a short
# training parity) and prints a summary; exit code 1 when a step fails. `fsr bench` measures
# the CPU backend only so far, so the GPU bench step is reported as skipped.
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bundle="$root/build/gpu-fsr"
limit_mib=64

publish() {
  set -e
  cd "$root"
  cmake -S native -B build/gpu-native-cmake -DCMAKE_BUILD_TYPE=Release -DFSR_PORTABLE=ON -DFSR_BLAS=none \
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
}

check() {
  [ -x "$bundle/fsr" ] || { echo "no $bundle/fsr: run 'scripts/gpu-check.sh publish' on the CPU machine first" >&2; exit 1; }
  local libs="$bundle"
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [ -d "$d" ] && libs="$libs:$d"; done
  export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local summary=() failed=0 start=$SECONDS
  step() {
    local name="$1" budget="$2"
    shift 2
    echo "== $name: $*"
    local t=$SECONDS
    timeout "$budget" "$@"
    local rc=$?
    summary+=("$(printf '%-22s %s (%ds)' "$name" "$([ $rc -eq 0 ] && echo ok || echo "FAILED, exit $rc")" $((SECONDS - t)))")
    [ $rc -eq 0 ] || failed=1
  }
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
  step "info" 60 "$bundle/fsr" info
  step "selftest cuda" 240 "$bundle/fsr" selftest --device cuda
  summary+=("$(printf '%-22s %s' "bench cuda" "skipped: fsr bench measures the CPU backend only so far")")
  echo "== summary ($((SECONDS - start)) s)"
  printf '  %s\n' "${summary[@]}"
  exit $failed
}

case "${1:-check}" in
  publish) publish ;;
  check) check ;;
  *) echo "usage: scripts/gpu-check.sh [publish|check]" >&2; exit 2 ;;
esac
