# Guest script for scripts/vmtest.sh: `tracer exec` on another kernel (CO-RE against its BTF).
#   bash scripts/vmtest.sh [--kernel PKG] test/vmtest/exec-guest.sh
# Prints the events; exits non-zero when an expected event is missing or a field is wrong.
set -u
fail=0
check() { # description, grep pattern, file
  if grep -q -- "$2" "$3"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
./tracer exec -x --json -o /tmp/ev.json -- /bin/sh -c '/bin/true "a b" c; /nonexistent/x arg1; exit 3'
echo "status=$?"
cat /tmp/ev.json
check "CMD's own exec, ppid is the tracer" '"comm":"sh","pcomm":"tracer","filename":"/bin/sh","args":\["/bin/sh","-c",' /tmp/ev.json
check "child exec with quoted argument" '"comm":"true","pcomm":"sh","filename":"/bin/true","args":\["/bin/true","a b","c"\],"args_truncated":false,"ret":0,"error":null' /tmp/ev.json
check "failed exec ENOENT" '"filename":"/nonexistent/x","args":\["/nonexistent/x","arg1"\],"args_truncated":false,"ret":-2,"error":"ENOENT"' /tmp/ev.json
./tracer exec --hooks tracepoint --json -o /tmp/ev2.json -- /bin/true x
echo "status=$?"
cat /tmp/ev2.json
check "tracepoint hooks" '"filename":"/bin/true","args":\["/bin/true","x"\]' /tmp/ev2.json
[ "$(grep -c . /tmp/ev.json)" -eq 3 ] || { echo "FAIL want 3 events"; fail=1; }
exit $fail
