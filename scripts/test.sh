#!/usr/bin/env bash
# The project's test command (README): installs what it needs, then runs the format check,
# lint, type check, the test suites under Deno and under Bun, and the compiled binary's smoke
# test. Last line: "N passed, N failed[, N skipped]", summed from the runners' own counts.
#
# A test skipped because root, BTF or bpf() is missing makes the run fail (exit 1), as it
# would under CI=true where such tests fail instead: a run that tested nothing of the kernel
# side must not read as a pass. `--allow-skip` accepts the skips (e.g. a quick unprivileged run).
set -uo pipefail
cd "$(dirname "$0")/.."
allow_skip=0
[ "${1:-}" = "--allow-skip" ] && allow_skip=1
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
echo "setup: $SECONDS s"
export NO_COLOR=1
DENO=node_modules/.bin/deno
BUN=node_modules/.bin/bun
passed=0 failed=0 skipped=0
log=$(mktemp -d)

step() { # name, command...: a check that counts as one test; exit 77 means it was skipped
  local name=$1 start=$SECONDS; shift
  "$@" >"$log/step.out" 2>&1
  local rc=$? took="($((SECONDS - start)) s)"
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1)); echo "ok   $name $took"
  elif [ $rc -eq 77 ]; then
    skipped=$((skipped + 1)); echo "SKIP $name $took"; tail -n 5 "$log/step.out"
  else
    failed=$((failed + 1)); echo "FAIL $name $took"; tail -n 40 "$log/step.out"
  fi
}

step "deno fmt --check" $DENO fmt --check
step "deno lint" $DENO lint
step "deno check" $DENO check src/ test/ scripts/ build.ts

# Deno: "ok | 12 passed | 0 failed | 1 ignored (...)"
deno_suite() { # name, files...
  local name=$1 start=$SECONDS; shift
  $DENO test -A --no-check "$@" 2>&1 | sed -E 's/\x1b\[[0-9;]*m//g' >"$log/deno.out"
  grep -E '^(FAILED|ERRORS|.* => |error)|\.\.\. (FAILED|ignored)' "$log/deno.out" || true
  # The slow tests (10 s or more), to keep the whole run inside its time budget.
  grep -E '\.\.\. ok \(([1-9][0-9]|[0-9]{3,})s\)$|\.\.\. ok \([0-9]+m[0-9]+s\)$' "$log/deno.out" |
    sed 's/^/slow: /' || true
  # A vmtest that passed only on its retry: its first failure, in full.
  if grep -q 'FIRST ATTEMPT FAILED' "$log/deno.out"; then
    grep -A 80 'FIRST ATTEMPT FAILED' "$log/deno.out" | head -n 300
  fi
  # A failure's whole report (assertion message, guest output), not only its first line.
  if grep -qE '^ *ERRORS *$' "$log/deno.out"; then
    sed -nE '/^ *ERRORS *$/,/^ *FAILURES *$/p' "$log/deno.out" | head -n 400
  fi
  local line p f i
  line=$(grep -E '^(ok|FAILED) \|' "$log/deno.out" | tail -n 1)
  if [ -z "$line" ]; then
    echo "$name: no summary line"; tail -n 30 "$log/deno.out"; failed=$((failed + 1)); return
  fi
  count() { grep -oE "[0-9]+ $1" <<<"$line" | awk '{print $1}' | head -n 1; }
  p=$(count passed); f=$(count failed); i=$(count ignored); p=${p:-0} f=${f:-0} i=${i:-0}
  echo "$name: $p passed, $f failed, $i ignored ($((SECONDS - start)) s)"
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + i))
}
deno_suite "deno test" test/

# Bun: " 12 pass", " 1 skip", " 0 fail"
bun_start=$SECONDS
$BUN test --timeout 120000 test/ >"$log/bun.out" 2>&1
# Each failure with the 30 lines before it (Bun prints a test's error above its "(fail)" line).
grep -B 30 -E '^\(fail\)' "$log/bun.out" | grep -vE '^ +at ' || true
grep -E '^error:' "$log/bun.out" || true
bp=$(grep -E '^ *[0-9]+ pass$' "$log/bun.out" | awk '{print $1}')
bf=$(grep -E '^ *[0-9]+ fail$' "$log/bun.out" | awk '{print $1}')
bs=$(grep -E '^ *[0-9]+ skip$' "$log/bun.out" | awk '{print $1}')
if [ -n "$bp$bf" ]; then
  echo "bun test: ${bp:-0} passed, ${bf:-0} failed, ${bs:-0} skipped ($((SECONDS - bun_start)) s)"
  passed=$((passed + ${bp:-0})); failed=$((failed + ${bf:-0})); skipped=$((skipped + ${bs:-0}))
else
  echo "bun test: no summary line"; tail -n 30 "$log/bun.out"; failed=$((failed + 1))
fi

# The compiled binary, copied alone to another directory.
smoke() (
  dir=$(mktemp -d)
  $DENO run -A build.ts --out "$dir/tracer" >/dev/null 2>&1 || exit 1
  cd "$dir" && bash "$OLDPWD/test/smoke.sh" ./tracer
)
step "compiled binary smoke test" smoke

# The compiled binary traces the exec, open and connect workloads (and all three at once, with
# watch), the container workloads, `-- CMD` under sudo and `tracer run`'s objects: exactly the
# records the suites expect of src/main.ts (the tests run it through TRACER_BIN).
binary_workloads() (
  dir=$(mktemp -d)
  $DENO run -A build.ts --out "$dir/tracer" >/dev/null 2>&1 || exit 1
  TRACER_BIN="$dir/tracer" $DENO test -A --no-check --filter "exactly the workload" \
    test/exec-e2e.test.ts test/open-e2e.test.ts test/connect-e2e.test.ts test/watch-e2e.test.ts &&
    TRACER_BIN="$dir/tracer" $DENO test -A --no-check test/container-records.test.ts &&
    TRACER_BIN="$dir/tracer" $DENO test -A --no-check --filter "under sudo" test/privilege.test.ts &&
    TRACER_BIN="$dir/tracer" $DENO test -A --no-check test/run-trace.test.ts
)
step "compiled binary: exec, open, connect, watch, container and tracer run workloads, exact records" \
  binary_workloads

# Other kernels under qemu (x86-64: Debian 11's 5.10 generic and cloud, Debian 12's 6.1 generic on
# a CPU without AVX2, 6.1 PREEMPT_RT and 6.12; arm64: Debian 12's 6.1): the compiled binaries'
# check and exact exec, open and connect records, CO-RE against layouts unlike this host's, the
# fallbacks of older kernels, and the kprobe/fentry links this host lacks.
deno_suite "vmtest" test/vm/kernels.vmtest.ts

rm -rf "$log"
if [ "$skipped" -gt 0 ] && [ $allow_skip -eq 0 ]; then
  echo "test.sh: $skipped tests were skipped (no root, BTF or bpf()?): that is a failure;" \
    "run as root, or pass --allow-skip to accept it"
  failed=$((failed + 1))
fi
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
