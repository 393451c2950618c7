// The state machine's snapshot format: a stream of framed entries, produced
// from a point-in-time capture in bounded chunks (never one buffer for the
// whole store) and parsed incrementally on restore.
//
//   magic "TSMVCC" 0x00 0x01
//   entry*  = tag (1 byte) | payload length (varint) | payload
//     1 META   version, rev, compactRev+1, appliedIndex, #records, #leases, #alarms
//     2 KV     key, main, sub, createRevision, version, flags(1=tombstone), lease(int64), value
//     3 LEASE  id(int64), ttl, remainingTtl
//     4 ALARM  memberId(uint64), alarm type
//     5 END    crc32c (4 bytes little-endian) of every byte before this entry
//
// Integers are protobuf varints (int64 as two's complement), byte strings are
// a varint length then the bytes. Anything that does not parse, a checksum
// that does not match, counts that disagree or bytes after END are a
// SnapshotCorrupt error.

import { crc32c } from "./crc32c.ts";
import { MvccError, MvccErrorCode } from "./errors.ts";
import { KeyRev } from "./key_index.ts";

const MAGIC = new Uint8Array([0x54, 0x53, 0x4d, 0x56, 0x43, 0x43, 0x00, 0x01]);
const FORMAT_VERSION = 1;
const CHUNK = 64 * 1024;

const TAG_META = 1;
const TAG_KV = 2;
const TAG_LEASE = 3;
const TAG_ALARM = 4;
const TAG_END = 5;

/** A lease as a snapshot holds it (deadlines are leader-local and not part of it). */
export interface LeaseState {
  /** The lease ID. */
  id: bigint;
  /** Granted TTL in seconds. */
  ttl: number;
  /** Remaining TTL in seconds from the last checkpoint (0: none). */
  remainingTtl: number;
}
/** An active alarm as a snapshot holds it. */
export interface AlarmState {
  /** The member that raised it. */
  memberId: bigint;
  /** etcd's AlarmType number (1 NOSPACE, 2 CORRUPT). */
  alarm: number;
}

/** The state machine's content at one point, as a snapshot encodes it (and decodeSnapshot returns it). */
export interface Capture {
  /** The store's revision. */
  rev: number;
  /** The revision compacted up to. */
  compactRev: number;
  /** The raft log index the state reflects. */
  appliedIndex: number;
  /** Every version kept after compaction (immutable KeyRevs). */
  records: KeyRev[];
  /** Every lease. */
  leases: LeaseState[];
  /** Every active alarm. */
  alarms: AlarmState[];
}

/** A snapshot being streamed: the exact byte size is known before the first chunk. */
export interface SnapshotStream extends AsyncIterable<Uint8Array> {
  /** Total bytes the stream yields. */
  readonly size: number;
}

function varintLen(v: bigint | number): number {
  let x = typeof v === "bigint" ? BigInt.asUintN(64, v) : v;
  if (typeof x === "number") {
    if (x < 0) x = BigInt.asUintN(64, BigInt(x));
    else {
      let n = 1;
      while (x >= 128) {
        x = Math.floor(x / 128);
        n++;
      }
      return n;
    }
  }
  let n = 1;
  let y = x as bigint;
  while (y >= 128n) {
    y >>= 7n;
    n++;
  }
  return n;
}

class Out {
  buf: Uint8Array;
  pos = 0;
  constructor(cap: number) {
    this.buf = new Uint8Array(cap);
  }
  u(v: number): void {
    // Safe non-negative integers only (checked by the caller's data model).
    while (v >= 128) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  big(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
  }
  bytes(b: Uint8Array): void {
    this.u(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

function kvPayloadLen(r: KeyRev): number {
  return (
    varintLen(r.keyBytes.length) +
    r.keyBytes.length +
    varintLen(r.main) +
    varintLen(r.sub) +
    varintLen(r.createRevision) +
    varintLen(r.version) +
    1 +
    varintLen(r.lease) +
    varintLen(r.value.length) +
    r.value.length
  );
}

function leasePayloadLen(l: LeaseState): number {
  return varintLen(l.id) + varintLen(l.ttl) + varintLen(l.remainingTtl);
}

function alarmPayloadLen(a: AlarmState): number {
  return varintLen(a.memberId) + varintLen(a.alarm);
}

function metaFields(c: Capture): number[] {
  return [
    FORMAT_VERSION,
    c.rev,
    c.compactRev + 1,
    c.appliedIndex,
    c.records.length,
    c.leases.length,
    c.alarms.length,
  ];
}

function entryLen(payload: number): number {
  return 1 + varintLen(payload) + payload;
}

/** Streams a capture. The capture must not change afterwards (its records are immutable). */
export function encodeSnapshot(c: Capture): SnapshotStream {
  const meta = metaFields(c);
  const metaLen = meta.reduce((n, v) => n + varintLen(v), 0);
  let size = MAGIC.length + entryLen(metaLen) + entryLen(4);
  for (const r of c.records) size += entryLen(kvPayloadLen(r));
  for (const l of c.leases) size += entryLen(leasePayloadLen(l));
  for (const a of c.alarms) size += entryLen(alarmPayloadLen(a));
  async function* gen(): AsyncGenerator<Uint8Array> {
    let out = new Out(CHUNK);
    let crc = 0;
    const flush = (): Uint8Array => {
      const b = out.buf.subarray(0, out.pos);
      crc = crc32c(crc, b);
      out = new Out(CHUNK);
      return b;
    };
    // Ensures room for an entry of this payload size; a big entry gets a buffer of its own.
    const room = function* (payload: number): Generator<Uint8Array> {
      const need = entryLen(payload);
      if (out.pos + need > out.buf.length) {
        if (out.pos > 0) yield flush();
        if (need > out.buf.length) out = new Out(need);
      }
    };
    out.buf.set(MAGIC, 0);
    out.pos = MAGIC.length;
    yield* room(metaLen);
    out.buf[out.pos++] = TAG_META;
    out.u(metaLen);
    for (const v of meta) out.u(v);
    for (const r of c.records) {
      const n = kvPayloadLen(r);
      yield* room(n);
      out.buf[out.pos++] = TAG_KV;
      out.u(n);
      out.bytes(r.keyBytes);
      out.u(r.main);
      out.u(r.sub);
      out.u(r.createRevision);
      out.u(r.version);
      out.buf[out.pos++] = r.tombstone ? 1 : 0;
      out.big(r.lease);
      out.bytes(r.value);
    }
    for (const l of c.leases) {
      const n = leasePayloadLen(l);
      yield* room(n);
      out.buf[out.pos++] = TAG_LEASE;
      out.u(n);
      out.big(l.id);
      out.u(l.ttl);
      out.u(l.remainingTtl);
    }
    for (const a of c.alarms) {
      const n = alarmPayloadLen(a);
      yield* room(n);
      out.buf[out.pos++] = TAG_ALARM;
      out.u(n);
      out.big(a.memberId);
      out.u(a.alarm);
    }
    yield* room(4);
    // The END entry's checksum covers everything before it, including its own tag and length.
    out.buf[out.pos++] = TAG_END;
    out.u(4);
    const before = crc32c(crc, out.buf.subarray(0, out.pos));
    new DataView(out.buf.buffer, out.buf.byteOffset).setUint32(out.pos, before, true);
    out.pos += 4;
    yield out.buf.subarray(0, out.pos);
  }
  return { size, [Symbol.asyncIterator]: gen };
}

/**
 * The hash of an image (Maintenance.Hash, `tsraft-kv snapshot status`): the
 * CRC-32C its END entry stores, i.e. of every byte before the checksum. Not
 * the CRC of the whole image: a CRC over data followed by that data's own
 * CRC comes out the same for every image. Takes the last four bytes as they
 * are: check a foreign image with decodeSnapshot first.
 */
export async function imageHash(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<number> {
  const last = new Uint8Array(4);
  let n = 0;
  for await (const c of chunks) {
    if (c.length >= 4) {
      last.set(c.subarray(c.length - 4));
    } else {
      last.copyWithin(0, c.length);
      last.set(c, 4 - c.length);
    }
    n += c.length;
  }
  if (n < MAGIC.length + 6) throw corrupt("truncated (no end entry)");
  return new DataView(last.buffer).getUint32(0, true);
}

function corrupt(why: string): MvccError {
  return new MvccError(MvccErrorCode.SnapshotCorrupt, why);
}

/** A cursor over one entry's payload. */
class In {
  pos = 0;
  constructor(readonly b: Uint8Array) {}
  u(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.b.length) throw corrupt("truncated integer");
      const c = this.b[this.pos++]!;
      v += (c & 0x7f) * mul;
      if (c < 0x80) {
        if (!Number.isSafeInteger(v)) throw corrupt("integer out of range");
        return v;
      }
      mul *= 128;
    }
    throw corrupt("integer out of range");
  }
  big(): bigint {
    let v = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.b.length) throw corrupt("truncated integer");
      const c = this.b[this.pos++]!;
      v |= BigInt(c & 0x7f) << shift;
      if (c < 0x80) return BigInt.asIntN(64, BigInt.asUintN(64, v));
      shift += 7n;
    }
    throw corrupt("integer out of range");
  }
  bytes(): Uint8Array {
    const n = this.u();
    if (this.pos + n > this.b.length) throw corrupt("truncated bytes");
    const out = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  end(): void {
    if (this.pos !== this.b.length) throw corrupt("entry has trailing bytes");
  }
}

/** Parses a whole snapshot stream; throws SnapshotCorrupt on any damage. */
export async function decodeSnapshot(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<Capture> {
  let buf: Uint8Array = new Uint8Array(0);
  let off = 0;
  let crc = 0;
  let sawMagic = false;
  let meta: number[] | undefined;
  let ended = false;
  const c: Capture = { rev: 0, compactRev: -1, appliedIndex: 0, records: [], leases: [], alarms: [] };

  const take = (): boolean => {
    if (!sawMagic) {
      if (buf.length - off < MAGIC.length) return false;
      for (let i = 0; i < MAGIC.length; i++) if (buf[off + i] !== MAGIC[i]) throw corrupt("bad magic");
      crc = crc32c(crc, buf.subarray(off, off + MAGIC.length));
      off += MAGIC.length;
      sawMagic = true;
    }
    if (ended) {
      if (buf.length > off) throw corrupt("bytes after the end entry");
      return false;
    }
    // tag + length varint
    if (buf.length - off < 2) return false;
    const tag = buf[off]!;
    let len = 0;
    let mul = 1;
    let p = off + 1;
    for (;;) {
      if (p >= buf.length) return false;
      if (p - off > 8) throw corrupt("bad entry length");
      const b = buf[p++]!;
      len += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 128;
    }
    if (!Number.isSafeInteger(len) || len > 0x7fffffff) throw corrupt("bad entry length");
    if (buf.length - p < len) return false;
    const header = buf.subarray(off, p);
    const payload = buf.subarray(p, p + len);
    if (tag === TAG_END) {
      if (len !== 4) throw corrupt("bad end entry");
      const want = crc32c(crc, header);
      const got = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true);
      if (want !== got) throw corrupt("checksum mismatch");
      off = p + len;
      ended = true;
      return true;
    }
    crc = crc32c(crc32c(crc, header), payload);
    off = p + len;
    const r = new In(payload);
    if (meta === undefined && tag !== TAG_META) throw corrupt("missing meta entry");
    switch (tag) {
      case TAG_META: {
        if (meta !== undefined) throw corrupt("second meta entry");
        meta = [];
        for (let i = 0; i < 7; i++) meta.push(r.u());
        r.end();
        if (meta[0] !== FORMAT_VERSION) throw corrupt(`unknown format version ${meta[0]}`);
        c.rev = meta[1]!;
        c.compactRev = meta[2]! - 1;
        c.appliedIndex = meta[3]!;
        if (c.rev < 1 || c.compactRev > c.rev) throw corrupt("bad revisions");
        break;
      }
      case TAG_KV: {
        const keyBytes = r.bytes();
        const main = r.u();
        const sub = r.u();
        const createRevision = r.u();
        const version = r.u();
        if (r.pos >= payload.length) throw corrupt("truncated record");
        const flags = payload[r.pos++]!;
        const lease = r.big();
        const value = r.bytes();
        r.end();
        if (keyBytes.length === 0 || flags > 1) throw corrupt("bad record");
        const tomb = flags === 1;
        if (tomb ? createRevision !== 0 || version !== 0 || value.length > 0 || lease !== 0n : version < 1)
          throw corrupt("bad record");
        if (!tomb && (createRevision < 2 || createRevision > main)) throw corrupt("bad record revisions");
        let key = "";
        for (let i = 0; i < keyBytes.length; i++) key += String.fromCharCode(keyBytes[i]!);
        c.records.push(new KeyRev(key, keyBytes, main, sub, createRevision, version, value, lease, tomb));
        break;
      }
      case TAG_LEASE: {
        const id = r.big();
        const ttl = r.u();
        const remainingTtl = r.u();
        r.end();
        c.leases.push({ id, ttl, remainingTtl });
        break;
      }
      case TAG_ALARM: {
        const memberId = BigInt.asUintN(64, r.big());
        const alarm = r.u();
        r.end();
        c.alarms.push({ memberId, alarm });
        break;
      }
      default:
        throw corrupt(`unknown entry tag ${tag}`);
    }
    return true;
  };

  for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
    if (!(chunk instanceof Uint8Array)) throw corrupt("chunk is not bytes");
    if (off === buf.length) {
      buf = chunk;
      off = 0;
    } else {
      const nb = new Uint8Array(buf.length - off + chunk.length);
      nb.set(buf.subarray(off), 0);
      nb.set(chunk, buf.length - off);
      buf = nb;
      off = 0;
    }
    while (take()) {}
  }
  if (!ended) throw corrupt(sawMagic ? "truncated (no end entry)" : "empty snapshot");
  const m = meta!;
  if (c.records.length !== m[4] || c.leases.length !== m[5] || c.alarms.length !== m[6])
    throw corrupt("entry counts disagree with the meta entry");
  return c;
}
