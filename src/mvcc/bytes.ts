// Keys inside the engine are "binary strings": one UTF-16 code unit per key
// byte (0..255). JS string comparison then orders keys exactly as etcd does
// (byte-wise, unsigned), and a Map can index them, without hashing or
// comparing Uint8Arrays by hand. TextDecoder's "latin1" is windows-1252 and
// would remap 0x80..0x9f, so the conversion is done here.

const CHUNK = 8192;

/** A key's bytes as the engine's binary string (one code unit 0..255 per byte); see stringToKey. */
export function keyToString(b: Uint8Array): string {
  if (b.length <= 64) {
    let s = "";
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
    return s;
  }
  let s = "";
  for (let i = 0; i < b.length; i += CHUNK)
    s += String.fromCharCode.apply(null, b.subarray(i, i + CHUNK) as unknown as number[]);
  return s;
}

/** A binary-string key back to its bytes (each code unit must be 0..255; higher ones are truncated). */
export function stringToKey(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** The byte-string that stands for "no upper bound" (etcd's range_end "\0"). */
export const ALL_KEYS_END = "\0";

/**
 * Resolves etcd's range convention (spec §3.1): empty end = the single key,
 * "\0" = every key >= key (returned as null = unbounded), else [key, end).
 */
export function normalizeEnd(end: string): string | null | undefined {
  if (end.length === 0) return undefined;
  if (end === ALL_KEYS_END) return null;
  return end;
}

/** The prefix end clients compute: drop trailing 0xff bytes, add 1 to the last; all-0xff → "\0". */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i]!++;
      return end;
    }
  }
  return new Uint8Array([0]);
}

/** Whether two byte arrays hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Byte-wise unsigned comparison, as Go's bytes.Compare. */
export function bytesCompare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

export const EMPTY = new Uint8Array(0);
