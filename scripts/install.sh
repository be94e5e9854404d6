#!/usr/bin/env bash
# Installs every system and Python package ferret's build, tests and benchmarks need,
# on a fresh Debian 12 machine as root. Idempotent: safe to run again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer before it does.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections

pkgs=$(grep -v '^\s*#' "$here/apt-packages.txt" | tr -s ' \n' ' ')
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt-get update
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $missing
fi

python3 -m pip install --quiet --disable-pip-version-check -r "$here/pip-requirements.txt"
