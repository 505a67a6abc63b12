#!/usr/bin/env bash
# Smoke test of a compiled ./tracer binary copied alone to a directory: $1 is its path.
set -euo pipefail
bin=$1
dir_err=$(mktemp)
trap 'rm -f "$dir_err"' EXIT
"$bin" --version | grep -qE '^tracer [0-9]+\.[0-9]+\.[0-9]+$'
"$bin" --help | grep -q 'usage: tracer'
# Started as root in a directory holding a bunfig.toml (whose preload runs code) and a .env,
# the binary reads neither (build.ts: --no-compile-autoload-bunfig/-dotenv).
cwd_dir=$(mktemp -d)
printf 'preload = ["./preload.ts"]\n' >"$cwd_dir/bunfig.toml"
printf 'console.log("PRELOADED")\n' >"$cwd_dir/preload.ts"
printf 'TRACER_SMOKE_DOTENV=1\n' >"$cwd_dir/.env"
out=$(abs=$(realpath "$bin") && cd "$cwd_dir" && "$abs" --version)
rm -rf "$cwd_dir"
[ "$out" = "$("$bin" --version)" ] || { echo "--version in a dir with bunfig.toml: $out"; exit 1; }
set +e
"$bin" no-such-command 2>/dev/null; [ $? -eq 2 ] || { echo "unknown command: want exit 2"; exit 1; }
# check: probes the kernel from the compiled binary (bun:ffi inside it); 0 = ready, 1 = not.
json=$("$bin" check --json); rc=$?
[ $rc -le 1 ] || { echo "check --json: exit $rc"; exit 1; }
grep -q '"features":\[{"feature":"privileges"' <<<"$json" || { echo "check --json: bad output: $json"; exit 1; }
if [ "$(id -u)" = 0 ] && [ -e /sys/kernel/btf/vmlinux ]; then
  [ $rc -eq 0 ] || { echo "check: not ready as root with BTF: $json"; exit 1; }
fi
# stdout closed early (EPIPE): exits like a Unix tool, with no noise on stderr.
"$bin" check 2>"$dir_err" | head -c1 >/dev/null; rc=${PIPESTATUS[0]}
[ $rc -le 1 ] && [ ! -s "$dir_err" ] || { echo "check | head: exit $rc, stderr: $(cat "$dir_err")"; exit 1; }
set -e
# exec from the compiled binary: the embedded object loads, attaches and reports the command.
if [ "$(id -u)" = 0 ] || [ "${CI:-}" = true ]; then  # under CI a missing root fails here
  "$bin" exec --json -- /bin/true smoke 2>/dev/null | grep -q '"args":\["/bin/true","smoke"\]' ||
    { echo "exec --json -- /bin/true smoke: event missing"; exit 1; }
  # open: the embedded open object; this shell's redirection opens the file.
  "$bin" open --json -- /bin/sh -c ': > /dev/null' 2>/dev/null | grep -q '"path":"/dev/null"' ||
    { echo "open --json -- sh -c ': > /dev/null': event missing"; exit 1; }
  "$bin" inspect exec --json | grep -q '"kind":"byte_off"' || { echo "inspect exec: no relocations"; exit 1; }
  "$bin" btf dump task_struct | grep -q '^struct task_struct {' || { echo "btf dump task_struct"; exit 1; }
  # The per-boot CO-RE cache: --no-cache relocates against the kernel's BTF and leaves the cache
  # alone; a start with it fills it (or finds it filled), and the next one takes CO-RE from it.
  "$bin" exec -v --no-cache -d 0.01 2>&1 >/dev/null |
    grep -qE "^tracer: CO-RE: [0-9]+ relocations against the kernel's BTF$" ||
    { echo "exec --no-cache: CO-RE not from the kernel's BTF"; exit 1; }
  "$bin" exec -v -d 0.01 >/dev/null 2>&1
  "$bin" exec -v -d 0.01 2>&1 >/dev/null |
    grep -qE '^tracer: CO-RE: from the cache /run/tracer/exec-[0-9a-f]{32}\.json$' ||
    { echo "exec: CO-RE not from the cache on a later start"; exit 1; }
else
  # Not root, outside CI: the kernel checks did not run, which is a skip, not a pass.
  echo "smoke: the exec, open, inspect and btf checks were skipped (not root)"
  exit 77
fi
echo "smoke: ok"
