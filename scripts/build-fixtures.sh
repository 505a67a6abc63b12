#!/usr/bin/env bash
# Rebuilds the CO-RE fixtures in test/fixtures/core/ with Debian's clang-19 and libbpf-dev
# headers: the BPF objects (*.bpf.c -> *.bpf.o, debug info stripped, BTF kept) and the target
# BTF variants (target_*.c -> target_*.btf, the raw .BTF section of a BPF-target compile).
# The outputs are committed; run this after editing a fixture source.
set -euo pipefail
cd "$(dirname "$0")/../test/fixtures/core"
CLANG=${CLANG:-clang-19}
STRIP=${STRIP:-llvm-strip-19}
OBJCOPY=${OBJCOPY:-llvm-objcopy-19}
CFLAGS=(-O2 -g -target bpf -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu -I.)

# core_vmlinux.bpf.c is generated from the Debian 6.1 generic kernel's BTF (its vmlinux.h,
# printed by bpftool, gives the local types): every field of ~30 kernel structs, every
# enumerator of a few kernel enums. The kernel BTF comes from scripts/fetch-kernels.sh.
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
btf61=$(ls -d ../../../.cache/kernels/6.1.0-*-amd64/vmlinux.btf 2>/dev/null | grep -v -- -rt- | sort -V | tail -n 1 || true)
if [ -z "$btf61" ]; then
  bash ../../../scripts/fetch-kernels.sh >/dev/null
  btf61=$(ls -d ../../../.cache/kernels/6.1.0-*-amd64/vmlinux.btf | grep -v -- -rt- | sort -V | tail -n 1)
fi
bpftool btf dump file "$btf61" format c >"$gen/vmlinux_61.h"
../../../node_modules/.bin/deno run -A gen-kernel-fixture.ts "$btf61" core_vmlinux.bpf.c

for src in *.bpf.c; do
  obj=${src%.c}.o
  "$CLANG" "${CFLAGS[@]}" -I"$gen" -c "$src" -o "$obj"
  "$STRIP" -g "$obj"
  echo "built $obj"
done

for src in target_*.c; do
  tmp=$(mktemp)
  "$CLANG" -g -O0 -target bpf -c "$src" -o "$tmp"
  "$OBJCOPY" --dump-section ".BTF=${src%.c}.btf" "$tmp"
  rm -f "$tmp"
  echo "built ${src%.c}.btf"
done
