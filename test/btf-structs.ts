// A BTF under construction holding an `int` and a helper adding structs of one int member,
// the shape the flavor and look-up tests build their candidate names with.

import { BtfBuilder } from "../src/btf/writer.ts";
import { Kind } from "../src/btf/types.ts";

/** A builder with `int` added, and `struct(name)`: adds a 4-byte struct { int x; } and its id. */
export function intStructs(): { b: BtfBuilder; struct: (name: string) => number } {
  const b = new BtfBuilder();
  const int = b.add({ kind: Kind.INT, name: "int", size: 4, encoding: 1, offset: 0, bits: 32 });
  const struct = (name: string) =>
    b.add({
      kind: Kind.STRUCT,
      name,
      size: 4,
      kindFlag: false,
      members: [{ name: "x", type: int, bitOffset: 0, bitfieldSize: 0 }],
    });
  return { b, struct };
}
