// A kernel object owned through one file descriptor.

import type { Platform } from "../platform/types.ts";

/** Owns one fd; close() is idempotent. */
export class FdObject {
  #fd: number;
  constructor(protected readonly platform: Platform, fd: number, readonly what: string) {
    this.#fd = fd;
  }
  /** The descriptor; throws once closed, so a stale fd is never passed to the kernel. */
  get fd(): number {
    if (this.#fd < 0) throw new Error(`${this.what}: used after close()`);
    return this.#fd;
  }
  get closed(): boolean {
    return this.#fd < 0;
  }
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    this.platform.close(fd);
  }
}
