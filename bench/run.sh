#!/usr/bin/env bash
# npm run bench [-- options]: installs what the benchmark needs, then runs it (see docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/install-node-deps.sh
exec node --import tsx bench/run.ts "$@"
