#!/usr/bin/env bash
# Fetches what an arm64 qemu guest needs from Debian 12's arm64 packages, with a private apt
# configuration (its own sources list, lists and cache under .cache/apt-arm64/, architecture
# arm64 only): the host's apt sources and state are not touched.
#   .cache/kernels/<version>/Image       e.g. <version> = 6.1.0-56-cloud-arm64 (gzip'd Image)
#   .cache/arm64-root/bin/busybox        busybox-static:arm64
#   .cache/arm64-root/lib/...            libc6:arm64 (ld-linux-aarch64.so.1, libc, libm, ...)
#   .cache/arm64-dev/usr/...             libbpf-dev, libelf-dev, zlib1g-dev:arm64 (static libs)
# Prints three lines: the kernel's directory, the root directory, the static libraries' root. Idempotent: what is cached
# is not fetched again.
# usage: scripts/fetch-arm64.sh [KERNEL_PACKAGE]   (default: the newest 6.1 cloud-arm64 kernel)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cache-dirs.sh # .cache/{kernels,apt-arm64,arm64-root} live outside the clone
cache=$PWD/.cache
apt_dir=$cache/apt-arm64
mkdir -p "$apt_dir"/{lists/partial,archives/partial,etc/preferences.d}
# The same mirrors and suites as the host's Debian 12 (bookworm), for arm64.
cat >"$apt_dir/etc/sources.list" <<'EOF'
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
EOF
apt_opts=(
  -o "APT::Architecture=arm64" -o "APT::Architectures=arm64"
  -o "Dir::Etc::SourceList=$apt_dir/etc/sources.list" -o "Dir::Etc::SourceParts=-"
  -o "Dir::Etc::Preferences=$apt_dir/etc/preferences" -o "Dir::Etc::PreferencesParts=$apt_dir/etc/preferences.d"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "Dir::Cache::Archives=$apt_dir/archives"
  -o "Dir::State::status=/dev/null" -o "Debug::NoLocking=1"
)
mkdir -p "$apt_dir/cache"
aptq() { apt-cache "${apt_opts[@]}" "$@"; }
# Lists older than a day (or none) are refreshed.
if [ -z "$(find "$apt_dir/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
  apt-get "${apt_opts[@]}" update -qq >/dev/null
fi

pkg=${1:-}
if [ -z "$pkg" ]; then
  pkg=$(aptq search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-arm64-unsigned$' | awk '{print $1}' | sort -V | tail -n 1)
  [ -n "$pkg" ] || { echo "fetch-arm64: no linux-image-6.1.0-*-cloud-arm64-unsigned package" >&2; exit 1; }
fi
version=${pkg#linux-image-}
version=${version%-unsigned}
kdir=$cache/kernels/$version
root=$cache/arm64-root

if [ ! -s "$kdir/Image" ]; then
  work=$(mktemp -d "$cache/.fetch-arm64.XXXXXX")
  (cd "$work" && apt-get "${apt_opts[@]}" download "$pkg:arm64" >/dev/null &&
    dpkg-deb --fsys-tarfile ./*.deb | tar -x --wildcards './boot/vmlinuz-*')
  mkdir -p "$kdir"
  mv "$work"/boot/vmlinuz-* "$kdir/Image"
  rm -rf "$work"
fi

if [ ! -x "$root/bin/busybox" ] || [ ! -e "$root/lib/ld-linux-aarch64.so.1" ]; then
  work=$(mktemp -d "$cache/.fetch-arm64.XXXXXX")
  (cd "$work" && apt-get "${apt_opts[@]}" download busybox-static:arm64 libc6:arm64 >/dev/null)
  rm -rf "$root.new" && mkdir -p "$root.new"
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$root.new"; done
  # libc6 puts the loader under /usr/lib (merged /usr) or /lib; the guest wants /lib.
  if [ -d "$root.new/usr/lib/aarch64-linux-gnu" ] && [ ! -e "$root.new/lib" ]; then
    mv "$root.new/usr/lib" "$root.new/lib"
  fi
  [ -e "$root.new/lib/ld-linux-aarch64.so.1" ] ||
    ln -s aarch64-linux-gnu/ld-linux-aarch64.so.1 "$root.new/lib/ld-linux-aarch64.so.1"
  rm -rf "$root" && mv "$root.new" "$root"
  rm -rf "$work"
fi
# The libbpf harness's static libraries for arm64 (vmtest.sh --parity): libbpf-dev, libelf-dev
# and zlib1g-dev (libbpf.a, libelf.a, libz.a and their headers).
dev=$cache/arm64-dev
if [ ! -e "$dev/usr/lib/aarch64-linux-gnu/libbpf.a" ]; then
  work=$(mktemp -d "$cache/.fetch-arm64.XXXXXX")
  (cd "$work" && apt-get "${apt_opts[@]}" download libbpf-dev:arm64 libelf-dev:arm64 zlib1g-dev:arm64 >/dev/null 2>&1)
  # $dev is a link into the shared cache (scripts/cache-dirs.sh): filled in place, libbpf.a last.
  mkdir -p "$dev" && find "$dev/" -mindepth 1 -delete
  for deb in "$work"/libelf-dev*.deb "$work"/zlib1g-dev*.deb "$work"/libbpf-dev*.deb; do
    dpkg-deb -x "$deb" "$dev/"
  done
  rm -rf "$work"
fi
echo "$kdir"
echo "$root"
echo "$dev"
