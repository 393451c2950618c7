// The decoding fast path for the command nearly every write is (and for the
// PutRequest of a KV.Put call, decodePutRequest): an
// etcdserverpb.InternalRaftRequest holding only a RequestHeader with an ID
// and a PutRequest. Every member decodes every committed command, and the
// reflective protobuf decoder (fromBinary) took ~3% of a follower's CPU under
// puts; this reads the few fields by hand. Anything else (another request
// kind, a header with a username, unknown or repeated fields, malformed
// bytes) returns undefined and takes the general decoder, so the result is
// always what fromBinary would give for the fields the applier reads.

import { type PutRequest, PutRequestSchema } from "../etcdpb/index.ts";

/** Malformed input: the caller falls back to the general decoder, which reports it. */
class Malformed extends Error {}

/** A cursor over `buf[pos, end)` reading the few protobuf wire forms a put uses. */
class Reader {
  constructor(
    readonly buf: Uint8Array,
    public pos = 0,
    readonly end = buf.length,
  ) {}

  /** A varint as a number; only for values below 2^31 (tags, lengths). */
  small(): number {
    let v = 0;
    for (let shift = 0; shift < 31; shift += 7) {
      if (this.pos >= this.end) throw new Malformed();
      const b = this.buf[this.pos++]!;
      v |= (b & 0x7f) << shift;
      if (b < 0x80) return v >>> 0;
    }
    throw new Malformed(); // longer than a tag or length of this size can be
  }

  /** A varint as an unsigned 64-bit bigint. */
  uint64(): bigint {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Malformed();
      const b = this.buf[this.pos++]!;
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= (bits & 0x0f) << 28;
        hi = bits >>> 4;
      } else hi += bits * 2 ** (7 * i - 32);
      if (b < 0x80) {
        if (i === 9 && b > 1) throw new Malformed(); // beyond 64 bits
        return (BigInt(hi) << 32n) | BigInt(lo >>> 0);
      }
    }
    throw new Malformed();
  }

  bool(): boolean {
    return this.uint64() !== 0n;
  }

  /** A length prefix whose body lies within the input. */
  length(): number {
    const n = this.small();
    if (n > this.end - this.pos) throw new Malformed();
    return n;
  }

  /** A length-delimited field's bytes, as a view of the input. */
  bytes(): Uint8Array {
    const n = this.length();
    const start = this.pos;
    this.pos += n;
    return this.buf.subarray(start, start + n);
  }

  /** A field key (number << 3 | wire type); field 0 is malformed. */
  key(): number {
    const k = this.small();
    if (k >>> 3 === 0) throw new Malformed();
    return k;
  }
}

const HEADER_KEY = (100 << 3) | 2; // InternalRaftRequest.header
const ID_KEY = (1 << 3) | 0; // InternalRaftRequest.ID
const PUT_KEY = (4 << 3) | 2; // InternalRaftRequest.put
const HEADER_ID_KEY = (1 << 3) | 0; // RequestHeader.ID

const PUT_TYPE: PutRequest["$typeName"] = PutRequestSchema.typeName as PutRequest["$typeName"];
const EMPTY = new Uint8Array(0);

/** A put command's request ID (header.ID, else ID) and its PutRequest. */
export interface PutCommand {
  /** The request ID the proposer waits on (header.ID, else the old top-level ID). */
  id: bigint;
  /** The put, its bytes views of the command. */
  put: PutRequest;
}

/** Decodes a put-only InternalRaftRequest; undefined when it is anything else. */
export function decodePutCommand(b: Uint8Array): PutCommand | undefined {
  try {
    return decode(b);
  } catch {
    return undefined; // malformed: the general decoder reports it
  }
}

function decode(b: Uint8Array): PutCommand | undefined {
  const r = new Reader(b);
  let headerId = 0n;
  let id = 0n;
  let put: PutRequest | undefined;
  let seenHeader = false;
  let seenId = false;
  while (r.pos < r.end) {
    const k = r.key();
    if (k === HEADER_KEY && !seenHeader) {
      seenHeader = true;
      const n = r.length();
      const end = r.pos + n;
      const sub = new Reader(b, r.pos, end);
      let seenHid = false;
      while (sub.pos < sub.end) {
        if (sub.key() !== HEADER_ID_KEY || seenHid) return undefined;
        seenHid = true;
        headerId = sub.uint64();
      }
      r.pos = end;
    } else if (k === ID_KEY && !seenId) {
      seenId = true;
      id = r.uint64();
    } else if (k === PUT_KEY && put === undefined) {
      const n = r.length();
      const end = r.pos + n;
      put = decodePut(new Reader(b, r.pos, end));
      if (put === undefined) return undefined;
      r.pos = end;
    } else {
      return undefined;
    }
  }
  if (put === undefined) return undefined;
  return { id: headerId !== 0n ? headerId : id, put };
}

/**
 * Decodes a PutRequest (the body of KV.Put calls); undefined for repeated
 * or unknown fields or malformed bytes, which the general decoder handles.
 */
export function decodePutRequest(b: Uint8Array): PutRequest | undefined {
  try {
    return decodePut(new Reader(b));
  } catch {
    return undefined;
  }
}

function decodePut(r: Reader): PutRequest | undefined {
  let key: Uint8Array = EMPTY;
  let value: Uint8Array = EMPTY;
  let lease = 0n;
  let prevKv = false;
  let ignoreValue = false;
  let ignoreLease = false;
  let seen = 0;
  while (r.pos < r.end) {
    const k = r.key();
    const field = k >>> 3;
    if (field < 1 || field > 6 || seen & (1 << field)) return undefined;
    seen |= 1 << field;
    const wire = k & 7;
    if (field <= 2) {
      if (wire !== 2) return undefined;
      if (field === 1) key = r.bytes();
      else value = r.bytes();
    } else {
      if (wire !== 0) return undefined;
      if (field === 3) lease = BigInt.asIntN(64, r.uint64());
      else if (field === 4) prevKv = r.bool();
      else if (field === 5) ignoreValue = r.bool();
      else ignoreLease = r.bool();
    }
  }
  // Views of the command's bytes, as fromBinary gives (the store copies what it keeps).
  return {
    $typeName: PUT_TYPE,
    key: key as PutRequest["key"],
    value: value as PutRequest["value"],
    lease,
    prevKv,
    ignoreValue,
    ignoreLease,
  };
}
