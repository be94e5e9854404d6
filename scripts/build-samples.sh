#!/usr/bin/env bash
# Builds ferret's benign behaviour samples (samples/src/*.c) for every architecture:
#   DIR/<arch>/<name> (dynamic) and DIR/<arch>/<name>-static
# Usage: scripts/build-samples.sh [--out DIR] [--arch NAME]... [--jobs N] [--list-arches]
# Incremental: an output newer than its sources and common.h is kept, as long as the
# compiler flags (recorded in DIR/<arch>/.build-flags) did not change.
# Parallel (xargs -P). A failed compile prints the compiler's message and the script
# exits 1 after the other jobs finished. Concurrent runs on one DIR are serialised with
# flock(1).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
src="$root/samples/src"
script="$here/$(basename "${BASH_SOURCE[0]}")"

# arch name -> compiler (Debian package in the comment of the error below)
declare -A CC=(
  [x86_64]=gcc
  [i386]=i686-linux-gnu-gcc
  [arm]=arm-linux-gnueabi-gcc
  [aarch64]=aarch64-linux-gnu-gcc
  [mips]=mips-linux-gnu-gcc
  [mipsel]=mipsel-linux-gnu-gcc
  [powerpc]=powerpc-linux-gnu-gcc
)
declare -A PKG=(
  [x86_64]=gcc
  [i386]=gcc-i686-linux-gnu
  [arm]=gcc-arm-linux-gnueabi
  [aarch64]=gcc-aarch64-linux-gnu
  [mips]=gcc-mips-linux-gnu
  [mipsel]=gcc-mipsel-linux-gnu
  [powerpc]=gcc-powerpc-linux-gnu
)
# Changing these rebuilds everything (see .build-flags below).
CFLAGS="-std=c99 -O2 -g0 -Wall -Wextra"
ALL_ARCHES=(x86_64 i386 arm aarch64 mips mipsel powerpc)

out="$root/target/samples"
arches=()
jobs=$(nproc 2>/dev/null || echo 2)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) [[ $# -ge 2 ]] || { echo "build-samples: --out needs a directory" >&2; exit 2; }
           out=$2; shift 2 ;;
    --arch) [[ $# -ge 2 ]] || { echo "build-samples: --arch needs a name" >&2; exit 2; }
            [[ -n "${CC[$2]:-}" ]] || { echo "build-samples: unknown arch '$2' (known: ${ALL_ARCHES[*]})" >&2; exit 2; }
            arches+=("$2"); shift 2 ;;
    --jobs) [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || { echo "build-samples: --jobs needs a positive number" >&2; exit 2; }
            jobs=$2; shift 2 ;;
    --list-arches) printf '%s\n' "${ALL_ARCHES[@]}"; exit 0 ;;
    -h|--help) sed -n '2,8p' "$script"; exit 0 ;;
    *) echo "build-samples: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ ${#arches[@]} -gt 0 ]] || arches=("${ALL_ARCHES[@]}")

for a in "${arches[@]}"; do
  command -v "${CC[$a]}" >/dev/null || {
    echo "build-samples: compiler ${CC[$a]} for $a not found (install Debian packages ${PKG[$a]} and its libc6-dev cross package; scripts/install.sh does)" >&2
    exit 1
  }
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
exec 9>"$out/.build-samples.lock"
flock 9

names=()
for f in "$src"/*.c; do names+=("$(basename "$f" .c)"); done

# One job: arch name. Compiles the source once and links both the dynamic and the
# static program from that object, into temporary files renamed into place at the end,
# so an interrupted build never leaves a half-written output that looks up to date.
build_one() {
  local arch=$1 name=$2
  local cc=${CC_MAP[$arch]}
  local dest="$OUT/$arch/$name"
  local tmp="$dest.tmp.$$" log
  # shellcheck disable=SC2086 # CFLAGS is a word list
  if ! log=$("$cc" $CFLAGS -I"$SRC" -c -o "$tmp.o" "$SRC/$name.c" 2>&1) ||
     ! log=$("$cc" -o "$tmp" "$tmp.o" 2>&1) ||
     ! log=$("$cc" -static -o "$tmp-static" "$tmp.o" 2>&1); then
    rm -f "$tmp.o" "$tmp" "$tmp-static"
    printf 'build-samples: FAILED %s %s with %s:\n%s\n' "$arch" "$name" "$cc" "$log" >&2
    return 1
  fi
  rm -f "$tmp.o"
  mv -f "$tmp-static" "$dest-static"
  mv -f "$tmp" "$dest"
}
export -f build_one

CC_MAP_DEF=$(declare -p CC | sed 's/declare -A CC=/declare -A CC_MAP=/')
export CC_MAP_DEF OUT="$out" SRC="$src" CFLAGS

for a in "${arches[@]}"; do mkdir -p "$out/$a"; done
rc=0
# The up-to-date check runs here, in this shell: a no-op run then spawns nothing.
newest_common="$src/common.h"
newest_c=$newest_common
for f in "$src"/*.c; do [[ $f -nt $newest_c ]] && newest_c=$f; done
stale_jobs() {
  local a n dest dep force
  for a in "${arches[@]}"; do
    force=0
    [[ -f $out/$a/.build-flags && "$(cat "$out/$a/.build-flags")" == "$CFLAGS" ]] || force=1
    for n in "${names[@]}"; do
      # all_in_one #includes the other behaviour files.
      if [[ $n == all_in_one ]]; then dep=$newest_c; else dep=$newest_common; fi
      dest="$out/$a/$n"
      # The dynamic output is renamed last, so its time stamp stands for both.
      if [[ $force == 1 || ! -e $dest || ! -e $dest-static || $dep -nt $dest || $src/$n.c -nt $dest ]]; then
        printf '%s %s\n' "$a" "$n"
      fi
    done
  done
}
stale_jobs | xargs -r -P "$jobs" -n 2 bash -c 'eval "$CC_MAP_DEF"; build_one "$@"' build_one || rc=$?
if [[ $rc -ne 0 ]]; then
  echo "build-samples: some samples failed to build (see above)" >&2
  exit 1
fi
for a in "${arches[@]}"; do printf '%s' "$CFLAGS" >"$out/$a/.build-flags"; done
