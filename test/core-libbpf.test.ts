// Differential test: every CO-RE relocation of every fixture object and every shipped
// tracer object (bpf/*.bpf.o), against every target BTF of the corpus (the running kernel,
// Debian 6.1 generic and PREEMPT_RT, the fixture target variants), must be decided exactly
// as Debian's libbpf 1.1 decides it: same instruction, same new value, same poison
// decision, same memory-size change, same matched target type, same failures.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { kernelTest } from "./env.ts";
import { compareWithLibbpf } from "./harness/core-compare.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const FIXTURES = join(ROOT, "test/fixtures/core");

/** Relocations compared over all pairs, as the README states (fixtures + shipped objects). */
const RELOCATIONS_COMPARED = 50_252;

function objects(): string[] {
  const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith(".bpf.o")).map((f) =>
    join(FIXTURES, f)
  );
  const bpfDir = join(ROOT, "bpf");
  const shipped = existsSync(bpfDir)
    ? readdirSync(bpfDir).filter((f) => f.endsWith(".bpf.o")).map((f) => join(bpfDir, f))
    : [];
  return [...fixtures.sort(), ...shipped.sort()];
}

/** Debian kernels in the corpus: cache directory pattern, package-name pattern. */
const DEBIAN = {
  "5.10 generic": [/^5\.10\.0-\d+-amd64$/, "^linux-image-5\\.10\\.0-[0-9]+-amd64-unsigned$"],
  "5.10 cloud": [
    /^5\.10\.0-\d+-cloud-amd64$/,
    "^linux-image-5\\.10\\.0-[0-9]+-cloud-amd64-unsigned$",
  ],
  "6.1 generic": [/^6\.1\.0-\d+-amd64$/, "^linux-image-6\\.1\\.0-[0-9]+-amd64-unsigned$"],
  "6.1 PREEMPT_RT": [/^6\.1\.0-\d+-rt-amd64$/, "^linux-image-6\\.1\\.0-[0-9]+-rt-amd64-unsigned$"],
  "6.12 generic": [
    /^6\.12\.\d+\+deb12-amd64$/,
    "^linux-image-6\\.12\\.[0-9]+\\+deb12-amd64-unsigned$",
  ],
} as const;

/** The cached BTF of a Debian kernel, fetched (newest package) by scripts/fetch-kernels.sh if absent. */
function debianBtf(kernel: keyof typeof DEBIAN): string {
  const [dirPattern, pkgPattern] = DEBIAN[kernel];
  const find = () => {
    const dir = join(ROOT, ".cache/kernels");
    if (!existsSync(dir)) return null;
    const hit = readdirSync(dir).filter((d) => dirPattern.test(d)).sort().pop();
    return hit && existsSync(join(dir, hit, "vmlinux.btf")) ? join(dir, hit, "vmlinux.btf") : null;
  };
  let path = find();
  if (!path) {
    execFileSync("bash", [join(ROOT, "scripts/fetch-kernels.sh"), "--newest", pkgPattern], {
      stdio: "ignore",
    });
    path = find();
  }
  assert.ok(path, `Debian ${kernel} BTF not available (scripts/fetch-kernels.sh failed)`);
  return path;
}

let compared = 0;
let pairs = 0;

function compareOne(object: string, targetPath: string): void {
  compared += compareWithLibbpf(object, targetPath).compared;
  pairs++;
}

function compareTarget(targetPath: string): void {
  for (const o of objects()) compareOne(o, targetPath);
}

test("CO-RE agrees with libbpf: all objects vs the running kernel's BTF", kernelTest(), () => {
  compareTarget("/sys/kernel/btf/vmlinux");
});

test("CO-RE agrees with libbpf: all objects vs Debian 11's 5.10 generic BTF", kernelTest(), () => {
  compareTarget(debianBtf("5.10 generic"));
});

test("CO-RE agrees with libbpf: all objects vs Debian 11's 5.10 cloud BTF", kernelTest(), () => {
  compareTarget(debianBtf("5.10 cloud"));
});

test("CO-RE agrees with libbpf: all objects vs Debian 6.1 generic BTF", kernelTest(), () => {
  compareTarget(debianBtf("6.1 generic"));
});

test("CO-RE agrees with libbpf: all objects vs Debian 6.1 PREEMPT_RT BTF", kernelTest(), () => {
  compareTarget(debianBtf("6.1 PREEMPT_RT"));
});

test("CO-RE agrees with libbpf: all objects vs Debian 6.12 generic BTF", kernelTest(), () => {
  compareTarget(debianBtf("6.12 generic"));
});

test("CO-RE agrees with libbpf: all objects vs fixture target A", kernelTest(), () => {
  compareTarget(join(FIXTURES, "target_a.btf"));
});

test("CO-RE agrees with libbpf: all objects vs fixture target B", kernelTest(), () => {
  compareTarget(join(FIXTURES, "target_b.btf"));
});

test("CO-RE agrees with libbpf: all objects vs fixture target C", kernelTest(), () => {
  compareTarget(join(FIXTURES, "target_c.btf"));
});

test("CO-RE differential test compared relocations (count printed)", kernelTest(), () => {
  console.log(
    `CO-RE differential: ${compared} relocations compared with libbpf over ${pairs} object/target pairs`,
  );
  // Every object against all 9 targets; and the README's figure, exactly (it changes with the
  // objects: update both together).
  assert.equal(pairs, 9 * objects().length, `${pairs} pairs compared`);
  assert.equal(compared, RELOCATIONS_COMPARED, `${compared} relocations compared`);
});
