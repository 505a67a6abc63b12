#!/usr/bin/env bash
# Runs the compiled tracer on other kernels under qemu (software emulation, no KVM needed).
#
#   bash scripts/vmtest.sh [--kernel PKG] [--arch x86_64|arm64] [--cpu MODEL] [--with-regular]
#                          [--links] [--parity] [--tcg-single] [--sections "NAME..."] [--keep]
#                          GUEST_SCRIPT
#
# PKG is a Debian kernel package name (default: linux-image-6.1.0-<newest>-amd64-unsigned).
# The kernel is fetched once by scripts/fetch-kernels.sh into .cache/kernels/. The guest
# boots a busybox initramfs holding ./tracer (built for bun-linux-x64-baseline so it runs on
# any x86-64 CPU from Nehalem on), the C libraries it links, and GUEST_SCRIPT, which it runs as
# root with /proc, /sys, tracefs and bpffs mounted. The guest's output is printed; the exit
# status is the script's.
# --arch arm64 boots Debian 12's arm64 kernel under qemu-system-aarch64 with ./tracer built for
# bun-linux-arm64 (what differs per architecture: scripts/vmtest-arch.sh). --cpu sets qemu's CPU
# model (x86_64 default: max). --with-regular adds the regular x86-64 build as
# ./tracer-regular. --links adds the link tests' bundle (/work/links.js). --parity adds the
# loader-parity material: objects of Debian's libbpf-tools with their map sizes
# (/work/parity/, test/vm/parity-objects.ts: a subset covering every program type) and the libbpf harness
# (test/harness/core_harness.c) linked statically against Debian's libbpf 1.1.2 as
# /work/core_harness. --sections limits
# test/vm/guest.sh to the named sections ("all": every section that always runs, plus the
# optional ones named).
set -euo pipefail
cd "$(dirname "$0")/.."
kernel_pkg=""
keep=0
arch=x86_64 cpu="" with_regular=0 sections="" links=0 parity=0 accel=()
while [ $# -gt 0 ]; do
  case $1 in
    --kernel) kernel_pkg=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --with-regular) with_regular=1; shift ;;
    --links) links=1; shift ;;
    --parity) parity=1; shift ;;
    # One host thread for all vCPUs: code the guest kernel patches (text_poke_bp's int3, as
    # tracepoints are switched on and off) is then seen by every vCPU at once (6.12 oopsed on a
    # stale int3 with one thread per vCPU).
    --tcg-single) accel=(-accel tcg,thread=single); shift ;;
    --sections) sections=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: vmtest.sh [--kernel PKG] GUEST_SCRIPT" >&2; exit 2; }
guest_script=$(realpath "$1")

# The kernel comes from scripts/fetch-kernels.sh's cache (fetched on first use); it prints the
# kernel's directory, which holds its bzImage.
work=$(mktemp -d)
trap '[ $keep -eq 1 ] || rm -rf "$work"' EXIT
source scripts/vmtest-arch.sh
if [ "$arch" = x86_64 ]; then
if [ -n "$kernel_pkg" ]; then
  kdir=$(bash scripts/fetch-kernels.sh "$kernel_pkg" | tail -n 1)
else
  kdir=$(bash scripts/fetch-kernels.sh | head -n 1)
fi
fi
[ -s "$kdir/$kimage" ] || { echo "vmtest: no $kimage for ${kernel_pkg:-the newest 6.1 kernel}" >&2; exit 1; }

# One build at a time (guests may be started in parallel; build.ts rewrites bpf/*.bpf.o and
# src/generated/objects.ts when the sources changed).
mkdir -p .cache
flock .cache/.build.lock node_modules/.bin/deno run -A build.ts --target "$bun_target" --out "$work/tracer" >"$work/build.log" 2>&1 ||
  { echo "vmtest: build.ts --target $bun_target failed:" >&2; cat "$work/build.log" >&2; exit 1; }
init=$work/root
# /run: where the tracer keeps its per-boot CO-RE cache (the guest's first exec relocates and
# writes it, the later sections take it from there).
mkdir -p "$init"/{bin,sbin,proc,sys,dev,tmp,run,lib64,lib/x86_64-linux-gnu,work}
cp "$busybox" "$init/bin/busybox"
for app in sh mount umount cp mkdir cat echo ls ln poweroff sleep grep true false id uname head wc rm chmod env dmesg; do
  ln -s busybox "$init/bin/$app"
done
cp "$work/tracer" "$init/work/tracer"
cp "$guest_script" "$init/work/guest.sh"
# Workloads whose every syscall the guest's sections know, statically linked (no libc needed).
$cc -static -O1 -o "$init/work/open-workload" test/fixtures/open/workload.c
$cc -static -O1 -o "$init/work/conn-workload" test/fixtures/connect/workload.c
copy_libs "$work/tracer" "$init"
# --links: test/link-vmtest-guest.ts (fentry, fexit, kprobe and kretprobe links on the fixture
# objects, inlined) as /work/links.js, run by the guest's links section with the tracer as bun.
if [ $links -eq 1 ]; then
  node_modules/.bin/bun build test/link-vmtest-guest.ts --target=bun \
    --define "KINDS_B64=\"$(base64 -w0 test/fixtures/loader/kinds.bpf.o)\"" \
    --define "GETPID_B64=\"$(base64 -w0 test/fixtures/loader/getpid.bpf.o)\"" \
    --outfile "$init/work/links.js" >"$work/build.log" 2>&1 ||
    { echo "vmtest: bundling test/link-vmtest-guest.ts failed:" >&2; cat "$work/build.log" >&2; exit 1; }
fi
# --parity: the guest's runparity section loads each program of these objects with libbpf (the
# harness; libbpf-dev ships libbpf.a, and its dependencies libelf-dev and zlib1g-dev libelf.a
# and libz.a; arm64's come from scripts/fetch-arm64.sh) and with `tracer run --load-only`.
if [ $parity -eq 1 ]; then
  $cc -static -O1 "${harness_flags[@]}" -o "$init/work/core_harness" test/harness/core_harness.c \
    -lbpf -lelf -lz ||
    { echo "vmtest: linking test/harness/core_harness.c statically failed" >&2; exit 1; }
  node_modules/.bin/deno run -A test/vm/parity-objects.ts "$init/work/parity" >"$work/build.log" 2>&1 ||
    { echo "vmtest: test/vm/parity-objects.ts failed:" >&2; cat "$work/build.log" >&2; exit 1; }
fi
if [ $with_regular -eq 1 ]; then
  node_modules/.bin/deno run -A build.ts --no-bpf --out "$init/work/tracer-regular" >"$work/build.log" 2>&1 ||
    { echo "vmtest: build.ts (regular) failed:" >&2; cat "$work/build.log" >&2; exit 1; }
fi
# The guest script's settings: its output device and the sections to run (empty: all).
printf 'GUEST_TTY=%s\nSECTIONS="%s"\n' "$guest_tty" "$sections" > "$init/work/vmtest.env"
cat > "$init/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t tmpfs tmp /tmp
cd /work
. /work/vmtest.env
export SECTIONS
# The guest script's output goes to GUEST_TTY (x86_64: the second serial port, not the
# console). The last close of the port waits for its output to drain, so nothing is cut by
# the power-off.
{
  echo "VMTEST-BEGIN $(uname -r)"
  sh /work/guest.sh
  echo "VMTEST-EXIT=$?"
} > $GUEST_TTY 2>&1
poweroff -f
INIT
chmod +x "$init/init"
(cd "$init" && find . | cpio -o -H newc --quiet) > "$work/initramfs.cpio"

# The kernel console goes to console.log, the guest script to guest.out (scripts/vmtest-arch.sh).
out=$work/console.log
started=$SECONDS
timeout "${VMTEST_TIMEOUT:-600}" "${qemu[@]}" "${accel[@]}" -m 1024 -smp 2 -display none -no-reboot \
  -monitor none \
  -kernel "$kdir/$kimage" -initrd "$work/initramfs.cpio" \
  -append "$kernel_args quiet panic=-1 rdinit=/init" > "$work/qemu.log" 2>&1 || true
touch "$work/guest.out" "$out"
tr -d '\r' < "$work/guest.out"
code=$(grep -oE '^VMTEST-EXIT=[0-9]+' "$work/guest.out" | tail -n 1 | cut -d= -f2 || true)
if [ -z "$code" ]; then
  # qemu exits early when the guest kernel panics (panic=-1 reboots, -no-reboot exits).
  echo "vmtest: the guest did not finish: qemu ended after $((SECONDS - started)) s" \
    "(limit ${VMTEST_TIMEOUT:-600} s); last console lines:" >&2
  tail -n 40 "$out" | tr -d '\r' >&2
  cat "$work/qemu.log" >&2
  exit 1
fi
exit "$code"
