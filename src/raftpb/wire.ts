// Protobuf wire primitives shared by every codec in tsraft (raftpb, walpb,
// snappb). Only what etcd's messages need: varints, length-delimited fields,
// and skipping of unknown fields.
//
// Two kinds of unsigned integer travel in varints, and they have two JS types:
//  - terms, indexes, lengths and enums are `number`s, always safe non-negative
//    integers; a varint above Number.MAX_SAFE_INTEGER is rejected on decode
//    (never silently rounded) and such a number is refused on encode;
//  - node, member and cluster IDs are exact unsigned 64-bit `bigint`s: etcd
//    derives them from hashes, so they use the whole range, and a varint of
//    up to 10 bytes (values >= 2^63) must round-trip exactly.

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

/** Thrown for any input the decoders cannot accept. `field` names the field being read. */
export class DecodeError extends Error {
  readonly code = "ERR_DECODE";
  readonly field: string;
  readonly offset: number;

  constructor(field: string, reason: string, offset: number) {
    super(`cannot decode ${field} at offset ${offset}: ${reason}`);
    this.name = "DecodeError";
    this.field = field;
    this.offset = offset;
  }
}

/**
 * Thrown by the encoders for a value they must not write: a term, index or
 * length that is not a safe non-negative integer, or an ID that is not an
 * unsigned 64-bit bigint. Writing it anyway would produce bytes that the
 * decoder (ours or etcd's) reads back as a different value.
 */
export class EncodeError extends Error {
  readonly code = "ERR_ENCODE";
  readonly reason: string;
  readonly value: unknown;

  constructor(reason: string, value: unknown) {
    super(`cannot encode ${reason}: ${typeof value === "bigint" ? `${value}n` : String(value)}`);
    this.name = "EncodeError";
    this.reason = reason;
    this.value = value;
  }
}

/** The largest value a uint64 field holds, 2^64 - 1. */
export const MAX_UINT64 = 0xffff_ffff_ffff_ffffn;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Number of bytes of the varint encoding of `v`, which must be a safe
 * non-negative integer (at most 8 bytes, since 2^53 < 2^56); anything else
 * throws EncodeError. Every encoder sizes its output with this function before
 * writing, so this is where values are validated.
 */
export function varintSize(v: number): number {
  // `v >>> 0 === v` holds exactly for integers in [0, 2^32): the common case
  // costs one comparison, and NaN, fractions and negatives fall through.
  if (v >>> 0 === v) {
    if (v < 0x80) return 1;
    if (v < 0x4000) return 2;
    if (v < 0x200000) return 3;
    if (v < 0x10000000) return 4;
    return 5;
  }
  if (!Number.isSafeInteger(v) || v < 0)
    throw new EncodeError("a value that is not a safe non-negative integer", v);
  if (v < 0x800000000) return 5;
  if (v < 0x40000000000) return 6;
  if (v < 0x2000000000000) return 7;
  return 8;
}

/**
 * Number of bytes of the varint encoding of an unsigned 64-bit ID: 1 to 10
 * (values >= 2^63 need the tenth byte for their top bit). Throws EncodeError
 * for anything but a bigint in [0, 2^64).
 */
export function varintSize64(v: bigint): number {
  if (typeof v !== "bigint" || v < 0n || v > MAX_UINT64) {
    throw new EncodeError("an ID that is not an unsigned 64-bit bigint", v);
  }
  if (v <= MAX_SAFE_BIG) return varintSize(Number(v));
  // 2^53 <= v < 2^64: 8 bytes hold 56 bits, 9 bytes 63, 10 bytes 64.
  if (v < 0x100000000000000n) return 8;
  if (v < 0x8000000000000000n) return 9;
  return 10;
}

/** Whether `v` is an unsigned 64-bit ID (a bigint in [0, 2^64)). */
export function isUint64(v: unknown): v is bigint {
  return typeof v === "bigint" && v >= 0n && v <= MAX_UINT64;
}

/** Size of a length-delimited field body with its length prefix. */
export function lengthDelimitedSize(len: number): number {
  return varintSize(len) + len;
}

/** Writes into a pre-sized buffer; callers compute the exact size first. */
export class Writer {
  buf: Uint8Array;
  pos: number;

  constructor(buf: Uint8Array, pos = 0) {
    this.buf = buf;
    this.pos = pos;
  }

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  varint(v: number): void {
    const buf = this.buf;
    let pos = this.pos;
    if (v < 0x80000000) {
      while (v >= 0x80) {
        buf[pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
    } else {
      while (v >= 0x80) {
        buf[pos++] = (v & 0x7f) | 0x80;
        v = Math.floor(v / 128);
      }
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  /**
   * Writes an unsigned 64-bit ID; the caller has validated it (varintSize64).
   * IDs below 2^53 take the number path; larger ones are written from two
   * 32-bit halves so that no bit is lost to floating point.
   */
  varint64(v: bigint): void {
    if (v <= MAX_SAFE_BIG) {
      this.varint(Number(v));
      return;
    }
    let lo = Number(v & 0xffffffffn);
    let hi = Number(v >> 32n);
    const buf = this.buf;
    let pos = this.pos;
    // The low 28 bits first (4 groups of 7), then bits 28..31 of `lo` joined
    // with the start of `hi`, then the rest of `hi` 7 bits at a time.
    for (let i = 0; i < 4; i++) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    let b = lo | ((hi & 0x7) << 4);
    hi >>>= 3;
    while (hi !== 0) {
      buf[pos++] = b | 0x80;
      b = hi & 0x7f;
      hi >>>= 7;
    }
    buf[pos++] = b;
    this.pos = pos;
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

/** A cursor over `buf[pos, end)`. */
export class Reader {
  buf: Uint8Array;
  pos: number;
  end: number;

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  /** Reads a varint as a safe non-negative integer. */
  uint(field: string): number {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    if (pos >= end) throw new DecodeError(field, "unexpected end of input", pos);
    let b = buf[pos++]!;
    if (b < 0x80) {
      this.pos = pos;
      return b;
    }
    // The first four bytes fit in 28 bits, so bit operations are exact.
    let lo = b & 0x7f;
    for (let shift = 7; shift < 28; shift += 7) {
      if (pos >= end) throw new DecodeError(field, "unexpected end of input", pos);
      b = buf[pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return lo;
      }
    }
    let v = lo;
    let mul = 0x10000000;
    for (let i = 4; i < 10; i++) {
      if (pos >= end) throw new DecodeError(field, "unexpected end of input", pos);
      b = buf[pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (i === 9 && b > 1) throw new DecodeError(field, "varint overflows 64 bits", this.pos);
        if (v > Number.MAX_SAFE_INTEGER) {
          throw new DecodeError(field, "value exceeds Number.MAX_SAFE_INTEGER", this.pos);
        }
        this.pos = pos;
        return v;
      }
      mul *= 128;
    }
    throw new DecodeError(field, "varint longer than 10 bytes", this.pos);
  }

  /**
   * Reads a varint as an exact unsigned 64-bit bigint (an ID). Values below
   * 2^53 are read by `uint`; the rest are assembled from two 32-bit halves.
   */
  uint64(field: string): bigint {
    const start = this.pos;
    const buf = this.buf;
    const end = this.end;
    // Find the varint's length first: short ones (the common case in tests
    // and small clusters) go through the number path.
    let n = 0;
    for (;;) {
      if (start + n >= end) throw new DecodeError(field, "unexpected end of input", start + n);
      if (n === 10) throw new DecodeError(field, "varint longer than 10 bytes", start);
      if (buf[start + n++]! < 0x80) break;
    }
    if (n <= 7) return BigInt(this.uint(field));
    if (n === 10 && buf[start + 9]! > 1) throw new DecodeError(field, "varint overflows 64 bits", start);
    let lo = 0;
    for (let i = 0; i < 4; i++) lo |= (buf[start + i]! & 0x7f) << (7 * i);
    const b4 = buf[start + 4]! & 0x7f;
    lo = (lo | ((b4 & 0xf) << 28)) >>> 0;
    let hi = b4 >>> 4;
    for (let i = 5, shift = 3; i < n; i++, shift += 7) hi += (buf[start + i]! & 0x7f) * 2 ** shift;
    this.pos = start + n;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** Skips over a varint of any size (up to 10 bytes). */
  skipVarint(field: string): void {
    const buf = this.buf;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new DecodeError(field, "unexpected end of input", this.pos);
      if (buf[this.pos++]! < 0x80) return;
    }
    throw new DecodeError(field, "varint longer than 10 bytes", this.pos);
  }

  bool(field: string): boolean {
    const start = this.pos;
    this.skipVarint(field);
    for (let i = start; i < this.pos; i++) if ((this.buf[i]! & 0x7f) !== 0) return true;
    return false;
  }

  /** Reads a length prefix and checks that the body lies within the input. */
  length(field: string): number {
    const at = this.pos;
    const n = this.uint(field);
    if (n > this.end - this.pos) {
      throw new DecodeError(field, `length ${n} runs past the end of input`, at);
    }
    return n;
  }

  /** Reads a length-delimited byte field; the result aliases the input unless `copy`. */
  bytes(field: string, copy: boolean): Uint8Array {
    const n = this.length(field);
    const start = this.pos;
    this.pos += n;
    return copy ? this.buf.slice(start, start + n) : this.buf.subarray(start, start + n);
  }

  /** Reads a field key; returns field number << 3 | wire type. */
  key(context: string): number {
    const at = this.pos;
    const k = this.uint(context);
    if (k >>> 3 === 0 || k > 0xffffffff) throw new DecodeError(context, "invalid field number 0", at);
    return k;
  }

  /** Skips the value of an unknown field. */
  skip(wireType: number, field: string): void {
    const at = this.pos;
    switch (wireType) {
      case WIRE_VARINT:
        this.skipVarint(field);
        return;
      case WIRE_FIXED64:
        if (this.end - this.pos < 8) throw new DecodeError(field, "unexpected end of input", at);
        this.pos += 8;
        return;
      case WIRE_BYTES: {
        const n = this.length(field);
        this.pos += n;
        return;
      }
      case WIRE_FIXED32:
        if (this.end - this.pos < 4) throw new DecodeError(field, "unexpected end of input", at);
        this.pos += 4;
        return;
      default:
        throw new DecodeError(field, `unsupported wire type ${wireType}`, at);
    }
  }
}

/** Throws unless the field's wire type is the one its schema expects. */
export function expectWireType(r: Reader, got: number, want: number, field: string): void {
  if (got !== want) {
    throw new DecodeError(field, `wrong wire type ${got} (expected ${want})`, r.pos);
  }
}
