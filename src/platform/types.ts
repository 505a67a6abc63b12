// The one interface between the tracer and its runtime (Deno or Bun).
// Only src/platform/* may touch `Deno.*` or `bun:*`; everything else takes a Platform.

/** An address in this process, as a bigint (0n is NULL). */
export type Address = bigint;

/** What `epollWait` reports for one ready descriptor. */
export interface ReadyEvent {
  /** The `data` value given to `epollAdd`. */
  data: number;
  /** EPOLLIN / EPOLLERR / ... bits. */
  events: number;
}

export interface Platform {
  readonly runtime: "deno" | "bun";

  /**
   * bpf(2). Returns the non-negative result (often a new fd).
   * Throws SysError(step, errno) when the call fails; errno is read right after the call.
   */
  bpf(cmd: number, attr: Uint8Array, step: string): number;

  /** perf_event_open(2). Throws SysError on failure. */
  perfEventOpen(
    attr: Uint8Array,
    pid: number,
    cpu: number,
    groupFd: number,
    flags: number,
    step: string,
  ): number;

  /** ioctl(2) with an integer (or address) argument. Throws SysError on failure. */
  ioctl(fd: number, request: number, arg: number | bigint, step: string): number;

  /** mmap(2) of a file descriptor. Throws SysError on failure. */
  mmap(
    length: number,
    prot: number,
    flags: number,
    fd: number,
    offset: number,
    step: string,
  ): Address;
  munmap(addr: Address, length: number): void;

  /** A zero-copy view over `length` bytes of foreign memory at `addr`. Cache it; each call makes a new view. */
  view(addr: Address, length: number): ArrayBuffer;

  /** The address of a typed array's bytes (stable while the array is alive), for pointers in attrs. */
  addressOf(buf: Uint8Array): Address;

  close(fd: number): void;
  /** read(2). Returns the byte count; throws SysError on failure (EAGAIN included). */
  read(fd: number, buf: Uint8Array, step: string): number;

  epollCreate(): number;
  epollAdd(epfd: number, fd: number, events: number, data: number): void;
  /**
   * Waits up to `timeoutMs` for ready descriptors without blocking the runtime's event loop
   * (Deno: a nonblocking call; Bun: short slices that yield). Resolves to the ready list,
   * empty on timeout. EINTR resolves to an empty list.
   */
  epollWait(epfd: number, maxEvents: number, timeoutMs: number): Promise<ReadyEvent[]>;

  /** Registers a handler for SIGINT / SIGTERM. Returns a function that removes it. */
  onSignal(signal: "SIGINT" | "SIGTERM", handler: () => void): () => void;

  /**
   * Writes all bytes to a file descriptor (1 = stdout, 2 = stderr) synchronously.
   * On EPIPE the process exits quietly with status 0 (so `| head` behaves like a Unix tool).
   */
  writeAll(fd: number, bytes: Uint8Array): void;

  /** Number of possible CPUs (from /sys/devices/system/cpu/possible). */
  possibleCpus(): number;

  /** Real and effective uid, and the effective capability mask (from /proc/self/status). */
  identity(): { uid: number; euid: number; capEff: bigint };

  /** getrlimit(2): the soft and hard limit of a resource (RLIM_INFINITY is 2^64-1). */
  getRlimit(resource: number): { soft: bigint; hard: bigint };
  /** setrlimit(2). Throws SysError on failure. */
  setRlimit(resource: number, soft: bigint, hard: bigint, step: string): void;

  /**
   * clock_gettime(2) in nanoseconds: "real" (CLOCK_REALTIME), "monotonic" or "boot"
   * (CLOCK_BOOTTIME, the clock of bpf_ktime_get_boot_ns).
   */
  clockNs(clock: "real" | "monotonic" | "boot"): bigint;

  /** mount(2) of a pseudo file system (tracefs, securityfs) at `target`. Throws SysError. */
  mountFs(fstype: string, target: string): void;

  /** getpid(). */
  pid(): number;

  /**
   * Becomes user `uid` with primary group `gid` and supplementary `groups`, for good (real,
   * effective and saved ids; every thread). Throws SysError naming the step.
   */
  setIds(uid: number, gid: number, groups: number[]): void;

  /** execve(2) of `path`: does not return when it works; returns the errno when it fails. */
  execve(path: string, argv: string[], env: string[]): number;

  /** The command line that starts this program again: the compiled binary, or runtime + script. */
  selfCommand(): string[];
}
