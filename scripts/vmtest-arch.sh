# Sourced by scripts/vmtest.sh: what differs between the guests' CPU architectures.
# In: $arch (x86_64 or arm64), $cpu (a qemu CPU model, or empty for the default), $kernel_pkg
# (a Debian kernel package, or empty for the default), $work. Sets:
#   kdir         (arm64) the kernel's cache directory
#   kimage       the kernel image's file name in it
#   bun_target   the Bun compile target of ./tracer in the guest
#   busybox cc   the guest's static busybox and the C compiler for its static workloads
#   harness_flags  that compiler's flags to link the libbpf harness statically (libbpf.a ...)
#   kernel_args  the kernel command line's console settings
#   guest_tty    the guest device the guest script's output goes to
#   qemu         the qemu command, machine, CPU, console and serial ports (an array; vmtest.sh
#                adds memory, -kernel, -initrd, -append); the console goes to $work/console.log,
#                the guest script's output to $work/guest.out
# and defines copy_libs BINARY ROOT: copies the shared libraries BINARY loads into ROOT.
case $arch in
  x86_64)
    # kdir: vmtest.sh's scripts/fetch-kernels.sh call.
    kimage=bzImage
    # Bun's baseline build runs on any x86-64 CPU from Nehalem on (x86-64-v2).
    bun_target=bun-linux-x64-baseline
    busybox=/bin/busybox
    cc=cc
    harness_flags=()
    # The kernel console is ttyS0; the script's output goes to the second serial port, so a
    # kernel message can never land in the middle of it.
    guest_tty=/dev/ttyS1
    qemu=(qemu-system-x86_64 -cpu "${cpu:-max}" -serial "file:$work/console.log"
      -serial "file:$work/guest.out")
    kernel_args="console=ttyS0"
    copy_libs() {
      local lib
      for lib in $(ldd "$1" | grep -oE '/[^ ]+\.so[^ ]*'); do
        mkdir -p "$2$(dirname "$lib")"
        cp -L "$lib" "$2$lib"
      done
    }
    ;;
  arm64)
    # Debian 12's arm64 kernel, busybox-static and libc6 (scripts/fetch-arm64.sh).
    { read -r kdir && read -r arm64_root && read -r arm64_dev; } < <(bash scripts/fetch-arm64.sh $kernel_pkg)
    kimage=Image
    bun_target=bun-linux-arm64
    busybox=$arm64_root/bin/busybox
    cc=aarch64-linux-gnu-gcc
    harness_flags=(-I"$arm64_dev/usr/include" -L"$arm64_dev/usr/lib/aarch64-linux-gnu")
    # qemu's virt machine has one serial port (the console): the script's output shares it;
    # loglevel=1 keeps all but emergency kernel messages off it.
    guest_tty=/dev/ttyAMA0
    # Neoverse N1: the CPU of AWS Graviton2 and Ampere Altra servers (one exec-only guest:
    # 56 s of guest time against 66 s with `max,pauth-impdef=on`, on the loaded 2-core host).
    qemu=(qemu-system-aarch64 -M virt -cpu "${cpu:-neoverse-n1}"
      -serial "file:$work/guest.out")
    kernel_args="console=ttyAMA0 loglevel=1"
    copy_libs() {
      local lib
      mkdir -p "$2/lib/aarch64-linux-gnu"
      cp -L "$arm64_root/lib/ld-linux-aarch64.so.1" "$2/lib/ld-linux-aarch64.so.1"
      for lib in $(aarch64-linux-gnu-readelf -d "$1" | grep -oP 'Shared library: \[\K[^]]+'); do
        cp -L "$arm64_root/lib/aarch64-linux-gnu/$lib" "$2/lib/aarch64-linux-gnu/$lib"
      done
    }
    ;;
  *)
    echo "vmtest: unknown --arch $arch (x86_64 or arm64)" >&2
    exit 2
    ;;
esac
