#!/usr/bin/env bash
# Smoke test of a compiled ./tracer binary copied alone to a directory: $1 is its path.
set -euo pipefail
bin=$1
"$bin" --version | grep -qE '^tracer [0-9]+\.[0-9]+\.[0-9]+$'
"$bin" --help | grep -q 'usage: tracer'
set +e
"$bin" no-such-command 2>/dev/null; [ $? -eq 2 ] || { echo "unknown command: want exit 2"; exit 1; }
set -e
echo "smoke: ok"
