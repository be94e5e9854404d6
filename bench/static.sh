#!/usr/bin/env bash
# ferret static vs the pipeline an analyst would otherwise chain by hand, on the same
# input in one run: every ELF in /usr/bin (or $BENCH_DIR).
#
#   pipeline, as the issue lists it and an analyst types it: `readelf -a` and
#             `strings -a` per file in a shell loop, then one `yara` run over the same
#             files with the 248 Elastic Linux rules (yara's own threads, -p nproc)
#   pipeline, parallelised: the same per-file commands spread over every core
#             (xargs -P nproc), then the same yara run: the strongest form of the peer
#   ferret:   ferret static --json --rules <the same rules> -j nproc over the same
#             files, which also reports fuzzy hashes, IOCs, packer signs and its
#             bundled rules
#
# Prints files/s of each and the ratios. Uses target/release/ferret ($FERRET to
# override); build it first with `cargo build --release -p ferret`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
ferret=${FERRET:-$repo/target/release/ferret}
rules_dir=${RULES:-$repo/../shared/data/yara/elastic-linux}
dir=${BENCH_DIR:-/usr/bin}
jobs=$(nproc)
[ -x "$ferret" ] || { echo "no $ferret: run cargo build --release -p ferret" >&2; exit 2; }
for t in readelf strings yara; do command -v $t >/dev/null || { echo "$t missing: run scripts/install.sh" >&2; exit 2; }; done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
find "$dir" -maxdepth 1 -type f -print0 | sort -z | while IFS= read -r -d '' f; do
    if [ "$(head -c4 "$f" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = "7f454c46" ]; then printf '%s\n' "$f"; fi
done > "$work/files"
n=$(wc -l < "$work/files")
mb=$(xargs -d '\n' -a "$work/files" du -cb | tail -1 | awk '{printf "%.1f", $1/1048576}')
ls "$rules_dir"/*.yar > "$work/rules"
echo "input: $n ELF files, $mb MiB, from $dir; $(wc -l < "$work/rules") YARA rule files; $jobs cores"

# Same warm page cache for both; ferret's compiled-rule cache primed as after any
# earlier run (its first run compiles the rules once, ~1-2 s).
xargs -d '\n' -a "$work/files" cat > /dev/null
export FERRET_CACHE_DIR="$work/cache"
"$ferret" static --json --rules "$rules_dir" /bin/true > /dev/null

now() { date +%s.%N; }

per_file='for f; do readelf -a -W "$f" >/dev/null 2>&1; strings -a "$f" >/dev/null; done'
yara_run() { yara -w -p "$jobs" --scan-list $(cat "$work/rules") "$work/files" > "$work/yara.out" 2>/dev/null || true; }

t0=$(now)
xargs -d '\n' -a "$work/files" sh -c "$per_file" _
t1=$(now)
yara_run
t2=$(now)
seq=$(echo "$t2 - $t0" | bc -l)
echo "pipeline (loop): readelf+strings $(printf %.2f "$(echo "$t1 - $t0" | bc -l)") s, yara $(printf %.2f "$(echo "$t2 - $t1" | bc -l)") s ($(wc -l < "$work/yara.out") matches)"

t0=$(now)
xargs -d '\n' -a "$work/files" -P "$jobs" -n 16 sh -c "$per_file" _
t1=$(now)
yara_run
t2=$(now)
pipe=$(echo "$t2 - $t0" | bc -l)
echo "pipeline (xargs -P $jobs): readelf+strings $(printf %.2f "$(echo "$t1 - $t0" | bc -l)") s, yara $(printf %.2f "$(echo "$t2 - $t1" | bc -l)") s"

t3=$(now)
xargs -d '\n' -a "$work/files" "$ferret" static --json --rules "$rules_dir" -j "$jobs" > "$work/ferret.json"
t4=$(now)
fer=$(echo "$t4 - $t3" | bc -l)
python3 - "$work/ferret.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
files = d["files"]
m = sum(len(f["yara"]["matches"]) for f in files if f.get("yara"))
iocs = sum(sum(len(v) for v in f["iocs"].values()) for f in files)
print(f"ferret: {len(files)} reports, {m} YARA matches, {iocs} IOCs, errors {len(d['errors'])}")
PY

awk -v n="$n" -v s="$seq" -v p="$pipe" -v f="$fer" 'BEGIN {
    printf "pipeline (loop)     %8.2f s  %8.1f files/s\n", s, n / s
    printf "pipeline (parallel) %8.2f s  %8.1f files/s\n", p, n / p
    printf "ferret              %8.2f s  %8.1f files/s\n", f, n / f
    printf "ratio               %8.2fx vs the loop, %.2fx vs the parallel pipeline (target >= 3x)\n", s / f, p / f
}'
