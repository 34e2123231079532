#!/usr/bin/env bash
# Checks that every entry point the C# interop binds (src/FastSelfReward/Interop/{CudaDriver,
# Nvrtc,CuBlas}.cs) is exported by the real library, and that none is the legacy unversioned
# twin of a _v2 export. P/Invoke resolves names only at the first
# call, so a misspelt or unversioned name (cuMemAlloc instead of cuMemAlloc_v2) would otherwise
# surface only on a GPU machine. Debian's non-free packages are downloaded (not installed: the
# driver package would pull in the whole driver) and their export tables read with nm -D.
#   scripts/check-cuda-exports.sh      needs apt-get with non-free enabled, dpkg-deb, nm (binutils)
# The .debs are kept in build/cuda-debs, so later runs are offline.
set -euo pipefail
cd "$(dirname "$0")/.."
interop=src/FastSelfReward/Interop
debs=build/cuda-debs
mkdir -p "$debs"

# C# file : Debian package : library file (a glob inside the package)
checks=(
  "CudaDriver.cs:libcuda1:libcuda.so.1"
  "Nvrtc.cs:libnvrtc11.2:libnvrtc.so.11.2"
  "CuBlas.cs:libcublas11:libcublas.so.11"
)

# Entry points of a C# file: the EntryPoint of each [LibraryImport(...)] if given, else the
# method name of the declaration that follows it.
entry_points() {
  perl -0777 -ne '
    while (/\[LibraryImport\(([^\]]*)\)\]\s*(?:(?:public|internal|private|static|unsafe|partial)\s+)+[\w\*\.<>\[\]]+\s+(\w+)\s*\(/g) {
      my ($args, $name) = ($1, $2);
      print((($args =~ /EntryPoint\s*=\s*"([^"]+)"/) ? $1 : $name), "\n");
    }' "$1" | sort -u
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for check in "${checks[@]}"; do
  IFS=: read -r source package library <<<"$check"
  deb=$(ls "$debs/${package}_"*.deb 2>/dev/null | head -n 1 || true)
  if [ -z "$deb" ]; then
    if ! (cd "$debs" && apt-get download -q "$package" >/dev/null 2>"$work/apt.log"); then
      echo "check-cuda-exports: cannot download $package (Debian non-free must be enabled):" >&2
      cat "$work/apt.log" >&2
      exit 1
    fi
    deb=$(ls "$debs/${package}_"*.deb | head -n 1)
  fi
  mkdir -p "$work/$package"
  dpkg-deb -x "$deb" "$work/$package"
  file=$(find "$work/$package" -name "$library" \( -type f -o -type l \) | head -n 1)
  if [ -z "$file" ]; then
    echo "check-cuda-exports: $library not found in $(basename "$deb")" >&2
    exit 1
  fi
  nm -D --defined-only "$file" | awk '{print $NF}' | sed 's/@.*//' | sort -u >"$work/$package.exports"
  entry_points "$interop/$source" >"$work/$package.bound"
  bound=$(wc -l <"$work/$package.bound")
  if [ "$bound" -eq 0 ]; then
    echo "check-cuda-exports: no [LibraryImport] declarations parsed from $interop/$source" >&2
    status=1
    continue
  fi
  missing=$(comm -23 "$work/$package.bound" "$work/$package.exports")
  # An unversioned name whose _v2 is exported is the legacy ABI (32-bit sizes, old semantics):
  # the headers map the plain name to _v2, so the binding must name _v2 itself.
  legacy=$(grep -v '_v[0-9]*$' "$work/$package.bound" | while read -r name; do
    grep -qx "${name}_v2" "$work/$package.exports" && echo "$name (bind ${name}_v2)" || true
  done)
  if [ -n "$missing" ] || [ -n "$legacy" ]; then
    if [ -n "$missing" ]; then
      echo "check-cuda-exports: $interop/$source binds names $library ($(basename "$deb")) does not export:" >&2
      sed 's/^/  /' <<<"$missing" >&2
    fi
    if [ -n "$legacy" ]; then
      echo "check-cuda-exports: $interop/$source binds legacy unversioned exports of $library:" >&2
      sed 's/^/  /' <<<"$legacy" >&2
    fi
    status=1
  else
    echo "check-cuda-exports: $source: all $bound entry points exported by $library ($(basename "$deb" .deb))"
  fi
done
exit $status
