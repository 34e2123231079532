#!/usr/bin/env bash
# FastSelfReward's one entry point.
#   ./build.sh            build the native library and the solution (Release)
#   ./build.sh test       build, check the CUDA exports, then run every test; prints "N passed, N failed"
#   ./build.sh demo [..]  build, then run the demo (arguments are passed on)
set -euo pipefail
cd "$(dirname "$0")"
root=$PWD
command=${1:-build}
[ $# -gt 0 ] && shift

# NVRTC without a GPU comes from Debian's non-free component (DESIGN.md, "Verifying GPU code
# without a GPU"); the CUDA kernel tests need it, the build does not.
nvrtc_present() {
  ldconfig -p 2>/dev/null | grep -qE 'libnvrtc\.so\.(13|12|11\.2) ' &&
    ldconfig -p 2>/dev/null | grep -q 'libnvrtc-builtins\.so'
}

# The BLAS libfsr_native loads at run time (native/cpu/blas.cpp), by measurement: MKL on Intel
# CPUs (Debian non-free), OpenBLAS built on OpenMP elsewhere. Without it the kernels still work,
# on their own, slower GEMM.
blas_packages() {
  local packages=(libopenblas0-openmp)
  grep -q GenuineIntel /proc/cpuinfo 2>/dev/null && packages+=(libmkl-rt)
  echo "${packages[@]}"
}

# True when every package named is a BLAS one: the build goes on without them.
only_blas() { local p; for p in $1; do [[ " $(blas_packages) " == *" $p "* ]] || return 1; done; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing_packages() {
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v g++ >/dev/null || missing+=(g++)
  # cblas.h and OpenBLAS for the CUDA emulator's GEMM shim, linked at build time.
  [ -f /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ] || [ -f /usr/include/openblas/cblas.h ] \
    || missing+=(libopenblas-dev)
  if command -v dpkg-query >/dev/null; then
    local package
    for package in $(blas_packages); do installed "$package" || missing+=("$package"); done
  fi
  if [ "$command" = test ]; then
    nvrtc_present || missing+=(libnvrtc11.2 libnvrtc-builtins11.8)
    command -v nm >/dev/null || missing+=(binutils)
  fi
  echo "${missing[@]:-}"
}

# Appends non-free to the Components of the Debian sources entries that lack it. Idempotent.
enable_non_free() {
  local sources=/etc/apt/sources.list.d/debian.sources
  if [ -f "$sources" ]; then
    grep -qE '^Components:.*\bnon-free\b' "$sources" ||
      sed -i -E '/^Components:/{/\bnon-free\b/!s/$/ non-free/}' "$sources"
  elif [ -f /etc/apt/sources.list ]; then
    sed -i -E '/^deb .*debian/{/\bnon-free\b/!s/$/ non-free/}' /etc/apt/sources.list
  fi
}

ensure_dependencies() {
  if ! command -v dotnet >/dev/null; then
    echo "build.sh: the .NET 10 SDK is missing (dotnet is not on PATH); install it, then run again." >&2
    exit 1
  fi
  local missing
  missing=$(missing_packages)
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "build.sh: installing Debian packages: $missing"
    case " $missing " in *" libnvrtc"* | *" libmkl-rt "*) enable_non_free ;; esac
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
  elif only_blas "$missing"; then
    echo "build.sh: no fast BLAS ($missing); GEMMs use libfsr_native's own, several times slower." >&2
    echo "          install it with: sudo apt-get install $missing" >&2
  else
    echo "build.sh: missing Debian packages: $missing" >&2
    echo "          install them with: sudo apt-get install $missing" >&2
    case " $missing " in *" libnvrtc"*)
      echo "          (libnvrtc* are in Debian's non-free component: add non-free to the Components of your sources)" >&2 ;;
    esac
    exit 1
  fi
}

build_native() {
  cmake -S native -B build/native-cmake -DCMAKE_BUILD_TYPE=Release \
    -DFSR_OUTPUT_DIR="$root/build/native" ${FSR_CMAKE_ARGS:-} >/dev/null
  cmake --build build/native-cmake -j "$(nproc)" -- --no-print-directory
}

build_dotnet() {
  dotnet build FastSelfReward.sln -c Release -nologo -v:q -clp:ErrorsOnly
}

# Every CUDA entry point the C# interop binds must exist in Debian's driver, NVRTC and cuBLAS
# packages (downloaded, not installed). Non-free must be known to apt for the download.
check_cuda_exports() {
  if ! apt-cache show libcuda1 >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
      enable_non_free
      apt-get update -q >/dev/null
    else
      echo "build.sh: apt does not know Debian's non-free packages; add non-free to the Components of" >&2
      echo "          your sources and run apt-get update (needed by scripts/check-cuda-exports.sh)" >&2
      return 1
    fi
  fi
  scripts/check-cuda-exports.sh
}

run_tests() {
  local results="$root/build/test-results"
  rm -rf "$results"
  local rc=0
  dotnet test FastSelfReward.sln -c Release --no-build -nologo -v:q \
    --logger "trx;LogFileName=tests.trx" --logger "console;verbosity=normal" \
    --results-directory "$results" "$@" || rc=$?
  local trx
  trx=$(find "$results" -name '*.trx' | head -n 1)
  if [ -n "$trx" ]; then
    local passed failed
    passed=$(grep -o 'passed="[0-9]*"' "$trx" | head -n 1 | grep -o '[0-9]*')
    failed=$(grep -o 'failed="[0-9]*"' "$trx" | head -n 1 | grep -o '[0-9]*')
    echo "$passed passed, $failed failed"
  else
    echo "0 passed, 1 failed (no test results were written)"
    rc=1
  fi
  return $rc
}

case "$command" in
  build) ensure_dependencies; build_native; build_dotnet ;;
  test)
    ensure_dependencies; build_native; build_dotnet
    exports_rc=0
    check_cuda_exports || exports_rc=$?
    # NVRTC is installed by now, so its tests must run, not skip.
    tests_rc=0
    FSR_REQUIRE_NVRTC=1 run_tests "$@" || tests_rc=$?
    [ "$exports_rc" -eq 0 ] || echo "build.sh test: the CUDA export check failed (above)" >&2
    [ "$exports_rc" -eq 0 ] && [ "$tests_rc" -eq 0 ]
    ;;
  demo)
    ensure_dependencies; build_native; build_dotnet
    dotnet src/FastSelfReward.Cli/bin/Release/net10.0/linux-x64/fsr.dll demo "$@"
    ;;
  *) echo "usage: ./build.sh [build|test|demo]" >&2; exit 2 ;;
esac
