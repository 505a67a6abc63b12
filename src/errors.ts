// Error types shared by every layer. Pure: imports nothing from a runtime.

/** Base class of every error the tracer raises on purpose. */
export class TracerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Malformed input bytes (ELF, BTF, .BTF.ext ...): names what was being read and where. */
export class FormatError extends TracerError {
  constructor(
    readonly what: string,
    readonly offset: number,
    detail: string,
  ) {
    super(`${what}: ${detail} (at offset ${offset})`);
  }
}

/** Bad command-line usage: printed as one line on stderr, exit status 2. */
export class UsageError extends TracerError {}

/** Linux errno numbers to names (x86_64 / generic), for the errors we may meet. */
export const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  8: "ENOEXEC",
  9: "EBADF",
  10: "ECHILD",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  25: "ENOTTY",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  32: "EPIPE",
  34: "ERANGE",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  40: "ELOOP",
  61: "ENODATA",
  75: "EOVERFLOW",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  101: "ENETUNREACH",
  104: "ECONNRESET",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
  115: "EINPROGRESS",
  524: "ENOTSUPP",
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/**
 * A failed system call. `step` says what the tracer was doing
 * ("BPF_PROG_LOAD of program handle_exec", "mmap ring buffer events" ...).
 */
export class SysError extends TracerError {
  readonly errnoName: string;
  constructor(
    readonly step: string,
    readonly errno: number,
    readonly detail = "",
  ) {
    super(`${step}: ${errnoName(errno)}${detail ? `: ${detail}` : ""}`);
    this.errnoName = errnoName(errno);
  }
}
