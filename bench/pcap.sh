#!/usr/bin/env bash
# Benchmark of `ferret pcap` against tshark and a Python dpkt script on a
# generated capture of at least 1 GB (bench/pcapgen).
#
# Usage: bench/pcap.sh [SIZE_MB]   (default 1100)
# Env:   PCAP=path to reuse/keep the capture (default /tmp/ferret-bench.pcap),
#        CARGO_TARGET_DIR as for cargo, FERRET=path to a prebuilt ferret binary.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
size_mb="${1:-1100}"
pcap="${PCAP:-/tmp/ferret-bench.pcap}"
target="${CARGO_TARGET_DIR:-$root/target}"
for tool in tshark python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "pcap.sh: $tool is missing (scripts/install.sh installs it)" >&2; exit 1; }
done
python3 -c 'import dpkt' 2>/dev/null || { echo "pcap.sh: python dpkt is missing (scripts/pip-requirements.txt)" >&2; exit 1; }

need=$((size_mb * 1000000))
have=$(stat -c %s "$pcap" 2>/dev/null || echo 0)
if [ "$have" -lt "$need" ]; then
    echo "== generating $pcap ($size_mb MB)"
    "$root/bench/pcapgen" "$pcap" "$size_mb"
fi
if [ -z "${FERRET:-}" ]; then
    echo "== building ferret (release, --no-default-features)"
    cargo build --quiet --release -p ferret --no-default-features --manifest-path "$root/Cargo.toml"
    FERRET="$target/release/ferret"
fi
bytes=$(stat -c %s "$pcap")
cat "$pcap" >/dev/null # page cache: every tool reads from memory

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# run NAME CMD...: wall time, CPU time and peak RSS of CMD via GNU time.
run() {
    local name="$1"
    shift
    /usr/bin/time -f '%e %U %S %M' -o "$tmp/$name.time" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || {
        echo "pcap.sh: $name failed:" >&2
        cat "$tmp/$name.err" >&2
        exit 1
    }
}
# ferret runs in about a second, where a busy machine's noise is large: best of 3.
best() {
    local name="$1"
    shift
    for i in 1 2 3; do
        run "$name.$i" "$@"
        echo "   run $i: $(cut -d' ' -f1 "$tmp/$name.$i.time") s"
    done
    for i in 1 2 3; do echo "$(cut -d' ' -f1 "$tmp/$name.$i.time") $i"; done | sort -n | head -1 | {
        read -r _ i
        cp "$tmp/$name.$i.time" "$tmp/$name.time"
        cp "$tmp/$name.$i.out" "$tmp/$name.out"
    }
}
echo "== ferret pcap"
best ferret "$FERRET" pcap "$pcap"
echo "== ferret pcap --json"
best ferret_json "$FERRET" pcap --json "$pcap"
echo "== tshark -q -z conv,tcp -z dns,tree"
run tshark tshark -q -r "$pcap" -z conv,tcp -z dns,tree
echo "== dpkt"
run dpkt python3 "$root/bench/pcap_dpkt.py" "$pcap"

packets=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["packets"])' "$tmp/ferret_json.out")
echo
echo "capture: $pcap, $bytes bytes, $packets packets"
echo "dpkt found: $(cat "$tmp/dpkt.out")"
python3 - "$bytes" "$packets" "$tmp" <<'PY'
import sys
size, packets, tmp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rows = {}
for name in ("ferret", "ferret_json", "tshark", "dpkt"):
    wall, user, sys_, rss = open(f"{tmp}/{name}.time").read().split()[-4:]
    rows[name] = (float(wall), float(user) + float(sys_), int(rss))
print(f"{'tool':<22}{'wall s':>9}{'cpu s':>9}{'MB/s':>10}{'packets/s':>13}{'peak RSS MB':>13}")
for name, (wall, cpu, rss) in rows.items():
    w = max(wall, 1e-3)
    print(f"{name:<22}{wall:>9.2f}{cpu:>9.2f}{size / w / 1e6:>10.0f}{packets / w:>13.0f}{rss / 1024:>13.1f}")
fw, fc, frss = rows["ferret"]
print()
print(f"ferret vs tshark: {rows['tshark'][0] / max(fw, 1e-3):.1f}x wall, {rows['tshark'][1] / max(fc, 1e-3):.1f}x cpu")
print(f"ferret vs dpkt:   {rows['dpkt'][0] / max(fw, 1e-3):.1f}x wall, {rows['dpkt'][1] / max(fc, 1e-3):.1f}x cpu")
print(f"ferret: {size / max(fw, 1e-3) / 1e9:.2f} GB/s wall, {size / max(fc, 1e-3) / 1e9:.2f} GB/s cpu, peak RSS {frss / 1024:.0f} MB")
print("targets: >= 1 GB/s, >= 20x dpkt, >= 10x tshark, peak RSS < 200 MB")
PY
