#!/usr/bin/env bash
# FastSelfReward's one entry point.
#   ./build.sh            build the native library and the solution (Release)
#   ./build.sh test       build, then run every test; prints "N passed, N failed"
#   ./build.sh demo [..]  build, then run the demo (arguments are passed on)
set -euo pipefail
cd "$(dirname "$0")"
root=$PWD
command=${1:-build}
[ $# -gt 0 ] && shift

missing_packages() {
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v g++ >/dev/null || missing+=(g++)
  [ -f /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ] || [ -f /usr/include/openblas/cblas.h ] \
    || missing+=(libopenblas-dev)
  echo "${missing[@]:-}"
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
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
  else
    echo "build.sh: missing Debian packages: $missing" >&2
    echo "          install them with: sudo apt-get install $missing" >&2
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
  test) ensure_dependencies; build_native; build_dotnet; run_tests "$@" ;;
  demo)
    ensure_dependencies; build_native; build_dotnet
    dotnet src/FastSelfReward.Cli/bin/Release/net10.0/linux-x64/fsr.dll demo "$@"
    ;;
  *) echo "usage: ./build.sh [build|test|demo]" >&2; exit 2 ;;
esac
