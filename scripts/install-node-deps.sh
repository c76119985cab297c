#!/usr/bin/env bash
# Installs npm dependencies from the lockfile when node_modules is missing or stale.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.mailshift-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
# The dashboard (web/, served by `mailshift serve`): built when web/dist is missing or older than its sources.
if [ -d web/src ]; then
  if [ ! -f web/dist/index.html ] || [ -n "$(find web/src web/index.html web/vite.config.ts -newer web/dist/index.html -print -quit 2>/dev/null)" ]; then
    npx --no-install vite build web --logLevel warn
  fi
fi
