#!/usr/bin/env bash
# Sourced from the project root by setup.sh and the fetch scripts: what they download (kernels,
# arm64 packages, private apt lists, Bun's base executables) lives outside the clone, in
# TRACER_CACHE (default /var/cache/tracer, else ~/.cache/tracer), linked as .cache/<name>, so a
# fresh clone on the same machine (a CI run) finds it instead of downloading it again.
tracer_cache=${TRACER_CACHE:-/var/cache/tracer}
{ mkdir -p "$tracer_cache" 2>/dev/null && [ -w "$tracer_cache" ]; } || tracer_cache=$HOME/.cache/tracer
mkdir -p .cache
for name in kernels apt apt-arm64 arm64-root arm64-dev bun-targets; do
  mkdir -p "$tracer_cache/$name"
  [ -e ".cache/$name" ] || ln -s "$tracer_cache/$name" ".cache/$name"
done
