#!/usr/bin/env bash
# Benchmark of `ferret serve`'s API on loopback (issue 7, done-when 4): N concurrent
# submissions (default 200) by the load generator crates/ferret-server/examples/api_load.rs,
# a check through the task list that each was accepted exactly once, then N concurrent
# report retrievals once the in-process workers analysed them. Prints throughput and
# p50/p99 latency of both, and the machine's load average around the run.
#
# Usage: bench/api.sh [N]      (default 200)
# Env:   FERRET=path to a prebuilt ferret binary (else built: release, --no-default-features),
#        INPUT=file to submit (default shared/data/l7/irc.pcap), KIND=pcap|file (default pcap),
#        WORKERS=in-process workers (default 2), PROFILE=release|dev (default release: what
#        to build ferret, unless FERRET is set, and the load generator with),
#        CARGO_TARGET_DIR as for cargo.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-200}"
input="${INPUT:-$root/../shared/data/l7/irc.pcap}"
kind="${KIND:-pcap}"
workers="${WORKERS:-2}"
target="${CARGO_TARGET_DIR:-$root/target}"
profile="${PROFILE:-release}"
case "$profile" in
    release) outdir=release ;;
    dev) outdir=debug ;;
    *) echo "api.sh: PROFILE must be release or dev" >&2; exit 1 ;;
esac
[ -r "$input" ] || { echo "api.sh: cannot read $input (see shared/README.md)" >&2; exit 1; }

if [ -z "${FERRET:-}" ]; then
    echo "== building ferret ($profile, --no-default-features)"
    cargo build --quiet --profile "$profile" -p ferret --no-default-features --manifest-path "$root/Cargo.toml"
    FERRET="$target/$outdir/ferret"
fi
echo "== building the load generator ($profile)"
cargo build --quiet --profile "$profile" -p ferret-server --example api_load --manifest-path "$root/Cargo.toml"
load_gen="$target/$outdir/examples/api_load"

tmp=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

token=$("$FERRET" token create bench --data "$tmp/data" | grep -o 'ferret_[0-9a-f]\{64\}' | head -n1)
[ -n "$token" ] || { echo "api.sh: ferret token create printed no token" >&2; exit 1; }
# Port 0: the kernel picks a free port; the server prints the address it got.
"$FERRET" serve --listen 127.0.0.1:0 --data "$tmp/data" --workers "$workers" --no-yara \
    >"$tmp/serve.out" 2>"$tmp/serve.err" &
server=$!
addr=""
for _ in $(seq 1 300); do
    addr=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$tmp/serve.out" | head -n1 | sed 's|http://||') || true
    [ -n "$addr" ] && break
    kill -0 "$server" 2>/dev/null || { echo "api.sh: ferret serve exited:" >&2; cat "$tmp/serve.err" >&2; exit 1; }
    sleep 0.1
done
[ -n "$addr" ] || { echo "api.sh: ferret serve did not start" >&2; exit 1; }

echo "== $n concurrent $kind submissions of $(basename "$input") ($(stat -c %s "$input") bytes) to $addr, $workers workers"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
"$load_gen" --addr "$addr" --token "$token" --file "$input" --kind "$kind" -n "$n"
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
