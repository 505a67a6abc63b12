# Runs inside the qemu guest of scripts/vmtest.sh (busybox sh, as root, /work holds ./tracer).
# Each section starts with a "=== name" line and ends with "=== name exit=N". A section that
# runs past its watchdog (150 s) is killed (exit=124) after its threads' kernel stacks and the
# kernel's last messages are printed, so a hang is a readable failure, not a qemu timeout.

# dump PID: where each thread of PID is, and what else is running.
dump() {
  echo "--- still running after 150 s; loadavg $(cat /proc/loadavg)"
  for t in /proc/$1/task/*; do
    echo "thread ${t##*/} $(cat $t/comm): $(cat $t/stat)"
    cat $t/stack 2>/dev/null | head -20
  done
  for s in /proc/[0-9]*/task/*/stat; do
    case "$(cat $s 2>/dev/null)" in *") R "*|*") D "*) echo "busy: $(cat $s)";; esac
  done
  dmesg | tail -n 20
}

# section NAME COMMAND...
section() {
  name=$1
  shift
  echo "=== $name"
  "$@" > /tmp/$name.out 2>&1 &
  pid=$!
  n=0
  while [ -d /proc/$pid ] && ! grep -q ') Z' /proc/$pid/stat 2>/dev/null && [ $n -lt 750 ]; do
    sleep 0.2
    n=$((n + 1))
  done
  if [ $n -ge 750 ]; then
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

section check ./tracer check --json
section exec ./tracer exec -x --json -- /bin/sh -c '/bin/true hello "a b"; /nonexistent/x arg; exit 3'
section exec_tp ./tracer exec --hooks tracepoint --json -- /bin/true x
section exec_perf ./tracer exec --buffer perf -x --json -- /bin/sh -c '/bin/true perf; /nonexistent/y'
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
