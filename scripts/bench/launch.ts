// Shared by the benchmarks: start a tool and time launch → its ready line, medians, and a
// process's memory from /proc (peak RSS, and what the resident pages are, from smaps).

import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** A field of /proc/PID/status in kB (VmHWM: peak resident set; VmRSS: now). NaN if gone. */
export function rssKb(pid: number, field: "VmHWM" | "VmRSS"): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(
      readFileSync(`/proc/${pid}/status`, "utf8"),
    );
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

export interface Running {
  pid: number;
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * CPU time a process has used so far, all its threads (ms, from /proc/PID/task/TID/schedstat:
 * nanoseconds on the CPU). Unlike wall-clock time it does not count waiting for a CPU, so it
 * stays comparable on a loaded machine. NaN when the process is gone.
 */
export function cpuMs(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    }
    return ns / 1e6;
  } catch {
    return NaN;
  }
}

/**
 * Starts `argv`; resolves once `ready` matches its stdout+stderr, with the time from spawn to
 * then (launch → ready, in ms) and the CPU time the process had used by then.
 */
export function startUntilReady(
  name: string,
  argv: string[],
  ready: RegExp,
): Promise<{ ms: number; cpu: number; run: Running }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let done = false;
    const exited = new Promise<void>((r) => child.on("exit", () => r()));
    const onData = (d: Uint8Array) => {
      out += new TextDecoder().decode(d);
      if (!done && ready.test(out)) {
        done = true;
        const ms = performance.now() - t0;
        resolve({
          ms,
          cpu: cpuMs(child.pid!),
          run: {
            pid: child.pid!,
            output: () => out,
            stop: async () => {
              // A runtime signalled in its first milliseconds may miss SIGINT: then SIGKILL.
              child.kill("SIGINT");
              let timer: ReturnType<typeof setTimeout> | undefined;
              await Promise.race([
                exited,
                new Promise<void>((r) => {
                  timer = setTimeout(() => {
                    child.kill("SIGKILL");
                    r();
                  }, 3000);
                }),
              ]);
              clearTimeout(timer);
              await exited;
            },
          },
        });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("error", reject);
    child.on("exit", (code) => {
      if (!done) reject(new Error(`${name} exited (${code}) before ready:\n${out}`));
    });
  });
}

/** Resident kB of a process by what the pages are, from /proc/PID/smaps. */
export interface RssParts {
  /** Pages of the executable file itself (for a compiled tracer: the runtime and the bundle). */
  binary: number;
  /** Shared libraries (libc ...). */
  libraries: number;
  /** BPF maps mapped into the process (ring buffer: anon_inode:bpf-map / bpf-ringbuf). */
  bpfMaps: number;
  /** The kernel BTF file when mapped (/sys/kernel/btf/vmlinux). */
  kernelBtf: number;
  /** Anonymous memory: malloc, the JS heap, JIT code, stacks. */
  anonymous: number;
  /** Anything else. */
  other: number;
  total: number;
}

export function rssParts(pid: number, binaryPath: string): RssParts | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, "utf8");
  } catch {
    return null;
  }
  const parts: RssParts = {
    binary: 0,
    libraries: 0,
    bpfMaps: 0,
    kernelBtf: 0,
    anonymous: 0,
    other: 0,
    total: 0,
  };
  let name = "";
  for (const line of text.split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      name = head[1];
      continue;
    }
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (!m) continue;
    const kb = Number(m[1]);
    parts.total += kb;
    if (name === binaryPath) parts.binary += kb;
    else if (/\.so(\.|$)/.test(name)) parts.libraries += kb;
    else if (name.startsWith("anon_inode:bpf")) parts.bpfMaps += kb;
    else if (name === "/sys/kernel/btf/vmlinux") parts.kernelBtf += kb;
    else if (
      name === "" || name.startsWith("[heap]") || name.startsWith("[stack") ||
      name.startsWith("[anon")
    ) {
      parts.anonymous += kb;
    } else parts.other += kb;
  }
  return parts;
}
