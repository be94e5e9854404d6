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
# CPU time (user + system) is printed beside every wall time: on a shared machine wall
# times mostly measure the other jobs, CPU time what the tracer costs. It is the whole
# command's (ferret's threads, the sandbox and the workload; strace and the workload),
# from the rusage of the command and the descendants it reaped.
# Every mode runs RUNS times, the modes interleaved so that load changes hit all of
# them alike; the table shows medians and the ratios are of medians.
# Also prints ferret's fixed cost: the wall time of analysing a program that exits at
# once, and that time minus static analysis.
#
# Usage: bench/trace.sh [ITERATIONS (default 200000)] [RUNS (default 3)]
# Uses target/release/ferret ($FERRET to override); build it first with
# `cargo build --release -p ferret` (add --no-default-features to skip YARA). Root.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
ferret=${FERRET:-$repo/target/release/ferret}
n=${1:-200000}
runs=${2:-3}
case "$n$runs" in *[!0-9]*) echo "usage: bench/trace.sh [ITERATIONS] [RUNS]" >&2; exit 2;; esac
[ "$runs" -ge 1 ] || { echo "RUNS must be at least 1" >&2; exit 2; }
[ -x "$ferret" ] || { echo "no $ferret: run cargo build --release -p ferret" >&2; exit 2; }
for t in gcc strace python3; do command -v $t >/dev/null || { echo "$t missing: run scripts/install.sh" >&2; exit 2; }; done
[ "$(id -u)" = 0 ] || { echo "bench/trace.sh needs root (the sandbox)" >&2; exit 2; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
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

# measure CMD...: runs CMD with stdout to /dev/null, prints "<wall s> <cpu s>" (cpu =
# user + system of CMD and every descendant it reaped). Fails if CMD fails.
measure_py='
import os, subprocess, sys, time
t0 = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, ru = os.wait4(p.pid, 0)
wall = time.monotonic() - t0
code = os.waitstatus_to_exitcode(status)
if code != 0:
    sys.exit(f"{sys.argv[1]} exited with {code}")
print(f"{wall:.3f} {ru.ru_utime + ru.ru_stime:.3f}")
'
measure() { python3 -c "$measure_py" "$@"; }

run_ferret() { # $1: label, rest: extra args; prints "<detonation s> <wall s> <cpu s>"
    local out="$work/out-$1"
    rm -rf "$out"
    local wc
    wc=$(measure "$ferret" analyze "$work/trace_workload" --no-store --no-yara --timeout 600 --out "$out" "${@:2}" --args "$n" /tmp)
    local det
    det=$(json "$out/report.json" "r['timings_ms']['detonation'] / 1000")
    [ "$(json "$out/report.json" "r['outcome']['sample_exit']")" = "{'code': 0}" ] \
        || { echo "the workload failed under ferret $1" >&2; exit 1; }
    echo "$det $wc"
}

"$work/trace_workload" "$n" "$work" > /dev/null # warm-up

# Per mode, one line per run: "<run s> <cpu s> [<analysis wall s>]".
for ((r = 1; r <= runs; r++)); do
    measure "$work/trace_workload" "$n" "$work" >> "$work/untraced"
    res=$(run_ferret default)
    read -r det wall cpu <<< "$res"
    echo "$det $cpu $wall" >> "$work/ferret"
    res=$(run_ferret all --trace-all)
    read -r det wall cpu <<< "$res"
    echo "$det $cpu $wall" >> "$work/ferret-all"
    measure strace -f -o "$work/strace.out" "$work/trace_workload" "$n" "$work" >> "$work/strace"
    measure strace -f --seccomp-bpf -e trace="$strace_set" -o "$work/strace-bpf.out" \
        "$work/trace_workload" "$n" "$work" >> "$work/strace-bpf"
done
# med FILE COLUMN: median of a column (1-based) of the per-run lines.
med() { python3 -c "import statistics,sys; print(f'{statistics.median(float(l.split()[int(sys.argv[2]) - 1]) for l in open(sys.argv[1])):.3f}')" "$1" "$2"; }
all_runs() { cut -d' ' -f1 "$1" | paste -sd' '; }

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
u=$(med "$work/untraced" 1); uc=$(med "$work/untraced" 2)
row() { # label, file
    local w c
    w=$(med "$2" 1); c=$(med "$2" 2)
    printf '%-34s %9s %9s %9s %9s   runs: %s\n' "$1" "$w" "$(ratio "$w" "$u")" "$c" "$(ratio "$c" "$uc")" "$(all_runs "$2")"
}
echo "workload: $n iterations (~$syscalls syscalls seen by strace -f); medians of $runs runs; load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %9s %9s %9s %9s\n' "mode" "run (s)" "vs untr." "cpu (s)" "vs untr."
row "untraced" "$work/untraced"
row "ferret analyze (default set)" "$work/ferret"
row "ferret analyze --trace-all" "$work/ferret-all"
row "strace -f -o FILE" "$work/strace"
row "strace -f --seccomp-bpf (same set)" "$work/strace-bpf"
echo "ferret analyze wall (whole analysis), median: default $(med "$work/ferret" 3)s, --trace-all $(med "$work/ferret-all" 3)s"
echo "ferret --trace-all vs strace -f: $(ratio "$(med "$work/ferret-all" 1)" "$(med "$work/strace" 1)") of strace's time, $(ratio "$(med "$work/ferret-all" 2)" "$(med "$work/strace" 2)") of its CPU time"
echo "fixed cost (static binary that exits at once, median of 5): $(median "${fixed[@]}")s wall, $(median "${beyond[@]}")s beyond static analysis"
