#!/usr/bin/env bash
# The project's run command (README): installs the pinned runtimes, builds ./tracer, runs it.
#   bash scripts/run.sh                 -> ./tracer exec
#   bash scripts/run.sh check --json    -> ./tracer check --json
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node_modules/.bin/deno run -A build.ts >&2
[ $# -gt 0 ] || set -- exec
if [ "$(id -u)" -eq 0 ]; then exec ./tracer "$@"; else exec sudo ./tracer "$@"; fi
