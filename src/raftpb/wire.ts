// Protobuf wire primitives shared by every codec in tsraft (raftpb, walpb,
// snappb). Only what etcd's messages need: varints, length-delimited fields,
// and skipping of unknown fields. Values are JS numbers; a varint above
// Number.MAX_SAFE_INTEGER is rejected instead of being silently rounded.

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

/** Number of bytes of the varint encoding of a non-negative safe integer. */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  if (v < 0x800000000) return 5;
  if (v < 0x40000000000) return 6;
  if (v < 0x2000000000000) return 7;
  if (v < 0x100000000000000) return 8;
  return 9;
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

  /** Reads a varint that may exceed 2^53 without failing; the value is only approximate then. */
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
