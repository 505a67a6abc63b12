#!/usr/bin/env bash
# fentry, kprobe (PMU and tracefs kprobe_events) and kretprobe attachment, and CO-RE, tested on a
# kernel that has them: bundles test/link-vmtest-guest.ts with the fixture object inlined,
# and runs it under qemu (scripts/vmtest.sh) with the compiled tracer acting as bun.
#   bash test/link-vmtest.sh [--kernel PKG]
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kinds=$(base64 -w0 test/fixtures/loader/kinds.bpf.o)
getpid=$(base64 -w0 test/fixtures/loader/getpid.bpf.o)
node_modules/.bin/bun build test/link-vmtest-guest.ts --target=bun \
  --define "KINDS_B64=\"$kinds\"" --define "GETPID_B64=\"$getpid\"" \
  --outfile "$work/guest.js" >/dev/null
{
  echo 'cat > /work/guest.js <<'"'"'GUEST_JS_EOF'"'"''
  cat "$work/guest.js"
  echo 'GUEST_JS_EOF'
  echo 'cd /work && BUN_BE_BUN=1 ./tracer /work/guest.js'
} > "$work/guest.sh"
bash scripts/vmtest.sh "$@" "$work/guest.sh"
