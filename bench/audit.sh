#!/usr/bin/env bash
# ferret audit vs ausearch: parse a >= 1 GB auditd log (the shared go-libaudit test logs
# repeated, serials and timestamps rewritten so every copy is a distinct event) with
# `ferret audit --json` and `ausearch -i -if FILE` in one run; print records/s and the ratio.
#
# Usage: bench/audit.sh [SIZE_MB]   (default 1024; the log is cached in $BENCH_DIR)
# Needs: python3, ausearch (Debian package auditd; the daemon is never started).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MB=${1:-1024}
BENCH_DIR=${BENCH_DIR:-/tmp/ferret-bench-audit}
TARGET=${CARGO_TARGET_DIR:-/work/target-ferret-audit}
DATA="$ROOT/../shared/data/audit"
LOG="$BENCH_DIR/audit-${SIZE_MB}MB.log"

command -v ausearch >/dev/null || { echo "ausearch missing: apt-get install auditd" >&2; exit 1; }
mkdir -p "$BENCH_DIR"

echo "building ferret (release, no yara)..." >&2
CARGO_TARGET_DIR="$TARGET" cargo build --release -q -p ferret --no-default-features \
    --manifest-path "$ROOT/Cargo.toml"
FERRET="$TARGET/release/ferret"

if [ ! -s "$LOG" ]; then
    echo "generating $LOG (${SIZE_MB} MB)..." >&2
    python3 - "$DATA" "$LOG" "$SIZE_MB" <<'PY'
import os, re, sys
data, out, size_mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = []
for name in sorted(os.listdir(data)):
    if name.endswith(".log"):
        with open(os.path.join(data, name), encoding="utf-8", errors="replace") as f:
            lines += [l.rstrip("\n") for l in f if l.strip()]
hdr = re.compile(r"msg=audit\((\d+)\.(\d{3}):(\d+)\)")
# Template: each line split around its header, with the original event's index so that
# records of one event keep sharing a serial in every copy.
tmpl, ids = [], {}
for l in lines:
    m = hdr.search(l)
    if not m:
        tmpl.append((l, None, None, None))
        continue
    key = (m.group(1), m.group(2), m.group(3))
    idx = ids.setdefault(key, len(ids))
    tmpl.append((l[:m.start()], l[m.end():], idx, m.group(2)))
n_events = len(ids)
target = size_mb * 1024 * 1024
written = records = copy = 0
base = 1_600_000_000
with open(out, "w", encoding="utf-8") as f:
    while written < target:
        chunk = []
        for pre, post, idx, ms in tmpl:
            if idx is None:
                chunk.append(pre)
                continue
            serial = copy * n_events + idx + 1
            sec = base + serial // 1000
            chunk.append(f"{pre}msg=audit({sec}.{ms}:{serial}){post}")
            records += 1
        s = "\n".join(chunk) + "\n"
        f.write(s)
        written += len(s.encode())
        copy += 1
with open(out + ".records", "w") as f:
    f.write(f"{records}\n")
PY
fi
RECORDS=$(cat "$LOG.records")
BYTES=$(stat -c %s "$LOG")

# Warm the page cache so both tools read from memory.
cat "$LOG" > /dev/null

# Both tools run from one Python harness that records wall time and the child's CPU time
# (user + system): on a shared machine the CPU time is the steadier figure.
python3 - "$FERRET" "$LOG" "$BYTES" "$RECORDS" "$BENCH_DIR" <<'PY'
import resource, subprocess, sys, time
ferret, log, size, rec, d = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]

def run(name, argv, check):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    with open(f"{d}/{name}.stderr", "wb") as err:
        p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=err)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if check and p.returncode != 0:
        sys.exit(f"{name} failed ({p.returncode}): " + open(f"{d}/{name}.stderr").read())
    return wall, cpu

print(f"log: {size / 1e6:.0f} MB, {rec} records", flush=True)
rows = []
for name, argv, check in [
    ("ferret", [ferret, "audit", "--json", log], True),
    # ausearch exits 1 when nothing matched; it prints every event here.
    ("ausearch", ["ausearch", "-i", "-if", log], False),
]:
    wall, cpu = run(name, argv, check)
    rows.append((wall, cpu))
    label = "ferret audit --json" if name == "ferret" else "ausearch -i -if    "
    print(f"{label}: wall {wall:8.2f} s ({rec / wall:12,.0f} records/s, {size / wall / 1e6:7.1f} MB/s)"
          f"  cpu {cpu:8.2f} s ({rec / cpu:12,.0f} records/s)", flush=True)
(fw, fc), (aw, ac) = rows
print(f"ratio ferret/ausearch records/s: wall {aw / fw:.1f}x, cpu {ac / fc:.1f}x (target >= 10x)")
print("ferret: " + open(f"{d}/ferret.stderr").read().strip())
PY
