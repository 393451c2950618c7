// walpb: the WAL's own protobuf messages, on top of raftpb's wire primitives.
//   Record   { 1: type int64, 2: crc uint32, 3: data bytes }
//   Snapshot { 1: index uint64, 2: term uint64, 3: conf_state raftpb.ConfState }
// etcd writes Record.type and Record.crc always (even when zero) and
// Snapshot.index/term always, in every version; conf_state only when set.

import {
  type ConfState,
  DecodeError,
  decodeConfState,
  encodeConfState,
  lengthDelimitedSize,
  type Profile,
  Reader,
  varintSize,
  Writer,
} from "../raftpb/index.ts";

/** walpb record types (the `type` field of a WalRecord), as etcd numbers them. */
export const RecordType = {
  Metadata: 1,
  Entry: 2,
  State: 3,
  Crc: 4,
  Snapshot: 5,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];
/** Lower-case name of each RecordType, indexed by its number ("" at 0), for dumps and messages. */
export const recordTypeNames: readonly string[] = ["", "metadata", "entry", "state", "crc", "snapshot"];

/** A decoded walpb.Record. `data` is null when the field is absent (crc records). */
export class WalRecord {
  /** A RecordType (other values are refused when the log is read). */
  type: number;
  /** CRC-32C of all record data in the log up to and including this record's (uint32). */
  crc: number;
  /** The payload: encoded Entry, HardState, WalSnapshot or metadata; null for crc records. */
  data: Uint8Array | null;

  constructor(type = 0, crc = 0, data: Uint8Array | null = null) {
    this.type = type;
    this.crc = crc;
    this.data = data;
  }
}

/** The snapshot marker etcd writes into the WAL: which snapshot the log continues from. */
export class WalSnapshot {
  /** Log index of the snapshot. */
  index: number;
  /** Term of the entry at `index`. */
  term: number;
  /** Absent (null) in the initial {0, 0} record and in WALs from etcd < 3.5. */
  confState: ConfState | null;

  constructor(index = 0, term = 0, confState: ConfState | null = null) {
    this.index = index;
    this.term = term;
    this.confState = confState;
  }
}

/** Size of an encoded Record with the given type, crc and data length (-1 = no data). */
export function recordSize(type: number, crc: number, dataLen: number): number {
  let n = 1 + varintSize(type) + 1 + varintSize(crc);
  if (dataLen >= 0) n += 1 + lengthDelimitedSize(dataLen);
  return n;
}

/** Encodes one walpb.Record as etcd does (no frame, no padding). */
export function encodeRecord(rec: WalRecord): Uint8Array {
  const buf = new Uint8Array(recordSize(rec.type, rec.crc, rec.data === null ? -1 : rec.data.length));
  const w = new Writer(buf);
  w.byte(0x08);
  w.varint(rec.type);
  w.byte(0x10);
  w.varint(rec.crc);
  if (rec.data !== null) {
    w.byte(0x1a);
    w.bytes(rec.data);
  }
  return buf;
}

/**
 * Decodes a Record from buf[start, end) into `out` (reused by the hot read
 * path). `data` aliases buf. Throws DecodeError.
 *
 * Stricter than protobuf: etcd always writes type and crc and never any other
 * field, so a record without them or with an unknown field is damage. (The
 * CRC covers only the data; a damaged key byte could otherwise turn the crc
 * and data into a skipped unknown field and pass the check with no data.)
 */
export function decodeRecordInto(buf: Uint8Array, start: number, end: number, out: WalRecord): void {
  const r = new Reader(buf, start, end);
  out.type = 0;
  out.crc = 0;
  out.data = null;
  let seen = 0;
  while (r.pos < end) {
    const k = r.key("walpb.Record");
    const f = k >>> 3;
    const wt = k & 7;
    if (f === 1 && wt === 0) out.type = r.uint("walpb.Record.type");
    else if (f === 2 && wt === 0) {
      const at = r.pos;
      const v = r.uint("walpb.Record.crc");
      if (v > 0xffffffff) throw new DecodeError("walpb.Record.crc", "value exceeds uint32", at);
      out.crc = v;
    } else if (f === 3 && wt === 2) out.data = r.bytes("walpb.Record.data", false);
    else if (f >= 1 && f <= 3)
      throw new DecodeError("walpb.Record", `wrong wire type ${wt} for field ${f}`, r.pos);
    else throw new DecodeError("walpb.Record", `unknown field ${f}`, r.pos);
    seen |= 1 << f;
  }
  if ((seen & 0b110) !== 0b110) throw new DecodeError("walpb.Record", "type or crc missing", start);
}

/** Decodes one walpb.Record (no frame); throws raftpb's DecodeError on malformed bytes. */
export function decodeRecord(buf: Uint8Array): WalRecord {
  const rec = new WalRecord();
  decodeRecordInto(buf, 0, buf.length, rec);
  return rec;
}

/** Encodes a walpb.Snapshot; index and term are always written, conf_state iff set. */
export function encodeWalSnapshot(s: WalSnapshot, profile: Profile = "P37"): Uint8Array {
  const cs = s.confState === null ? null : encodeConfState(s.confState, profile);
  const n =
    1 + varintSize(s.index) + 1 + varintSize(s.term) + (cs === null ? 0 : 1 + lengthDelimitedSize(cs.length));
  const buf = new Uint8Array(n);
  const w = new Writer(buf);
  w.byte(0x08);
  w.varint(s.index);
  w.byte(0x10);
  w.varint(s.term);
  if (cs !== null) {
    w.byte(0x1a);
    w.bytes(cs);
  }
  return buf;
}

/** Decodes a walpb.Snapshot. `present` reports which of index(1)/term(2) were on the wire. */
export function decodeWalSnapshot(buf: Uint8Array): WalSnapshot & { present: number } {
  const r = new Reader(buf);
  const s = new WalSnapshot() as WalSnapshot & { present: number };
  s.present = 0;
  while (r.pos < r.end) {
    const k = r.key("walpb.Snapshot");
    const f = k >>> 3;
    const wt = k & 7;
    if (f === 1 && wt === 0) s.index = r.uint("walpb.Snapshot.index");
    else if (f === 2 && wt === 0) s.term = r.uint("walpb.Snapshot.term");
    else if (f === 3 && wt === 2) {
      const n = r.length("walpb.Snapshot.conf_state");
      // A repeated embedded message merges; etcd never writes it twice.
      s.confState = decodeConfState(buf.subarray(r.pos, r.pos + n));
      r.pos += n;
    } else if (f >= 1 && f <= 3) {
      throw new DecodeError("walpb.Snapshot", `wrong wire type ${wt} for field ${f}`, r.pos);
    } else {
      r.skip(wt, "walpb.Snapshot");
      continue;
    }
    s.present |= 1 << f;
  }
  return s;
}
