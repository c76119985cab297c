#!/usr/bin/env bash
# Installs the Debian packages mailshift's demo, tests and benchmarks need.
# Idempotent: does nothing when everything is present. Must run as root on Debian 12.
set -euo pipefail
want=(dovecot-imapd openssl isync)
for arg in "$@"; do want+=("$arg"); done
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "mailshift: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
# Machines without systemd (containers, CI) must not try to start the packaged daemons: we run our own.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1
fi
trap '[ $created_policy -eq 1 ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package enables its own service; we never use it. Only the packaged unit is stopped: test
# and demo instances run their own Dovecot processes, which must survive an install made meanwhile.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now dovecot >/dev/null 2>&1 || true
fi
