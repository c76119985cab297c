#!/usr/bin/env bash
# One command, fresh Debian 12 + Node 20, as root: installs what it needs, then runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/install-node-deps.sh
exec node --import tsx scripts/demo.ts
