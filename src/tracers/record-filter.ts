// A filter applied to a tracer's records in user space, for a selection its BPF programs
// cannot make (e.g. tracer watch's -p on exec records, whose object has no pid filter). Pure.

import type { TracerDescription } from "./types.ts";

/** The description with only the records `keep` accepts, at decoding and at stop. */
export function keepRecords<R>(
  desc: TracerDescription<R>,
  keep: (r: R) => boolean,
): TracerDescription<R> {
  const atStop = desc.atStop;
  return {
    ...desc,
    decoder(layout) {
      const decode = desc.decoder(layout);
      return (view, offset, len) => {
        const r = decode(view, offset, len);
        return r !== null && keep(r) ? r : null;
      };
    },
    atStop: atStop && ((map, layout) => atStop(map, layout).filter(keep)),
  };
}
