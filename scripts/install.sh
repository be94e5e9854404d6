#!/usr/bin/env bash
# Installs every system and Python package ferret's build, tests and benchmarks need,
# on a fresh Debian 12 machine as root. Idempotent: safe to run again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer before it does.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections

# qemu-user-static ships binfmt.d handlers that a running systemd-binfmt would register on
# the host; ferret registers them only inside its sandboxes, so never install them.
echo 'path-exclude=/usr/lib/binfmt.d/qemu-*' > /etc/dpkg/dpkg.cfg.d/ferret-no-host-binfmt

pkgs=$(grep -v '^\s*#' "$here/apt-packages.txt" | tr -s ' \n' ' ')
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt-get update
    # Packages such as auditd start their daemon on install; ferret changes nothing of
    # the host's audit or binfmt state, so forbid service starts for this install only.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
    fi
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $missing || { [ $own_policy = 1 ] && rm -f "$policy"; exit 1; }
    [ $own_policy = 1 ] && rm -f "$policy"
fi

python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r "$here/pip-requirements.txt"
