// `tracer run`: the object's hash and array maps as JSON lines, keys and values decoded by the
// object's BTF (src/events/btf-json.ts). Global data (.rodata/.data/.bss/.kconfig), rings,
// perf event arrays, program arrays and maps of maps are not printed. Per-CPU values: one per
// CPU plus their sum (when integers). Array maps: only the entries whose value is not all
// zero bytes (a never-written slot of an array is all zeros).

import type { Btf } from "../btf/reader.ts";
import type { MapSpec } from "../object/types.ts";
import type { BpfMap } from "../kernel/map.ts";
import { MapType } from "../kernel/constants.ts";
import { type JsonDecoder, jsonDecoder, sumJson } from "../events/btf-json.ts";
import { base64, jsonLine, type JsonValue } from "../output/json.ts";

const DUMPED = new Set<number>([
  MapType.HASH,
  MapType.ARRAY,
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_HASH,
  MapType.LRU_PERCPU_HASH,
]);
const PER_CPU = new Set<number>([
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_PERCPU_HASH,
]);
const ARRAYS = new Set<number>([MapType.ARRAY, MapType.PERCPU_ARRAY]);

/** Whether `tracer run` prints this map of the object. */
export function isDumpedMap(m: MapSpec): boolean {
  return !m.data && DUMPED.has(m.type);
}

/** Decodes a key or value: by its BTF type, or, without one, as an integer or base64 bytes. */
type Put = (rec: Record<string, JsonValue>, field: string, bytes: Uint8Array) => void;

function putter(btf: Btf, typeId: number | undefined, size: number): Put {
  let d: JsonDecoder | null = null;
  if (typeId !== undefined) d = jsonDecoder(btf, typeId);
  if (d) {
    const dec = d;
    return (rec, field, b) =>
      dec.put(rec, field, new DataView(b.buffer, b.byteOffset, b.byteLength), 0, size);
  }
  return (rec, field, b) => {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    if (size === 1) rec[field] = dv.getUint8(0);
    else if (size === 2) rec[field] = dv.getUint16(0, true);
    else if (size === 4) rec[field] = dv.getUint32(0, true);
    else if (size === 8) {
      const v = dv.getBigUint64(0, true);
      rec[field] = v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    } else rec[`${field}_b64`] = base64(b.subarray(0, size));
  };
}

/** Prints maps of an object: one JSON line per map with all its entries. */
export class MapPrinter {
  private readonly maps: { spec: MapSpec; map: BpfMap; key: Put; value: Put }[];

  constructor(btf: Btf, maps: { spec: MapSpec; map: BpfMap }[], private readonly ncpu: number) {
    this.maps = maps.map(({ spec, map }) => ({
      spec,
      map,
      key: putter(btf, spec.keyTypeId, spec.keySize),
      value: putter(btf, spec.valueTypeId, spec.valueSize),
    }));
  }

  /** The JSON lines of every map now. */
  lines(): string {
    let out = "";
    for (const m of this.maps) out += jsonLine(this.dump(m));
    return out;
  }

  private dump(m: MapPrinter["maps"][number]): Record<string, JsonValue> {
    const perCpu = PER_CPU.has(m.spec.type);
    const stride = Math.ceil(m.spec.valueSize / 8) * 8;
    const entries: JsonValue[] = [];
    const keys: Iterable<Uint8Array> = ARRAYS.has(m.spec.type)
      ? arrayKeys(m.map.maxEntries)
      : hashKeys(m.map);
    for (const k of keys) {
      const v = m.map.lookup(k);
      if (!v) continue; // deleted since its key was read
      if (ARRAYS.has(m.spec.type) && v.every((b) => b === 0)) continue;
      const entry: Record<string, JsonValue> = {};
      m.key(entry, "key", k);
      if (!perCpu) m.value(entry, "value", v);
      else {
        const values: JsonValue[] = [];
        for (let cpu = 0; cpu < this.ncpu; cpu++) {
          const one: Record<string, JsonValue> = {};
          m.value(one, "v", v.subarray(cpu * stride, cpu * stride + m.spec.valueSize));
          values.push(one.v ?? one);
        }
        entry.values = values;
        const sum = sumJson(values);
        if (sum !== undefined) entry.sum = sum;
      }
      entries.push(entry);
    }
    return { type: "map", name: m.spec.name, entries };
  }
}

function* arrayKeys(n: number): Generator<Uint8Array> {
  for (let i = 0; i < n; i++) {
    const k = new Uint8Array(4);
    new DataView(k.buffer).setUint32(0, i, true);
    yield k;
  }
}

/**
 * A hash map's keys, each once. While programs run (--interval), a key deleted under the walk
 * makes the kernel start again from the first key: keys already seen are skipped, and the walk
 * stops after twice max_entries keys read, so a busy map cannot hold it forever.
 */
function hashKeys(map: BpfMap): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  let reads = 0;
  for (const k of map.keys()) {
    if (++reads > 2 * map.maxEntries) break;
    const id = k.join(",");
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(k);
  }
  return out;
}
