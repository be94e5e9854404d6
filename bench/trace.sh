#!/usr/bin/env bash
# Tracing overhead of `ferret analyze` against strace, in one run, on the syscall-heavy
# workload bench/trace_workload.c (~0.1% of its syscalls are in ferret's default set):
#
#   untraced                  the workload alone
#   ferret (default set)      ferret analyze: sandbox + ptrace with a seccomp-bpf filter
#   ferret --trace-all        every syscall stops in the tracer
#   strace -f -o FILE         every syscall stops (strace's classic mode)
#   strace -f --seccomp-bpf   strace stopping only on ferret's default set
#
# For ferret, the workload's own run time is the report's `timings_ms.detonation`
# (release to the end of the process tree); the analysis' wall time is printed too.
# Also prints ferret's fixed cost: the wall time of analysing a program that exits at
# once, and that time minus static analysis.
#
# Usage: bench/trace.sh [ITERATIONS (default 200000)]
# Uses target/release/ferret ($FERRET to override); build it first with
# `cargo build --release -p ferret` (add --no-default-features to skip YARA). Root.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
ferret=${FERRET:-$repo/target/release/ferret}
n=${1:-200000}
[ -x "$ferret" ] || { echo "no $ferret: run cargo build --release -p ferret" >&2; exit 2; }
for t in gcc strace python3; do command -v $t >/dev/null || { echo "$t missing: run scripts/install.sh" >&2; exit 2; }; done
[ "$(id -u)" = 0 ] || { echo "bench/trace.sh needs root (the sandbox)" >&2; exit 2; }

work=$(mktemp -d)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/trace_workload" "$repo/bench/trace_workload.c"
printf 'int main(void) { return 0; }\n' > "$work/exit0.c"
gcc -O2 -static -o "$work/exit0" "$work/exit0.c"

# ferret's default traced set, from the tracer's category lists; `?` makes strace skip
# names its table lacks.
set_names=$(sed -n '/pub fn syscalls/,/^    }$/p' "$repo/crates/ferret-trace/src/set.rs" \
    | grep -o '"[a-z0-9_]*"' | tr -d '"' | sort -u)
strace_set=$(printf '?%s,' $set_names)
strace_set=${strace_set%,}

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$2"; }
json() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2"; }

run_ferret() { # $1: label, rest: extra args; prints "<detonation s> <wall s>"
    local out="$work/out-$1"
    rm -rf "$out"
    local t0 t1
    t0=$(now)
    "$ferret" analyze "$work/trace_workload" --no-store --no-yara --timeout 600 --out "$out" "${@:2}" --args "$n" /tmp > /dev/null
    t1=$(now)
    local det
    det=$(json "$out/report.json" "r['timings_ms']['detonation'] / 1000")
    [ "$(json "$out/report.json" "r['outcome']['sample_exit']")" = "{'code': 0}" ] \
        || { echo "the workload failed under ferret $1" >&2; exit 1; }
    echo "$det $(elapsed "$t0" "$t1")"
}

"$work/trace_workload" "$n" "$work" > /dev/null # warm-up

t0=$(now); "$work/trace_workload" "$n" "$work" > /dev/null; t1=$(now)
untraced=$(elapsed "$t0" "$t1")
read -r f_det f_wall < <(run_ferret default)
read -r a_det a_wall < <(run_ferret all --trace-all)
t0=$(now); strace -f -o "$work/strace.out" "$work/trace_workload" "$n" "$work" > /dev/null; t1=$(now)
strace_all=$(elapsed "$t0" "$t1")
t0=$(now); strace -f --seccomp-bpf -e trace="$strace_set" -o "$work/strace-bpf.out" "$work/trace_workload" "$n" "$work" > /dev/null; t1=$(now)
strace_bpf=$(elapsed "$t0" "$t1")

fixed=()
beyond=()
for i in 1 2 3 4 5; do
    out="$work/out-exit0-$i"
    t0=$(now)
    "$ferret" analyze "$work/exit0" --no-store --no-yara --out "$out" > /dev/null
    t1=$(now)
    w=$(elapsed "$t0" "$t1")
    s=$(json "$out/report.json" "r['timings_ms']['static'] / 1000")
    fixed+=("$w")
    beyond+=("$(python3 -c "print(f'{$w - $s:.3f}')")")
done
median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}x')" "$1" "$2"; }
syscalls=$(grep -c . "$work/strace.out" || true)
echo "workload: $n iterations (~$syscalls syscalls seen by strace -f); one run per mode"
printf '%-34s %9s %9s\n' "mode" "run (s)" "vs untraced"
printf '%-34s %9s %9s\n' "untraced" "$untraced" "1.00x"
printf '%-34s %9s %9s   (analysis wall %ss)\n' "ferret analyze (default set)" "$f_det" "$(ratio "$f_det" "$untraced")" "$f_wall"
printf '%-34s %9s %9s   (analysis wall %ss)\n' "ferret analyze --trace-all" "$a_det" "$(ratio "$a_det" "$untraced")" "$a_wall"
printf '%-34s %9s %9s\n' "strace -f -o FILE" "$strace_all" "$(ratio "$strace_all" "$untraced")"
printf '%-34s %9s %9s\n' "strace -f --seccomp-bpf (same set)" "$strace_bpf" "$(ratio "$strace_bpf" "$untraced")"
echo "ferret --trace-all vs strace -f: $(ratio "$a_det" "$strace_all") of strace's time"
echo "fixed cost (static binary that exits at once, median of 5): $(median "${fixed[@]}")s wall, $(median "${beyond[@]}")s beyond static analysis"
