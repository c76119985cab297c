#!/usr/bin/env bash
# Regenerates docs/cli.md from the commands' own --help, so the doc cannot drift from the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo '# Command line'
  echo
  echo 'Generated from the commands'"'"' own help by `npm run docs:cli`. Exit codes and error codes: [errors.md](errors.md).'
  for c in migrate verify diagnose; do
    node bin/mailshift.js "$c" --help >/dev/null 2>&1 || continue
    echo
    echo "## mailshift $c"
    echo
    echo '```'
    COLUMNS=100 node bin/mailshift.js "$c" --help
    echo '```'
  done
} > docs/cli.md
