#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine with Node 20 (as root): installs what it needs,
# typechecks, then runs every suite against real Dovecot servers started on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh chromium   # chromium: the dashboard's browser test (test/web-e2e.test.ts)
bash scripts/install-node-deps.sh
npx --no-install tsc -p tsconfig.json
# Each file starts its own servers on free ports, so two files can run side by side on 2 cores.
exec node --import tsx --test --test-concurrency=2 --test-timeout=600000 test/*.test.ts
