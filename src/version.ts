export const VERSION = "0.1.0";

/** Set by build.ts (`bun build --define`): a hash of the sources the binary was built from. */
declare const TRACER_BUILD_ID: string | undefined;

/**
 * The build's id, or null when running from source: what keys the per-boot CO-RE cache
 * (src/loader/core-cache.ts), so a binary never uses results another build computed.
 */
export const BUILD_ID: string | null = typeof TRACER_BUILD_ID === "string" ? TRACER_BUILD_ID : null;
