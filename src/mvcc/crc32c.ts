// CRC-32C (Castagnoli), table-driven, pure TypeScript so that the engine
// stays free of Node built-ins (and native modules). Used for HashKV (etcd
// hashes its key bucket with this polynomial) and for snapshot integrity.

const TABLE = (() => {
  const t = new Uint32Array(256 * 4);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  // Slicing-by-4 tables.
  for (let i = 0; i < 256; i++) {
    let c = t[i]!;
    for (let s = 1; s < 4; s++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[s * 256 + i] = c >>> 0;
    }
  }
  return t;
})();

/** Continues a CRC-32C over `buf` from `crc` (0 to start); returns the new value. */
export function crc32c(crc: number, buf: Uint8Array): number {
  let c = ~crc >>> 0;
  let i = 0;
  const n = buf.length;
  const t = TABLE;
  for (; i + 4 <= n; i += 4) {
    c ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    c = t[768 + (c & 0xff)]! ^ t[512 + ((c >>> 8) & 0xff)]! ^ t[256 + ((c >>> 16) & 0xff)]! ^ t[c >>> 24]!;
  }
  for (; i < n; i++) c = t[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
