// Test helper (not a test): writes through Platform.writeAll. `flood` writes 64 MiB to stdout
// (so `| head -c1` closes the pipe under it) and exits 3 if it ever gets to the end;
// `exact N` writes N bytes of a known pattern and exits 0.

import process from "node:process";
import { getPlatform } from "../src/platform/index.ts";

const p = await getPlatform();
const [mode, n] = process.argv.slice(2);
if (mode === "flood") {
  const chunk = new Uint8Array(64 << 10).fill(0x61);
  for (let i = 0; i < 1024; i++) p.writeAll(1, chunk);
  p.writeAll(2, new TextEncoder().encode("flood: wrote everything, EPIPE never seen\n"));
  process.exit(3);
} else if (mode === "exact") {
  const size = Number(n);
  const buf = new Uint8Array(size);
  for (let i = 0; i < size; i++) buf[i] = 0x41 + (i % 26);
  p.writeAll(1, buf);
  process.exit(0);
}
process.exit(2);
