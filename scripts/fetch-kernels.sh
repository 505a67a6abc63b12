#!/usr/bin/env bash
# Downloads Debian 6.1 kernel images (generic and PREEMPT_RT) with `apt-get download`,
# extracts each bzImage's vmlinux (the xz payload is an ELF) and its .BTF section, and
# caches them outside git:
#   .cache/kernels/<version>/bzImage      e.g. <version> = 6.1.0-54-amd64, 6.1.0-54-rt-amd64
#   .cache/kernels/<version>/vmlinux      the ELF (x86_64) with its .BTF section
#   .cache/kernels/<version>/vmlinux.btf  the raw BTF blob
#   .cache/kernels/<version>/modules/{ext4,tcp_bbr}.ko  two modules: split BTF over vmlinux
# Prints one line per kernel: the directory. Idempotent: a cached kernel is not fetched again.
# usage: scripts/fetch-kernels.sh [PACKAGE...]   (default: the newest 6.1 amd64 and rt-amd64)
set -euo pipefail
cd "$(dirname "$0")/.."
cache=$PWD/.cache/kernels
mkdir -p "$cache"

packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
  list=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-(rt-)?amd64-unsigned$' | awk '{print $1}')
  if [ -z "$list" ]; then
    apt-get update >/dev/null
    list=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-(rt-)?amd64-unsigned$' | awk '{print $1}')
  fi
  generic=$(grep -v -- '-rt-' <<<"$list" | sort -V | tail -n 1)
  rt=$(grep -- '-rt-' <<<"$list" | sort -V | tail -n 1)
  packages=("$generic" "$rt")
fi

for pkg in "${packages[@]}"; do
  version=${pkg#linux-image-}
  version=${version%-unsigned}
  dir=$cache/$version
  if [ -s "$dir/vmlinux.btf" ] && [ -s "$dir/bzImage" ] && [ -s "$dir/vmlinux" ] &&
    [ -s "$dir/modules/ext4.ko" ] && [ -s "$dir/modules/tcp_bbr.ko" ]; then
    echo "$dir"
    continue
  fi
  work=$(mktemp -d "$cache/.fetch.XXXXXX")
  (
    cd "$work"
    apt-get download "$pkg" >/dev/null 2>&1 || apt-get download "$pkg"
    dpkg-deb --fsys-tarfile ./*.deb |
      tar -x --wildcards './boot/vmlinuz-*' '*/kernel/fs/ext4/ext4.ko*' '*/kernel/net/ipv4/tcp_bbr.ko*'
    mv ./boot/vmlinuz-* bzImage
    mkdir modules
    find ./lib -name '*.ko*' -exec mv {} modules/ \;
    # Newer kernels ship compressed modules (.ko.xz, .ko.zst).
    for m in modules/*.xz; do if [ -e "$m" ]; then xz -d "$m"; fi; done
    for m in modules/*.zst; do if [ -e "$m" ]; then zstd -q -d --rm "$m"; fi; done
    # The compressed payload starts at the xz magic FD 37 7A 58 5A 00 (6.1) or the zstd
    # magic 28 B5 2F FD (6.12).
    off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' bzImage | head -n 1 | cut -d: -f1 || true)
    if [ -n "$off" ]; then
      tail -c +$((off + 1)) bzImage | xz -dc --single-stream >vmlinux 2>/dev/null || true
    else
      off=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' bzImage | head -n 1 | cut -d: -f1)
      [ -n "$off" ] || { echo "fetch-kernels: no xz or zstd payload in $pkg's bzImage" >&2; exit 1; }
      tail -c +$((off + 1)) bzImage | zstd -dc >vmlinux 2>/dev/null || true
    fi
    [ "$(head -c 4 vmlinux | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
      { echo "fetch-kernels: $pkg's payload is not an ELF" >&2; exit 1; }
    objcopy -O binary --only-section=.BTF vmlinux vmlinux.btf
    [ -s vmlinux.btf ] || { echo "fetch-kernels: $pkg's vmlinux has no .BTF" >&2; exit 1; }
  )
  mkdir -p "$dir"
  rm -rf "$dir/modules"
  mv "$work/bzImage" "$work/vmlinux" "$work/vmlinux.btf" "$work/modules" "$dir/"
  rm -rf "$work"
  echo "$dir"
done
