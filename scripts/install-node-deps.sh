#!/usr/bin/env bash
# Installs npm dependencies from the lockfile when node_modules is missing or stale.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.mailshift-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
