#!/usr/bin/env bash
# Downloads Debian kernel images (default: 6.1 generic and PREEMPT_RT) with `apt-get download`,
# extracts each bzImage's vmlinux (the xz payload is an ELF) and its .BTF section, and
# caches them outside git:
#   .cache/kernels/<version>/bzImage      e.g. <version> = 6.1.0-54-amd64, 6.1.0-54-rt-amd64
#   .cache/kernels/<version>/vmlinux      the ELF (x86_64) with its .BTF section
#   .cache/kernels/<version>/vmlinux.btf  the raw BTF blob
#   .cache/kernels/<version>/modules/{ext4,tcp_bbr}.ko  two modules: split BTF over vmlinux
# Prints one line per kernel: the directory. Idempotent: a cached kernel is not fetched again.
# Debian 11's 5.10 kernels come from the bullseye suite through a private apt configuration
# (its own sources, lists and cache under .cache/apt/bullseye): the host's apt sources are
# never touched.
# usage: scripts/fetch-kernels.sh [PACKAGE...]   (default: the newest 6.1 amd64 and rt-amd64)
#        scripts/fetch-kernels.sh --newest REGEX
#          prints the newest package whose name matches and that downloads (a mirror may list
#          a package it does not have), fetched into the cache
set -euo pipefail
cd "$(dirname "$0")/.."
# The downloads live outside the clone, linked as .cache/kernels and .cache/apt.
source scripts/cache-dirs.sh
cache=$PWD/.cache/kernels
apt_root=$PWD/.cache/apt

# apt options for a package: the host's configuration, or bullseye's private one for 5.10.
apt_opts=()
apt_for() { # package name or regex
  apt_opts=()
  case $1 in
    *5.10* | *5\\.10*) ;;
    *) return 0 ;;
  esac
  local dir=$apt_root/bullseye
  apt_opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache")
  # The package lists are fetched once a day at most.
  if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
    printf '%s\n' "deb http://deb.debian.org/debian bullseye main" \
      "deb http://deb.debian.org/debian-security bullseye-security main" >"$dir/sources.list"
    apt-get "${apt_opts[@]}" update >/dev/null
  fi
}

newest=""
if [ "${1:-}" = "--newest" ]; then
  apt_for "$2"
  list=$(apt-cache "${apt_opts[@]}" search --names-only "$2" | awk '{print $1}' | sort -rV)
  if [ -z "$list" ] && [ ${#apt_opts[@]} -eq 0 ]; then
    apt-get update >/dev/null
    list=$(apt-cache search --names-only "$2" | awk '{print $1}' | sort -rV)
  fi
  [ -n "$list" ] || { echo "fetch-kernels: no package matches $2" >&2; exit 1; }
  # The newest six, newest first: the first that downloads is the answer. One that did not
  # download is not tried again for a day.
  for pkg in $(head -n 6 <<<"$list"); do
    gone=$cache/.unavailable-$pkg
    [ -n "$(find "$gone" -mtime -1 2>/dev/null)" ] && continue
    if bash "$0" "$pkg" >/dev/null 2>&1; then newest=$pkg; break; fi
    touch "$gone"
  done
  [ -n "$newest" ] || { echo "fetch-kernels: none of $(head -n 6 <<<"$list" | tr '\n' ' ')downloads" >&2; exit 1; }
  echo "$newest"
  exit 0
fi

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
  if [ -s "$dir/vmlinux.btf" ] && [ -s "$dir/bzImage" ] && [ -s "$dir/vmlinux" ] && [ -d "$dir/modules" ]; then
    echo "$dir"
    continue
  fi
  work=$(mktemp -d "$cache/.fetch.XXXXXX")
  trap 'rm -rf "$work"' EXIT # a failed download leaves nothing behind
  (
    cd "$work"
    apt_for "$pkg"
    apt-get "${apt_opts[@]}" download "$pkg" >/dev/null 2>&1 || apt-get "${apt_opts[@]}" download "$pkg"
    dpkg-deb --fsys-tarfile ./*.deb | tar -x --wildcards './boot/vmlinuz-*'
    # Modules where the kernel has them as modules (the cloud kernels build ext4 in).
    dpkg-deb --fsys-tarfile ./*.deb |
      tar -x --wildcards '*/kernel/fs/ext4/ext4.ko*' '*/kernel/net/ipv4/tcp_bbr.ko*' 2>/dev/null || true
    mv ./boot/vmlinuz-* bzImage
    mkdir modules
    if [ -d lib ]; then find ./lib -name '*.ko*' -exec mv {} modules/ \;; fi
    # Newer kernels ship compressed modules (.ko.xz, .ko.zst).
    for m in modules/*.xz; do if [ -e "$m" ]; then xz -d "$m"; fi; done
    for m in modules/*.zst; do if [ -e "$m" ]; then zstd -q -d --rm "$m"; fi; done
    # The compressed payload starts at its format's magic: xz FD 37 7A 58 5A 00 (6.1), zstd
    # 28 B5 2F FD (6.12) or legacy lz4 02 21 4C 18 (5.10 cloud). The first magic whose stream
    # decompresses to an ELF is the payload (a magic can also occur by chance).
    for fmt in '\xfd7zXZ\x00:xz -dc --single-stream' '\x28\xb5\x2f\xfd:zstd -dc' \
      '\x02\x21\x4c\x18:lz4 -dc'; do
      for off in $(LC_ALL=C grep -obUaP "${fmt%%:*}" bzImage | head -n 3 | cut -d: -f1); do
        tail -c +$((off + 1)) bzImage | ${fmt#*:} >vmlinux 2>/dev/null || true
        [ "$(head -c 4 vmlinux | od -An -tx1 | tr -d ' ')" = 7f454c46 ] && break 2
      done
    done
    [ "$(head -c 4 vmlinux 2>/dev/null | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
      { echo "fetch-kernels: no xz, zstd or lz4 payload of $pkg's bzImage is an ELF" >&2; exit 1; }
    objcopy -O binary --only-section=.BTF vmlinux vmlinux.btf
    [ -s vmlinux.btf ] || { echo "fetch-kernels: $pkg's vmlinux has no .BTF" >&2; exit 1; }
  )
  mkdir -p "$dir"
  rm -rf "$dir/modules"
  mv "$work/bzImage" "$work/vmlinux" "$work/vmlinux.btf" "$work/modules" "$dir/"
  rm -rf "$work"
  echo "$dir"
done
