# Runs inside the qemu guest of scripts/vmtest.sh (busybox sh, as root, /work holds ./tracer).
# Each section starts with a "=== name" line and ends with "=== name exit=N".
echo "=== check"
./tracer check --json
echo "=== check exit=$?"
echo "=== exec"
./tracer exec -x --json -- /bin/sh -c '/bin/true hello "a b"; /nonexistent/x arg; exit 3'
echo "=== exec exit=$?"
echo "=== exec_tp"
./tracer exec --hooks tracepoint --json -- /bin/true x
echo "=== exec_tp exit=$?"
echo "=== exec_perf"
./tracer exec --buffer perf -x --json -- /bin/sh -c '/bin/true perf; /nonexistent/y'
echo "=== exec_perf exit=$?"
echo "=== dmesg"
dmesg -r | grep '^<[0-4]>'
echo "=== dmesg exit=0"
