// CRC-32C (Castagnoli) with chaining, as etcd's WAL and snapshot files use it.
// `crc32cUpdate(prev, data)` equals Go's crc32.Update(prev, castagnoliTable,
// data): chaining over two buffers gives the CRC of their concatenation. The
// SIMD native implementation in @node-rs/crc32 does the work (see
// bench/wal.bench.ts for its speed against a pure-JS table).

import { crc32c } from "@node-rs/crc32";

// Below this size a table lookup per byte beats the cost of a native call
// (state records, empty entries, entry headers): the crossover measured by
// bench/wal.bench.ts is around 64 bytes.
const NATIVE_MIN = 64;
const TABLE = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  TABLE[i] = c >>> 0;
}

/** Extends the running CRC-32C `prev` with `data`. */
export function crc32cUpdate(prev: number, data: Uint8Array): number {
  const n = data.length;
  if (n >= NATIVE_MIN) return crc32c(data, prev);
  return crc32cRange(prev, data, 0, n);
}

/** Extends `prev` with buf[start, end) using the table (meant for a few bytes). */
export function crc32cRange(prev: number, buf: Uint8Array, start: number, end: number): number {
  let c = ~prev;
  for (let i = start; i < end; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
