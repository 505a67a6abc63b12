// RLIMIT_MEMLOCK handling: the memcg-accounting probe agrees with the kernel, the rlimit
// calls round-trip through both FFI back ends, and a forced raise reaches infinity.

import { test } from "node:test";
import assert from "node:assert/strict";
import { kernelTest } from "./env.ts";
import { getPlatform } from "../src/platform/index.ts";
import {
  kernelChargesMemcg,
  raiseMemlockIfCharged,
  RLIM_INFINITY,
  RLIMIT_MEMLOCK,
} from "../src/kernel/memlock.ts";
import { progLoad } from "../src/kernel/bpf.ts";
import { ProgType } from "../src/kernel/constants.ts";
import { asm, encode } from "../src/asm/insn.ts";
import { SysError } from "../src/errors.ts";

test("memcg probe agrees with a direct load of bpf_ktime_get_coarse_ns", kernelTest(), async () => {
  const p = await getPlatform();
  let loads: boolean;
  try {
    progLoad(p, {
      type: ProgType.SOCKET_FILTER,
      insns: encode([asm.call(160), asm.mov64Imm(0, 0), asm.exit()]),
      license: "GPL",
      name: "direct_probe",
    }).close();
    loads = true;
  } catch (e) {
    assert.ok(e instanceof SysError);
    assert.equal(e.errnoName, "EINVAL");
    loads = false;
  }
  assert.equal(kernelChargesMemcg(p), loads);
});

test(
  "getRlimit/setRlimit round-trip; a forced raise lifts RLIMIT_MEMLOCK as far as allowed",
  kernelTest(),
  async () => {
    const p = await getPlatform();
    const before = p.getRlimit(RLIMIT_MEMLOCK);
    // Infinity needs CAP_SYS_RESOURCE (which a container may drop); else soft rises to hard.
    const canLiftHard = ((p.identity().capEff >> 24n) & 1n) === 1n;
    const expected = canLiftHard ? RLIM_INFINITY : before.hard;
    try {
      p.setRlimit(RLIMIT_MEMLOCK, 65536n, before.hard, "test lower");
      assert.deepEqual(p.getRlimit(RLIMIT_MEMLOCK), { soft: 65536n, hard: before.hard });
      assert.equal(raiseMemlockIfCharged(p, true), true);
      assert.deepEqual(p.getRlimit(RLIMIT_MEMLOCK), { soft: expected, hard: expected });
      // Nothing left to raise.
      assert.equal(raiseMemlockIfCharged(p, true), false);
    } finally {
      // Lowering a hard limit needs no privilege, so this always restores.
      p.setRlimit(RLIMIT_MEMLOCK, before.soft, before.hard, "test restore");
    }
    assert.deepEqual(p.getRlimit(RLIMIT_MEMLOCK), before);
    assert.throws(
      () => p.setRlimit(RLIMIT_MEMLOCK, 2n, 1n, "soft above hard"),
      (e: unknown) =>
        e instanceof SysError && e.errnoName === "EINVAL" && /soft above hard/.test(e.message),
    );
  },
);
