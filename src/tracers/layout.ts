// The event struct's layout, read from the BPF object's own BTF. Pure.

import type { Btf } from "../btf/reader.ts";
import { structDecoder } from "../events/decoder.ts";
import { TracerError } from "../errors.ts";
import type { EventLayout } from "./types.ts";

/** The layout of struct `name` in `btf` (top-level fields by name). */
export function eventLayout(btf: Btf, name: string): EventLayout {
  const decoder = structDecoder(btf, name);
  const byName = new Map(decoder.fields.map((f) => [f.path, f]));
  return {
    size: decoder.size,
    field(field: string) {
      const f = byName.get(field);
      if (!f) throw new TracerError(`struct ${name} in the object's BTF has no field '${field}'`);
      return { offset: f.offset, size: f.size };
    },
  };
}
