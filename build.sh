#!/usr/bin/env bash
# FastSelfReward's one entry point.
#   ./build.sh            build the native library and the solution (Release)
#   ./build.sh test       build, check the CUDA exports, run every test, then the BLAS-sensitive ones once
#                         per other BLAS present; prints "N passed, N failed" summed over the passes
#   ./build.sh demo [..]  build, then run the demo (arguments are passed on)
set -euo pipefail
cd "$(dirname "$0")"
root=$PWD
command=${1:-build}
[ $# -gt 0 ] && shift

# NVRTC without a GPU comes from Debian's non-free component (docs/design.md, "How the code
# is checked"); the CUDA kernel tests need it, the build does not.
nvrtc_present() {
  ldconfig -p 2>/dev/null | grep -qE 'libnvrtc\.so\.(13|12|11\.2) ' &&
    ldconfig -p 2>/dev/null | grep -q 'libnvrtc-builtins\.so'
}

# The BLAS libfsr_native loads at run time (native/cpu/blas.cpp), by measurement: MKL on Intel
# CPUs (Debian non-free), OpenBLAS built on OpenMP elsewhere. Without it the kernels still work,
# on their own, slower GEMM. The tests want MKL on every x86-64 CPU: they run the BLAS-sensitive
# tests once per BLAS present (docs/blas.md), and MKL runs on AMD too.
blas_packages() {
  local packages=(libopenblas0-openmp)
  if grep -q GenuineIntel /proc/cpuinfo 2>/dev/null || { [ "$command" = test ] && [ "$(uname -m)" = x86_64 ]; }; then
    packages+=(libmkl-rt)
  fi
  echo "${packages[@]}"
}

# Open MPI: mpirun launches data-parallel runs and libfsr_mpi (native/mpi) links libmpi. A build
# without it runs in one process; the tests launch jobs of 2 and 3 ranks, so they need it.
mpi_packages() { echo openmpi-bin libopenmpi-dev; }

# True when every package named is one the build can go on without: a BLAS, and MPI outside the tests.
only_optional() {
  local optional p
  optional=" $(blas_packages) "
  [ "$command" = test ] || optional+="$(mpi_packages) "
  for p in $1; do [[ "$optional" == *" $p "* ]] || return 1; done
}

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
  command -v mpirun >/dev/null || missing+=(openmpi-bin)
  command -v mpicc >/dev/null || missing+=(libopenmpi-dev)
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
  elif only_optional "$missing"; then
    case " $missing " in *" libopenmpi-dev "* | *" openmpi-bin "*)
      echo "build.sh: no Open MPI; fsr runs in one process only (mpirun -np N needs it)." >&2 ;;
    esac
    case " $missing " in *" libopenblas0-openmp "* | *" libmkl-rt "*)
      echo "build.sh: no fast BLAS; GEMMs use libfsr_native's own, several times slower." >&2 ;;
    esac
    echo "          install with: sudo apt-get install $missing" >&2
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

passed_total=0
failed_total=0

# One dotnet test pass over the built solution, named NAME in the output: results in
# build/test-results/FOLDER, its totals added to passed_total and failed_total. Returns non-zero
# when a test failed or none ran.
test_pass() {
  local folder=$1 name=$2
  shift 2
  local results="$root/build/test-results/$folder"
  rm -rf "$results"
  local rc=0
  dotnet test FastSelfReward.sln -c Release --no-build -nologo -v:q \
    --logger "trx;LogFileName=tests.trx" --logger "console;verbosity=normal" \
    --results-directory "$results" "$@" || rc=$?
  local trx passed=0 failed=1
  trx=$(find "$results" -name '*.trx' | head -n 1)
  if [ -n "$trx" ]; then
    passed=$(grep -o 'passed="[0-9]*"' "$trx" | head -n 1 | grep -o '[0-9]*')
    failed=$(grep -o 'failed="[0-9]*"' "$trx" | head -n 1 | grep -o '[0-9]*')
  else
    echo "build.sh test: $name wrote no test results" >&2
    rc=1
  fi
  passed_total=$((passed_total + passed))
  failed_total=$((failed_total + failed))
  echo "build.sh test: $name: $passed passed, $failed failed"
  return $rc
}

# The BLAS a run of fsr loads with FSR_BLAS=$1 (empty: the default order), as fsr info names it.
loaded_blas() {
  FSR_BLAS=$1 dotnet "$root/src/FastSelfReward.Cli/bin/Release/net10.0/linux-x64/fsr.dll" info 2>/dev/null |
    sed -n 's/^BLAS: \([a-z-]*\) .*/\1/p'
}

# Every test with the BLAS FSR_BLAS picks (the default order when unset), then the BLAS-sensitive
# ones (trait Category=PerBlas: the GEMM check, resume, reproducibility, the training-health guard)
# once with each other BLAS that loads here. The last line is the sum of all passes.
run_tests() {
  rm -rf "$root/build/test-results"
  local rc=0 default blas
  default=$(loaded_blas "${FSR_BLAS:-}")
  test_pass all "all tests, BLAS ${default:-unknown}" "$@" || rc=1
  for blas in openblas-openmp mkl openblas-pthread none; do
    [ "$blas" = "$default" ] && continue
    if [ "$(loaded_blas "$blas")" != "$blas" ]; then
      echo "build.sh test: BLAS $blas is not installed here; its pass is skipped"
      continue
    fi
    FSR_BLAS=$blas test_pass "$blas" "BLAS-sensitive tests, FSR_BLAS=$blas" --filter "Category=PerBlas" "$@" || rc=1
  done
  echo "$passed_total passed, $failed_total failed"
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
