// CRC-32C (Castagnoli) with chaining, as etcd's WAL and snapshot files use it.
// `crc32cUpdate(prev, data)` equals Go's crc32.Update(prev, castagnoliTable,
// data): chaining over two buffers gives the CRC of their concatenation. The
// SIMD native implementation in @node-rs/crc32 does the work (see
// bench/wal.bench.ts for its speed against a pure-JS table).

import { crc32c } from "@node-rs/crc32";

/** Extends the running CRC-32C `prev` with `data`. */
export function crc32cUpdate(prev: number, data: Uint8Array): number {
  // An empty input leaves the CRC unchanged; skip the native call.
  return data.length === 0 ? prev : crc32c(data, prev);
}
