#!/usr/bin/env bash
# The project's run command (README): installs the pinned runtimes, builds the tracer binary for
# this machine, runs it.
#   bash scripts/run.sh                 -> ./tracer exec
#   bash scripts/run.sh check --json    -> ./tracer check --json
# The binary: ./tracer-arm64 on arm64, ./tracer-x64-baseline on an x86-64 CPU without AVX2,
# else ./tracer (build.ts --all builds all three).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
case $(uname -m) in
  aarch64 | arm64) name=tracer-arm64 target=bun-linux-arm64 ;;
  x86_64)
    # Bun's x86-64 builds need SSE4.2 (x86-64-v2, Nehalem and later): older CPUs get SIGILL.
    grep -qw sse4_2 /proc/cpuinfo ||
      { echo "run.sh: this CPU lacks SSE4.2, which every x86-64 build of Bun needs" >&2; exit 1; }
    if grep -qw avx2 /proc/cpuinfo; then
      name=tracer target=bun-linux-x64
    else
      name=tracer-x64-baseline target=bun-linux-x64-baseline
    fi
    ;;
  *) echo "run.sh: no tracer build for $(uname -m) (x86_64 and arm64 only)" >&2; exit 1 ;;
esac
node_modules/.bin/deno run -A build.ts --target "$target" --out "$name" >&2
[ $# -gt 0 ] || set -- exec
if [ "$(id -u)" -eq 0 ]; then exec "./$name" "$@"; else exec sudo "./$name" "$@"; fi
