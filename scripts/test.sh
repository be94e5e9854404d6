#!/usr/bin/env bash
# Every check and test of the project, as CI runs it (.ci/run calls exactly this).
# Needs root on Debian 12: the sandbox, tracer and fake-internet tests create
# namespaces, cgroups and ptrace sessions.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
