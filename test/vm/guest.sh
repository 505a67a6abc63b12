# Runs inside the qemu guest of scripts/vmtest.sh (busybox sh, as root, /work holds ./tracer).
# Each section starts with a "=== name" line and ends with "=== name exit=N". A section that
# runs past its watchdog (150 s of guest uptime; $limit fifths of a second when set) is killed (exit=124) after
# its threads' kernel stacks and the kernel's last messages are printed, so a hang is a
# readable failure, not a qemu timeout.

# dump PID: where each thread of PID is, and what else is running.
dump() {
  echo "--- still running after $((${limit:-750} / 5)) s; loadavg $(cat /proc/loadavg)"
  for t in /proc/$1/task/*; do
    echo "thread ${t##*/} $(cat $t/comm): $(cat $t/stat)"
    cat $t/stack 2>/dev/null | head -20
  done
  for s in /proc/[0-9]*/task/*/stat; do
    case "$(cat $s 2>/dev/null)" in *") R "*|*") D "*) echo "busy: $(cat $s)";; esac
  done
  dmesg | tail -n 20
}

# section NAME COMMAND...: runs when $SECTIONS (set by vmtest.sh --sections) is empty, says
# "all" or names it.
section() {
  name=$1
  shift
  case " ${SECTIONS:-all} " in *" all "* | *" $name "*) ;; *) return ;; esac
  echo "=== $name"
  "$@" > /tmp/$name.out 2>&1 &
  pid=$!
  # The watchdog counts the guest's uptime, not its own turns: under emulation on a loaded host
  # each turn (a sleep, a grep) can take far longer than its 0.2 s.
  read up _ < /proc/uptime
  deadline=$((${up%.*} + ${limit:-750} / 5))
  late=0
  while [ -d /proc/$pid ] && ! grep -q ') Z' /proc/$pid/stat 2>/dev/null; do
    read up _ < /proc/uptime
    if [ ${up%.*} -ge $deadline ]; then
      late=1
      break
    fi
    sleep 0.2
  done
  if [ $late -eq 1 ]; then
    cat /tmp/$name.out
    dump $pid
    kill -9 $pid
    wait $pid
    echo "=== $name exit=124"
    return
  fi
  wait $pid
  rc=$?
  cat /tmp/$name.out
  echo "=== $name exit=$rc"
}

# optional NAME COMMAND...: a section that runs only when $SECTIONS names it.
optional() {
  case " $SECTIONS " in *" $1 "*) section "$@" ;; esac
}

# Container context on every kernel: a hybrid cgroup layout (v2 beside a v1 controller, as on
# the project's host), and every section below run in a cgroup named as Docker's cgroupfs
# driver names a container's, so each record's cgroup, container_id and cgroup_id are known
# (test/vm/kernels.vmtest.ts GUEST_CONTAINER). The memory controller, or pids where the kernel
# has no v1 memory controller.
CTR=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
mount -t tmpfs cgroup /sys/fs/cgroup && mkdir /sys/fs/cgroup/unified &&
  mount -t cgroup2 none /sys/fs/cgroup/unified
for c in memory pids; do
  mkdir /sys/fs/cgroup/$c && mount -t cgroup -o $c none /sys/fs/cgroup/$c && break
  rmdir /sys/fs/cgroup/$c
done
mkdir -p /sys/fs/cgroup/$c/docker/$CTR && echo $$ > /sys/fs/cgroup/$c/docker/$CTR/cgroup.procs
section cgroups sh -c "echo controller $c ino \$(stat -c %i /sys/fs/cgroup/$c/docker/$CTR)"
section check ./tracer check --json
# An oracle the tracer does not use: whether the kernel has bpf_loop (5.17+).
section kallsyms grep -c ' bpf_loop$' /proc/kallsyms
section exec ./tracer exec -x -v --json -- /bin/sh -c '/bin/true hello "a b"; /nonexistent/x arg; exit 3'
# The same without CO-RE relocation (a test switch): the vmtest asserts the records are wrong.
optional exec_nocore env TRACER_NO_CORE=1 ./tracer exec -x -v --json -- /bin/sh -c '/bin/true hello "a b"; /nonexistent/x arg; exit 3'
# The regular x86-64 build (vmtest.sh --with-regular) on this CPU: its status; and whether the
# CPU has AVX2.
optional regular ./tracer-regular --version
optional avx2 grep -cw avx2 /proc/cpuinfo
# fentry, fexit, kprobe and kretprobe links on the fixture objects (vmtest.sh --links).
optional links env BUN_BE_BUN=1 ./tracer /work/links.js
# Loader parity (vmtest.sh --parity): each object listed (test/vm/parity-objects.ts), every program
# loaded alone by libbpf (the harness: "HARNESS: prog NAME errno N" lines) and by
# `tracer run --load-only`, between "--- OBJECT" and "--- OBJECT exit=N uptime T0 T1 T2" lines
# (the guest's uptime before libbpf, before the tracer, after).
parity() {
  echo "objects $(wc -l < parity/list)"
  while IFS='|' read -r obj harness tracer; do
    read t0 _ < /proc/uptime
    echo "--- $obj"
    ./core_harness --load parity/$obj $harness
    read t1 _ < /proc/uptime
    ./tracer run parity/$obj --load-only $tracer
    rc=$?
    read t2 _ < /proc/uptime
    echo "--- $obj exit=$rc uptime $t0 $t1 $t2"
  done < parity/list
}
# 27-64 s of guest time for the 12 objects on an idle host (the tracer's start-up under TCG is
# most of it), ~5 min for all 52: a watchdog of 25 s per object, for a loaded CI host.
[ -f parity/list ] && limit=$(($(wc -l < parity/list) * 125))
optional runparity parity
limit=750
section exec_tp ./tracer exec --hooks tracepoint -v --json -- /bin/true x
section exec_perf ./tracer exec --buffer perf -x -v --json -- /bin/sh -c '/bin/true perf; /nonexistent/y'
# The open workload's directory, as test/open-workload.ts expects it.
mkdir -p /tmp/owd/sub && echo a > /tmp/owd/rel.txt && echo b > /tmp/owd/sub/target.txt &&
  ln -s sub /tmp/owd/link && echo s > /tmp/owd/secret && chmod 600 /tmp/owd/secret &&
  chmod 755 /tmp/owd
section open ./tracer open -F -v --json -- ./open-workload /tmp/owd
section open_perf ./tracer open --buffer perf --hooks tracepoint -v --json -- ./open-workload /tmp/owd
# --btf FILE on a kernel whose /sys/kernel/btf/vmlinux is hidden (a tmpfs over it): the file is
# all the tracer has, so exact records prove it was used.
cp /sys/kernel/btf/vmlinux /tmp/vmlinux.btf && mount -t tmpfs none /sys/kernel/btf
section exec_nobtf ./tracer exec -- /bin/true nobtf
section exec_btf ./tracer exec --btf /tmp/vmlinux.btf -v --json -- /bin/true btf
umount /sys/kernel/btf
# conn NAME ARGS...: the connect workload (loopback only) under `tracer connect --json ARGS`,
# then the workload's manifest, each line prefixed "M ".
conn() {
  m=/tmp/manifest.$1
  shift
  ./tracer connect --json "$@" -- ./conn-workload $m -
  rc=$?
  sed 's/^/M /' $m
  return $rc
}
section connect_auto conn auto
section connect_fentry conn fentry --attach fentry
section connect_kprobe conn kprobe --attach kprobe
section connect_tracepoint conn tracepoint --attach tracepoint
echo "=== dmesg"
dmesg -r | grep '^<[0-4]>'
echo "=== dmesg exit=0"
