// Writes the loader-parity objects for the qemu guests (scripts/vmtest.sh --parity): the
// distinct BPF objects embedded in Debian's libbpf-tools (test/embedded-bpf.ts, as
// test/loader-parity.test.ts takes them; GUEST_SUBSET of them, or all with --all) into DIR,
// and DIR/list, one line per object:
//   OBJECT|HARNESS ARGS|TRACER ARGS
// the libbpf harness's map sizes (MAP=N:V, 0 keeping the object's) and `tracer run
// --load-only`'s (--map-size MAP=N[:V], and --program for every program when the object has
// "?" sections, so both load every program), the same sizes on both sides.
//   deno run -A test/vm/parity-objects.ts DIR [--all]

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { distinctToolObjects, runtimeSizes } from "../embedded-bpf.ts";
import { loadObjectSpec } from "../../src/object/load.ts";

/**
 * The objects the guests load (all 52 take ~4.5 s each under TCG, klockstat ~110 s, beyond a
 * guest section's 150 s): every program type and every load outcome of the host's parity run
 * (loaded; EPERM: fentry refused here; ESRCH: no attach target; EINVAL: a kretprobe needing a
 * newer kernel, a perf_event program's bad context access) and the .kconfig and .ksyms externs:
 * uretprobe, usdt (.kconfig), kprobe/kretprobe, tracepoint, raw_tp/tp_btf (.kconfig),
 * fentry/fexit (present and missing functions), perf_event (loaded and refused).
 */
export const GUEST_SUBSET = [
  "bashreadline", // uretprobe
  "bindsnoop", // kprobe; kretprobe EINVAL here
  "biopattern", // tracepoint
  "biosnoop", // fentry, kprobe, tp_btf, .kconfig
  "cachestat", // fentry: EPERM here, ESRCH for a function the host kernel lacks
  "cpufreq", // tp_btf, perf_event
  "javagc", // usdt, .kconfig
  "numamove", // fentry, fexit on a function the host kernel lacks (ESRCH)
  "runqlen", // perf_event (EINVAL here)
  "softirqs", // tp_btf, raw_tp
  "solisten", // kprobe, kretprobe, fexit
  "tcpstates", // tracepoint with CO-RE on struct sock
].map((t) => `${t}.bpf.o`);

// --all, or PARITY_ALL=1 in the environment (through scripts/vmtest.sh --parity, for a one-off
// run of every object: ~5 min of guest time, so with VMTEST_TIMEOUT=1500).
const [dir, all] = process.argv.slice(2);
if (!dir) throw new Error("usage: parity-objects.ts DIR [--all]");
const everyObject = all === "--all" || process.env.PARITY_ALL === "1";
const objects = distinctToolObjects().filter((o) => everyObject || GUEST_SUBSET.includes(o.name));
if (!objects.length) throw new Error("libbpf-tools is not installed (scripts/setup.sh)");
mkdirSync(dir, { recursive: true });
const lines: string[] = [];
for (const o of objects) {
  writeFileSync(join(dir, o.name), o.bytes);
  const spec = loadObjectSpec(o.bytes, o.name);
  const sizes = Object.entries(runtimeSizes(spec));
  const harness = sizes.map(([m, [n, v]]) => `${m}=${n}:${v}`);
  const tracer = sizes.map(([m, [n, v]]) => {
    const entries = n || spec.maps.find((s) => s.name === m)!.maxEntries;
    return `--map-size ${m}=${entries}${v ? `:${v}` : ""}`;
  });
  if (spec.programs.some((p) => !p.autoload)) {
    for (const p of spec.programs) tracer.push(`--program ${p.name}`);
  }
  lines.push(`${o.name}|${harness.join(" ")}|${tracer.join(" ")}`);
}
writeFileSync(join(dir, "list"), lines.join("\n") + "\n");
