// What a fuzz target is, and the shared machinery for targets that decode
// bytes: input generators (random, mutated valid encodings, adversarial
// length prefixes) and the checks every decoder must pass.
//
// A target is one file in fuzz/targets/ whose default export is a FuzzTarget;
// the CLI and the tests discover them, so adding a decoder (the WAL record
// decoder, the snapshot loader) is adding one file.

import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";

export interface FuzzTarget<T = unknown> {
  readonly name: string;
  readonly description: string;
  /** Generates inputs (random, mutated and adversarial). */
  readonly input: fc.Arbitrary<T>;
  /**
   * Runs one input. Returning normally means the input produced a value or
   * the target's typed error; throwing means a bug (a crash, an untyped
   * error, a broken round trip, or unbounded work or memory).
   */
  run(input: T): void;
  /** Renders an input for a failure report. */
  show?(input: T): string;
}

export class FuzzFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FuzzFailure";
  }
}

/** No single case may take longer than this (a hang or super-linear work). */
export const CASE_TIME_LIMIT_MS = 1000;

export function hex(b: Uint8Array, max = 256): string {
  let s = "";
  for (let i = 0; i < Math.min(b.length, max); i++) s += b[i]!.toString(16).padStart(2, "0");
  return b.length > max ? `${s}... (${b.length} bytes)` : s;
}

// ------------------------------------------------------------ byte inputs

/** A protobuf varint. */
export function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** A protobuf varint of an unsigned 64-bit value (up to 10 bytes, exact). */
export function varint64(v: bigint): number[] {
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

/** Huge or boundary values a length or integer field may claim (exact, as bigints). */
const claims: readonly bigint[] = [
  0x7fn,
  0x80n,
  0x3fffn,
  0xffffn,
  0x7fffffffn,
  0xffffffffn,
  2n ** 32n,
  2n ** 40n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 56n,
  2n ** 63n,
  2n ** 64n - 1n,
];

function claimVarint(i: number): number[] {
  return varint64(claims[i % claims.length]!);
}

export type Mutation =
  | { k: "set"; at: number; v: number }
  | { k: "insert"; at: number; bytes: number[] }
  | { k: "delete"; at: number; n: number }
  | { k: "truncate"; at: number }
  | { k: "claim"; at: number; field: number; which: number }
  | { k: "dup"; at: number; n: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ k: fc.constant("set" as const), at: fc.nat(), v: fc.nat(255) }),
  fc.record({
    k: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.array(fc.nat(255), { maxLength: 6 }),
  }),
  fc.record({ k: fc.constant("delete" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ k: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    k: fc.constant("claim" as const),
    at: fc.nat(),
    field: fc.integer({ min: 1, max: 20 }),
    which: fc.nat(),
  }),
  fc.record({ k: fc.constant("dup" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 32 }) }),
);

export function applyMutations(base: Uint8Array, muts: readonly Mutation[]): Uint8Array {
  let b = Array.from(base);
  for (const m of muts) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    switch (m.k) {
      case "set":
        if (b.length > 0) b[at % b.length] = m.v;
        break;
      case "insert":
        b.splice(at, 0, ...m.bytes);
        break;
      case "delete":
        b.splice(at, m.n);
        break;
      case "truncate":
        b = b.slice(0, at);
        break;
      case "claim":
        // A length-delimited field whose length claims far more than exists.
        b.splice(at, 0, (m.field << 3) | 2, ...claimVarint(m.which));
        break;
      case "dup":
        b.splice(at, 0, ...b.slice(at, at + m.n));
        break;
    }
  }
  return Uint8Array.from(b);
}

/** Inputs for a byte decoder: random bytes, mutated valid encodings, valid encodings and adversarial prefixes. */
export function byteInputs(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    {
      weight: 5,
      arbitrary: fc
        .tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 5 }))
        .map(([b, m]) => applyMutations(b, m)),
    },
    { weight: 2, arbitrary: valid },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 1, max: 20 }), fc.nat(), fc.uint8Array({ maxLength: 8 }))
        .map(([field, which, tail]) => Uint8Array.from([(field << 3) | 2, ...claimVarint(which), ...tail])),
    },
  );
}

// ------------------------------------------------------------ checks

/**
 * The memory a decoded value holds: bytes in byte fields, and elements in
 * arrays and nested objects. A decoder that allocates in proportion to its
 * input can hold at most about one element per input byte.
 */
export function footprint(v: unknown, seen = new Set<unknown>()): { bytes: number; items: number } {
  if (v === null || typeof v !== "object" || seen.has(v)) return { bytes: 0, items: 0 };
  seen.add(v);
  if (v instanceof Uint8Array) return { bytes: v.byteLength, items: 0 };
  let bytes = 0;
  let items = Array.isArray(v) ? v.length : 1;
  for (const x of Array.isArray(v) ? v : Object.values(v)) {
    const f = footprint(x, seen);
    bytes += f.bytes;
    items += f.items;
  }
  return { bytes, items };
}

export interface DecoderSpec<T> {
  name: string;
  description: string;
  decode(b: Uint8Array, copy: boolean): T;
  encode(v: T, profile: "P37" | "G36"): Uint8Array;
  /** Valid values, to encode and mutate. */
  values: fc.Arbitrary<T>;
  /** The decoder's typed error. */
  isTypedError(e: unknown): boolean;
  /** Items a decoded value may hold per input byte (plus a constant). */
  itemsPerByte?: number;
}

/** A target for a protobuf-style decoder built from a DecoderSpec. */
export function decoderTarget<T>(spec: DecoderSpec<T>): FuzzTarget<{ bytes: Uint8Array; copy: boolean }> {
  const valid = fc
    .tuple(spec.values, fc.constantFrom<"P37" | "G36">("P37", "G36"))
    .map(([v, p]) => spec.encode(v, p));
  return {
    name: spec.name,
    description: spec.description,
    input: fc.record({ bytes: byteInputs(valid), copy: fc.boolean() }),
    show: (i) => `copy=${i.copy} bytes=${hex(i.bytes)}`,
    run: ({ bytes, copy }) => {
      const t0 = performance.now();
      let v: T;
      try {
        v = spec.decode(bytes, copy);
      } catch (e) {
        if (!spec.isTypedError(e))
          throw new FuzzFailure(`untyped error: ${e instanceof Error ? e.stack : String(e)}`);
        if (e instanceof Error && /internal/i.test(e.message))
          throw new FuzzFailure(`internal error surfaced: ${e.message}`);
        checkTime(t0);
        return;
      }
      checkTime(t0);
      const fp = footprint(v);
      if (fp.bytes > bytes.length)
        throw new FuzzFailure(`decoded ${fp.bytes} bytes of fields from ${bytes.length} input bytes`);
      const perByte = spec.itemsPerByte ?? 1;
      if (fp.items > perByte * bytes.length + 8) {
        throw new FuzzFailure(`decoded ${fp.items} objects from ${bytes.length} input bytes`);
      }
      // Whatever decodes re-encodes, and decodes again to the same value.
      for (const profile of ["P37", "G36"] as const) {
        const again = spec.decode(spec.encode(v, profile), false);
        if (profile === "P37" && !isDeepStrictEqual(comparable(again), comparable(v))) {
          throw new FuzzFailure("decode(encode(decode(x))) differs from decode(x)");
        }
      }
    },
  };
}

/** A value with byte arrays as plain arrays, for structural comparison. */
function comparable(v: unknown): unknown {
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v)) return v.map(comparable);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = comparable(x);
    return out;
  }
  return v;
}

export function checkTime(t0: number): void {
  const ms = performance.now() - t0;
  if (ms > CASE_TIME_LIMIT_MS) throw new FuzzFailure(`one case took ${ms.toFixed(0)} ms`);
}
