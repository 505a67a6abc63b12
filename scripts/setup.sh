#!/usr/bin/env bash
# Installs everything tracer needs to build, run and test on a fresh Debian 12 machine:
# the pinned Deno and Bun runtimes (npm registry) and the Debian packages used at build and
# test time (clang-19, llvm-19, libbpf-dev headers, bpftool, gcc, qemu for other kernels, and for
# the arm64 guest qemu-system-arm and an aarch64 C cross-compiler with its static libc), strace
# (what the tracer itself opens and writes: test/privilege.test.ts), the peers the benchmarks
# compare against (bpftrace, libbpf-tools execsnoop), and Bun's base executables for the other
# compile targets (npm), and Podman with its OCI runtimes (crun; runc where crun refuses the host,
# e.g. hybrid cgroups here) for the real-container tests (test/containers.ts; no registry, no
# network: the image is built locally from busybox-static and a static workload, libc6-dev's libc.a).
# Idempotent: does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
# Downloads (kernels, arm64 packages, Bun's base executables) live outside the clone.
source scripts/cache-dirs.sh

need_apt=()
for pkg in clang-19 llvm-19 libbpf-dev libbpf-tools bpftool bpftrace gcc make xz-utils binutils cpio busybox-static qemu-system-x86 zstd lz4 nftables strace \
  qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross podman crun runc libc6-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/bun ] || [ ! -d node_modules/@types/node ]; then
  # `npm install --no-save` rather than `npm ci`: npm 11 writes a lock holding only this
  # platform's optional runtime packages, which `npm ci` then rejects as out of sync.
  echo "setup: installing the pinned runtimes (npm install)" >&2
  npm install --no-save --no-audit --no-fund --loglevel=error >/dev/null
fi

# Bun's binaries for build.ts's other targets (x86-64 baseline, arm64), pinned to package.json's
# Bun, from npm into .cache/bun-targets/.
node_modules/.bin/deno run -A scripts/bun-targets.ts
