#!/usr/bin/env bash
# Wall time of one CPU-and-syscall workload (bench/arch_workload.c), native vs each
# architecture ferret emulates with Debian's qemu-user-static: plain emulation, and
# with the guest syscall log ferret records (`-d strace`, written to /dev/null here).
# Architectures without an installed cross compiler are skipped.
#
# Usage: bench/arch.sh [CPU_ITERATIONS] [SYSCALLS] [RUNS]   (defaults 50000000 20000 3)
# Each figure is the best of RUNS runs (wall time; user+sys CPU time of that run beside
# it, less sensitive to a busy machine). Runs on the host directly (no sandbox, no
# binfmt_misc: QEMU is invoked by path).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cpu="${1:-50000000}"
calls="${2:-20000}"
runs="${3:-3}"
command -v /usr/bin/time >/dev/null || { echo "arch.sh: /usr/bin/time is missing (Debian package time)" >&2; exit 1; }
work="$(mktemp -d /tmp/ferret-arch-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
src="$root/bench/arch_workload.c"

# name  compiler  qemu (empty: native)
targets=(
    "x86_64 gcc -"
    "i386 i686-linux-gnu-gcc -"
    "arm arm-linux-gnueabi-gcc arm"
    "armhf arm-linux-gnueabihf-gcc arm"
    "aarch64 aarch64-linux-gnu-gcc aarch64"
    "mips mips-linux-gnu-gcc mips"
    "mipsel mipsel-linux-gnu-gcc mipsel"
    "mips64el mips64el-linux-gnuabi64-gcc mips64el"
    "ppc powerpc-linux-gnu-gcc ppc"
    "ppc64le powerpc64le-linux-gnu-gcc ppc64le"
    "riscv64 riscv64-linux-gnu-gcc riscv64"
    "s390x s390x-linux-gnu-gcc s390x"
    "sh4 sh4-linux-gnu-gcc sh4"
    "m68k m68k-linux-gnu-gcc m68k"
    "sparc64 sparc64-linux-gnu-gcc sparc64"
)

# best "wall_ms cpu_ms" of $runs runs of the command; its stdout goes to $work/out
best() {
    local b="" i
    for ((i = 0; i < runs; i++)); do
        /usr/bin/time -f '%e %U %S' -o "$work/t" "$@" >"$work/out"
        local r
        r=$(awk '{ printf "%d %d", $1 * 1000, ($2 + $3) * 1000 }' "$work/t")
        if [ -z "$b" ] || [ "${r%% *}" -lt "${b%% *}" ]; then b=$r; fi
    done
    echo "$b"
}

echo "workload: $cpu CPU iterations, $calls writes + $((calls / 10)) open/close (static -O2 builds)"
printf '%-9s %-7s %8s %7s %9s %10s %7s %11s\n' arch runner wall_ms cpu_ms vs_native strace_ms cpu_ms checksum
native_ms=""
for t in "${targets[@]}"; do
    read -r name cc qemu <<<"$t"
    if ! command -v "$cc" >/dev/null; then
        printf '%-9s %-7s %s\n' "$name" "-" "skipped ($cc not installed)"
        continue
    fi
    bin="$work/w-$name"
    "$cc" -O2 -static -o "$bin" "$src"
    if [ "$qemu" = "-" ]; then
        run=("$bin")
        runner=native
    else
        q="/usr/bin/qemu-$qemu-static"
        [ -x "$q" ] || { printf '%-9s %-7s %s\n' "$name" "-" "skipped ($q missing)"; continue; }
        run=("$q" "$bin")
        runner="qemu"
    fi
    read -r wall cpu_ms <<<"$(best "${run[@]}" "$cpu" "$calls")"
    sum=$(cat "$work/out")
    [ -z "$native_ms" ] && native_ms=$wall
    ratio=$(awk -v a="$wall" -v b="$native_ms" 'BEGIN { printf "%.1fx", (b > 0 ? a / b : 0) }')
    strace_ms="-" strace_cpu="-"
    if [ "$runner" = qemu ]; then
        read -r strace_ms strace_cpu <<<"$(best "$q" -d strace -D /dev/null "$bin" "$cpu" "$calls")"
    fi
    printf '%-9s %-7s %8s %7s %9s %10s %7s %11s\n' "$name" "$runner" "$wall" "$cpu_ms" "$ratio" "$strace_ms" "$strace_cpu" "$sum"
done
