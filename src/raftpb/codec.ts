// Binary codec for raftpb, byte-identical to etcd's.
//
// Two encoding profiles exist (see docs/ and the storage-and-wire spec):
//  - P37 (default): etcd >= 3.7 with explicit field presence. A field is
//    written iff it was set: its `present` bit is on, or its value is not the
//    default. Messages built by tsraft mark only what raft sets explicitly.
//  - G36: etcd 3.6 (gogoproto). Non-nullable scalars and sub-messages are
//    always written, even when zero.
// Decoding accepts both, plus G35 (etcd <= 3.5, which always writes an empty
// snapshot and has no vote field). Fields are always written in ascending
// field-number order; repeated uint64 lists are written unpacked and read in
// either form.

import {
  ConfChange,
  ConfChangeSingle,
  type ConfChangeTransition,
  type ConfChangeType,
  ConfChangeV2,
  ConfState,
  Entry,
  type EntryType,
  HardState,
  Message,
  type MessageType,
  Snapshot,
  SnapshotMetadata,
} from "./types.ts";
import {
  DecodeError,
  EncodeError,
  expectWireType,
  lengthDelimitedSize,
  Reader,
  varintSize,
  varintSize64,
  WIRE_BYTES,
  WIRE_VARINT,
  Writer,
} from "./wire.ts";

export type Profile = "P37" | "G36";

export interface DecodeOptions {
  /** Copy bytes fields out of the input instead of aliasing it (default false). */
  copy?: boolean;
}

const MAX_DEPTH = 32;

// Bit for protobuf field number n in a `present` set.
const bit = (n: number): number => 1 << n;

// ---------------------------------------------------------------- Entry

function entryBodySize(e: Entry, g36: boolean): number {
  const p = e.present;
  let n = 0;
  if (g36 || e.type !== 0 || (p & 2) !== 0) n += 1 + varintSize(e.type);
  if (g36 || e.term !== 0 || (p & 4) !== 0) n += 1 + varintSize(e.term);
  if (g36 || e.index !== 0 || (p & 8) !== 0) n += 1 + varintSize(e.index);
  if (e.data.length !== 0 || (p & 16) !== 0) n += 1 + lengthDelimitedSize(e.data.length);
  return n;
}

function writeEntry(w: Writer, e: Entry, g36: boolean): void {
  const p = e.present;
  if (g36 || e.type !== 0 || (p & 2) !== 0) {
    w.byte(0x08);
    w.varint(e.type);
  }
  if (g36 || e.term !== 0 || (p & 4) !== 0) {
    w.byte(0x10);
    w.varint(e.term);
  }
  if (g36 || e.index !== 0 || (p & 8) !== 0) {
    w.byte(0x18);
    w.varint(e.index);
  }
  if (e.data.length !== 0 || (p & 16) !== 0) {
    w.byte(0x22);
    w.bytes(e.data);
  }
}

/**
 * The encoded size of an entry as etcd >= 3.7 computes it (P37). raft uses it
 * for MaxSizePerMsg, MaxCommittedSizePerReady and storage size limits.
 */
export function entrySize(e: Entry): number {
  return entryBodySize(e, false);
}

function readEntry(r: Reader, end: number, copy: boolean): Entry {
  const e = new Entry();
  let present = 0;
  while (r.pos < end) {
    const k = r.key("Entry");
    const f = k >>> 3;
    const wt = k & 7;
    switch (f) {
      case 1:
        expectWireType(r, wt, WIRE_VARINT, "Entry.Type");
        e.type = readEnum(r, "Entry.Type", 2) as EntryType;
        break;
      case 2:
        expectWireType(r, wt, WIRE_VARINT, "Entry.Term");
        e.term = r.uint("Entry.Term");
        break;
      case 3:
        expectWireType(r, wt, WIRE_VARINT, "Entry.Index");
        e.index = r.uint("Entry.Index");
        break;
      case 4:
        expectWireType(r, wt, WIRE_BYTES, "Entry.Data");
        e.data = r.bytes("Entry.Data", copy);
        break;
      default:
        r.skip(wt, "Entry");
        continue;
    }
    present |= bit(f);
  }
  e.present = present;
  return e;
}

/** Reads a length prefix and limits the reader to that body; returns the outer limit. */
function enter(r: Reader, field: string): number {
  const n = r.length(field);
  const outer = r.end;
  r.end = r.pos + n;
  return outer;
}

function readEnum(r: Reader, field: string, max: number): number {
  const at = r.pos;
  const v = r.uint(field);
  if (v > max) throw new DecodeError(field, `unknown enum value ${v}`, at);
  return v;
}

// ---------------------------------------------------------------- ConfState

function idListSize(field: bigint[]): number {
  let n = 0;
  for (let i = 0; i < field.length; i++) n += 1 + varintSize64(field[i]!);
  return n;
}

function writeIdList(w: Writer, key: number, list: bigint[]): void {
  for (let i = 0; i < list.length; i++) {
    w.byte(key);
    w.varint64(list[i]!);
  }
}

function confStateSize(cs: ConfState, g36: boolean): number {
  let n =
    idListSize(cs.voters) +
    idListSize(cs.learners) +
    idListSize(cs.votersOutgoing) +
    idListSize(cs.learnersNext);
  if (g36 || cs.autoLeave || (cs.present & bit(5)) !== 0) n += 2;
  return n;
}

function writeConfState(w: Writer, cs: ConfState, g36: boolean): void {
  writeIdList(w, 0x08, cs.voters);
  writeIdList(w, 0x10, cs.learners);
  writeIdList(w, 0x18, cs.votersOutgoing);
  writeIdList(w, 0x20, cs.learnersNext);
  if (g36 || cs.autoLeave || (cs.present & bit(5)) !== 0) {
    w.byte(0x28);
    w.byte(cs.autoLeave ? 1 : 0);
  }
}

function isEmptyConfState(cs: ConfState): boolean {
  return (
    cs.voters.length === 0 &&
    cs.learners.length === 0 &&
    cs.votersOutgoing.length === 0 &&
    cs.learnersNext.length === 0 &&
    !cs.autoLeave &&
    cs.present === 0
  );
}

function readIdListInto(r: Reader, wt: number, list: bigint[], field: string): void {
  if (wt === WIRE_VARINT) {
    list.push(r.uint64(field));
    return;
  }
  expectWireType(r, wt, WIRE_BYTES, field);
  const n = r.length(field);
  const end = r.pos + n;
  const outer = r.end;
  r.end = end;
  while (r.pos < end) list.push(r.uint64(field));
  r.end = outer;
}

function readConfStateInto(r: Reader, end: number, cs: ConfState): void {
  while (r.pos < end) {
    const k = r.key("ConfState");
    const f = k >>> 3;
    const wt = k & 7;
    switch (f) {
      case 1:
        readIdListInto(r, wt, cs.voters, "ConfState.voters");
        break;
      case 2:
        readIdListInto(r, wt, cs.learners, "ConfState.learners");
        break;
      case 3:
        readIdListInto(r, wt, cs.votersOutgoing, "ConfState.voters_outgoing");
        break;
      case 4:
        readIdListInto(r, wt, cs.learnersNext, "ConfState.learners_next");
        break;
      case 5:
        expectWireType(r, wt, WIRE_VARINT, "ConfState.auto_leave");
        cs.autoLeave = r.bool("ConfState.auto_leave");
        cs.present |= bit(5);
        break;
      default:
        r.skip(wt, "ConfState");
    }
    // Repeated fields have no presence: an empty packed list leaves no trace
    // (it could not be written back, and the value would not round-trip).
  }
}

// ---------------------------------------------------------------- Snapshot

function metadataSize(md: SnapshotMetadata, g36: boolean): number {
  let n = 0;
  if (g36 || !isEmptyConfState(md.confState) || (md.present & bit(1)) !== 0) {
    n += 1 + lengthDelimitedSize(confStateSize(md.confState, g36));
  }
  if (g36 || md.index !== 0 || (md.present & bit(2)) !== 0) n += 1 + varintSize(md.index);
  if (g36 || md.term !== 0 || (md.present & bit(3)) !== 0) n += 1 + varintSize(md.term);
  return n;
}

function writeMetadata(w: Writer, md: SnapshotMetadata, g36: boolean): void {
  if (g36 || !isEmptyConfState(md.confState) || (md.present & bit(1)) !== 0) {
    w.byte(0x0a);
    w.varint(confStateSize(md.confState, g36));
    writeConfState(w, md.confState, g36);
  }
  if (g36 || md.index !== 0 || (md.present & bit(2)) !== 0) {
    w.byte(0x10);
    w.varint(md.index);
  }
  if (g36 || md.term !== 0 || (md.present & bit(3)) !== 0) {
    w.byte(0x18);
    w.varint(md.term);
  }
}

function isEmptyMetadata(md: SnapshotMetadata): boolean {
  return md.index === 0 && md.term === 0 && md.present === 0 && isEmptyConfState(md.confState);
}

function readMetadataInto(r: Reader, end: number, md: SnapshotMetadata): void {
  while (r.pos < end) {
    const k = r.key("SnapshotMetadata");
    const f = k >>> 3;
    const wt = k & 7;
    switch (f) {
      case 1: {
        expectWireType(r, wt, WIRE_BYTES, "SnapshotMetadata.conf_state");
        const outer = enter(r, "SnapshotMetadata.conf_state");
        readConfStateInto(r, r.end, md.confState);
        r.end = outer;
        break;
      }
      case 2:
        expectWireType(r, wt, WIRE_VARINT, "SnapshotMetadata.index");
        md.index = r.uint("SnapshotMetadata.index");
        break;
      case 3:
        expectWireType(r, wt, WIRE_VARINT, "SnapshotMetadata.term");
        md.term = r.uint("SnapshotMetadata.term");
        break;
      default:
        r.skip(wt, "SnapshotMetadata");
        continue;
    }
    md.present |= bit(f);
  }
}

function snapshotSize(s: Snapshot, g36: boolean): number {
  let n = 0;
  if (s.data.length !== 0 || (s.present & bit(1)) !== 0) n += 1 + lengthDelimitedSize(s.data.length);
  if (g36 || !isEmptyMetadata(s.metadata) || (s.present & bit(2)) !== 0) {
    n += 1 + lengthDelimitedSize(metadataSize(s.metadata, g36));
  }
  return n;
}

function writeSnapshot(w: Writer, s: Snapshot, g36: boolean): void {
  if (s.data.length !== 0 || (s.present & bit(1)) !== 0) {
    w.byte(0x0a);
    w.bytes(s.data);
  }
  if (g36 || !isEmptyMetadata(s.metadata) || (s.present & bit(2)) !== 0) {
    w.byte(0x12);
    w.varint(metadataSize(s.metadata, g36));
    writeMetadata(w, s.metadata, g36);
  }
}

function readSnapshotInto(r: Reader, end: number, s: Snapshot, copy: boolean): void {
  while (r.pos < end) {
    const k = r.key("Snapshot");
    const f = k >>> 3;
    const wt = k & 7;
    switch (f) {
      case 1:
        expectWireType(r, wt, WIRE_BYTES, "Snapshot.data");
        s.data = r.bytes("Snapshot.data", copy);
        break;
      case 2: {
        expectWireType(r, wt, WIRE_BYTES, "Snapshot.metadata");
        const outer = enter(r, "Snapshot.metadata");
        readMetadataInto(r, r.end, s.metadata);
        r.end = outer;
        break;
      }
      default:
        r.skip(wt, "Snapshot");
        continue;
    }
    s.present |= bit(f);
  }
}

// ---------------------------------------------------------------- Message

function messageSize(m: Message, g36: boolean): number {
  const p = m.present;
  let n = 0;
  if (g36 || m.type !== 0 || (p & bit(1)) !== 0) n += 1 + varintSize(m.type);
  if (g36 || m.to !== 0n || (p & bit(2)) !== 0) n += 1 + varintSize64(m.to);
  if (g36 || m.from !== 0n || (p & bit(3)) !== 0) n += 1 + varintSize64(m.from);
  if (g36 || m.term !== 0 || (p & bit(4)) !== 0) n += 1 + varintSize(m.term);
  if (g36 || m.logTerm !== 0 || (p & bit(5)) !== 0) n += 1 + varintSize(m.logTerm);
  if (g36 || m.index !== 0 || (p & bit(6)) !== 0) n += 1 + varintSize(m.index);
  const ents = m.entries;
  for (let i = 0; i < ents.length; i++) n += 1 + lengthDelimitedSize(entryBodySize(ents[i]!, g36));
  if (g36 || m.commit !== 0 || (p & bit(8)) !== 0) n += 1 + varintSize(m.commit);
  if (m.snapshot !== null) n += 1 + lengthDelimitedSize(snapshotSize(m.snapshot, g36));
  if (g36 || m.reject || (p & bit(10)) !== 0) n += 2;
  if (g36 || m.rejectHint !== 0 || (p & bit(11)) !== 0) n += 1 + varintSize(m.rejectHint);
  if (m.context.length !== 0 || (p & bit(12)) !== 0) n += 1 + lengthDelimitedSize(m.context.length);
  if (g36 || m.vote !== 0n || (p & bit(13)) !== 0) n += 1 + varintSize64(m.vote);
  const rs = m.responses;
  for (let i = 0; i < rs.length; i++) n += 1 + lengthDelimitedSize(messageSize(rs[i]!, g36));
  return n;
}

function writeMessage(w: Writer, m: Message, g36: boolean): void {
  const p = m.present;
  if (g36 || m.type !== 0 || (p & bit(1)) !== 0) {
    w.byte(0x08);
    w.varint(m.type);
  }
  if (g36 || m.to !== 0n || (p & bit(2)) !== 0) {
    w.byte(0x10);
    w.varint64(m.to);
  }
  if (g36 || m.from !== 0n || (p & bit(3)) !== 0) {
    w.byte(0x18);
    w.varint64(m.from);
  }
  if (g36 || m.term !== 0 || (p & bit(4)) !== 0) {
    w.byte(0x20);
    w.varint(m.term);
  }
  if (g36 || m.logTerm !== 0 || (p & bit(5)) !== 0) {
    w.byte(0x28);
    w.varint(m.logTerm);
  }
  if (g36 || m.index !== 0 || (p & bit(6)) !== 0) {
    w.byte(0x30);
    w.varint(m.index);
  }
  const ents = m.entries;
  for (let i = 0; i < ents.length; i++) {
    const e = ents[i]!;
    w.byte(0x3a);
    w.varint(entryBodySize(e, g36));
    writeEntry(w, e, g36);
  }
  if (g36 || m.commit !== 0 || (p & bit(8)) !== 0) {
    w.byte(0x40);
    w.varint(m.commit);
  }
  if (m.snapshot !== null) {
    w.byte(0x4a);
    w.varint(snapshotSize(m.snapshot, g36));
    writeSnapshot(w, m.snapshot, g36);
  }
  if (g36 || m.reject || (p & bit(10)) !== 0) {
    w.byte(0x50);
    w.byte(m.reject ? 1 : 0);
  }
  if (g36 || m.rejectHint !== 0 || (p & bit(11)) !== 0) {
    w.byte(0x58);
    w.varint(m.rejectHint);
  }
  if (m.context.length !== 0 || (p & bit(12)) !== 0) {
    w.byte(0x62);
    w.bytes(m.context);
  }
  if (g36 || m.vote !== 0n || (p & bit(13)) !== 0) {
    w.byte(0x68);
    w.varint64(m.vote);
  }
  const rs = m.responses;
  for (let i = 0; i < rs.length; i++) {
    const r = rs[i]!;
    w.byte(0x72);
    w.varint(messageSize(r, g36));
    writeMessage(w, r, g36);
  }
}

function readMessage(r: Reader, end: number, copy: boolean, depth: number): Message {
  if (depth > MAX_DEPTH) throw new DecodeError("Message.responses", "messages nested too deeply", r.pos);
  const m = new Message();
  let present = 0;
  while (r.pos < end) {
    const k = r.key("Message");
    const f = k >>> 3;
    const wt = k & 7;
    switch (f) {
      case 1:
        expectWireType(r, wt, WIRE_VARINT, "Message.type");
        m.type = readEnum(r, "Message.type", 23) as MessageType;
        break;
      case 2:
        expectWireType(r, wt, WIRE_VARINT, "Message.to");
        m.to = r.uint64("Message.to");
        break;
      case 3:
        expectWireType(r, wt, WIRE_VARINT, "Message.from");
        m.from = r.uint64("Message.from");
        break;
      case 4:
        expectWireType(r, wt, WIRE_VARINT, "Message.term");
        m.term = r.uint("Message.term");
        break;
      case 5:
        expectWireType(r, wt, WIRE_VARINT, "Message.logTerm");
        m.logTerm = r.uint("Message.logTerm");
        break;
      case 6:
        expectWireType(r, wt, WIRE_VARINT, "Message.index");
        m.index = r.uint("Message.index");
        break;
      case 7: {
        expectWireType(r, wt, WIRE_BYTES, "Message.entries");
        const outer = enter(r, "Message.entries");
        const e = readEntry(r, r.end, copy);
        r.end = outer;
        if (present & bit(7)) m.entries.push(e);
        else m.entries = [e];
        break;
      }
      case 8:
        expectWireType(r, wt, WIRE_VARINT, "Message.commit");
        m.commit = r.uint("Message.commit");
        break;
      case 9: {
        expectWireType(r, wt, WIRE_BYTES, "Message.snapshot");
        const outer = enter(r, "Message.snapshot");
        if (m.snapshot === null) m.snapshot = new Snapshot();
        readSnapshotInto(r, r.end, m.snapshot, copy);
        r.end = outer;
        break;
      }
      case 10:
        expectWireType(r, wt, WIRE_VARINT, "Message.reject");
        m.reject = r.bool("Message.reject");
        break;
      case 11:
        expectWireType(r, wt, WIRE_VARINT, "Message.rejectHint");
        m.rejectHint = r.uint("Message.rejectHint");
        break;
      case 12:
        expectWireType(r, wt, WIRE_BYTES, "Message.context");
        m.context = r.bytes("Message.context", copy);
        break;
      case 13:
        expectWireType(r, wt, WIRE_VARINT, "Message.vote");
        m.vote = r.uint64("Message.vote");
        break;
      case 14: {
        expectWireType(r, wt, WIRE_BYTES, "Message.responses");
        const outer = enter(r, "Message.responses");
        const resp = readMessage(r, r.end, copy, depth + 1);
        r.end = outer;
        if (present & bit(14)) m.responses.push(resp);
        else m.responses = [resp];
        break;
      }
      default:
        r.skip(wt, "Message");
        continue;
    }
    present |= bit(f);
  }
  m.present = present;
  return m;
}

// ---------------------------------------------------------------- HardState

function hardStateSize(hs: HardState, g36: boolean): number {
  const p = hs.present;
  let n = 0;
  if (g36 || hs.term !== 0 || (p & bit(1)) !== 0) n += 1 + varintSize(hs.term);
  if (g36 || hs.vote !== 0n || (p & bit(2)) !== 0) n += 1 + varintSize64(hs.vote);
  if (g36 || hs.commit !== 0 || (p & bit(3)) !== 0) n += 1 + varintSize(hs.commit);
  return n;
}

function writeHardState(w: Writer, hs: HardState, g36: boolean): void {
  const p = hs.present;
  if (g36 || hs.term !== 0 || (p & bit(1)) !== 0) {
    w.byte(0x08);
    w.varint(hs.term);
  }
  if (g36 || hs.vote !== 0n || (p & bit(2)) !== 0) {
    w.byte(0x10);
    w.varint64(hs.vote);
  }
  if (g36 || hs.commit !== 0 || (p & bit(3)) !== 0) {
    w.byte(0x18);
    w.varint(hs.commit);
  }
}

// ---------------------------------------------------------------- ConfChange

function confChangeSize(cc: ConfChange, g36: boolean): number {
  const p = cc.present;
  let n = 0;
  if (g36 || cc.id !== 0n || (p & bit(1)) !== 0) n += 1 + varintSize64(cc.id);
  if (g36 || cc.type !== 0 || (p & bit(2)) !== 0) n += 1 + varintSize(cc.type);
  if (g36 || cc.nodeId !== 0n || (p & bit(3)) !== 0) n += 1 + varintSize64(cc.nodeId);
  if (cc.context.length !== 0 || (p & bit(4)) !== 0) n += 1 + lengthDelimitedSize(cc.context.length);
  return n;
}

function writeConfChange(w: Writer, cc: ConfChange, g36: boolean): void {
  const p = cc.present;
  if (g36 || cc.id !== 0n || (p & bit(1)) !== 0) {
    w.byte(0x08);
    w.varint64(cc.id);
  }
  if (g36 || cc.type !== 0 || (p & bit(2)) !== 0) {
    w.byte(0x10);
    w.varint(cc.type);
  }
  if (g36 || cc.nodeId !== 0n || (p & bit(3)) !== 0) {
    w.byte(0x18);
    w.varint64(cc.nodeId);
  }
  if (cc.context.length !== 0 || (p & bit(4)) !== 0) {
    w.byte(0x22);
    w.bytes(cc.context);
  }
}

function singleSize(c: ConfChangeSingle, g36: boolean): number {
  let n = 0;
  if (g36 || c.type !== 0 || (c.present & bit(1)) !== 0) n += 1 + varintSize(c.type);
  if (g36 || c.nodeId !== 0n || (c.present & bit(2)) !== 0) n += 1 + varintSize64(c.nodeId);
  return n;
}

function confChangeV2Size(cc: ConfChangeV2, g36: boolean): number {
  let n = 0;
  if (g36 || cc.transition !== 0 || (cc.present & bit(1)) !== 0) n += 1 + varintSize(cc.transition);
  for (const c of cc.changes) n += 1 + lengthDelimitedSize(singleSize(c, g36));
  if (cc.context.length !== 0 || (cc.present & bit(3)) !== 0) {
    n += 1 + lengthDelimitedSize(cc.context.length);
  }
  return n;
}

function writeConfChangeV2(w: Writer, cc: ConfChangeV2, g36: boolean): void {
  if (g36 || cc.transition !== 0 || (cc.present & bit(1)) !== 0) {
    w.byte(0x08);
    w.varint(cc.transition);
  }
  for (const c of cc.changes) {
    w.byte(0x12);
    w.varint(singleSize(c, g36));
    if (g36 || c.type !== 0 || (c.present & bit(1)) !== 0) {
      w.byte(0x08);
      w.varint(c.type);
    }
    if (g36 || c.nodeId !== 0n || (c.present & bit(2)) !== 0) {
      w.byte(0x10);
      w.varint64(c.nodeId);
    }
  }
  if (cc.context.length !== 0 || (cc.present & bit(3)) !== 0) {
    w.byte(0x1a);
    w.bytes(cc.context);
  }
}

// ---------------------------------------------------------------- public API

// Encoding sizes the output first, and sizing validates every value
// (varintSize, varintSize64), so nothing is written unless all of it is
// valid. The *Into functions write into a buffer the caller has sized with
// encodedEntrySize/encodedMessageSize, which validated the same values.
function encodeWith<T>(
  v: T,
  g36: boolean,
  size: (v: T, g36: boolean) => number,
  write: (w: Writer, v: T, g36: boolean) => void,
  what: string,
): Uint8Array {
  let n: number;
  try {
    n = size(v, g36);
  } catch (err) {
    if (err instanceof EncodeError) throw new EncodeError(`${what}: ${err.reason}`, err.value);
    throw err;
  }
  const buf = new Uint8Array(n);
  write(new Writer(buf), v, g36);
  return buf;
}

/** Wraps anything a decoder throws that is not a DecodeError (it should never happen). */
function decodeWith<T>(buf: Uint8Array, what: string, read: (r: Reader) => T): T {
  const r = new Reader(buf);
  try {
    return read(r);
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    throw new DecodeError(what, `internal decoder error: ${String(err)}`, r.pos);
  }
}

export function encodeEntry(e: Entry, profile: Profile = "P37"): Uint8Array {
  return encodeWith(e, profile === "G36", entryBodySize, writeEntry, "Entry");
}

/** The encoded size of an entry under the given profile. */
export function encodedEntrySize(e: Entry, profile: Profile = "P37"): number {
  return entryBodySize(e, profile === "G36");
}

/** Encodes `e` into `buf` at `offset`; returns the offset just past it. */
export function encodeEntryInto(e: Entry, buf: Uint8Array, offset: number, profile: Profile = "P37"): number {
  const w = new Writer(buf, offset);
  writeEntry(w, e, profile === "G36");
  return w.pos;
}

export function decodeEntry(buf: Uint8Array, opts?: DecodeOptions): Entry {
  return decodeWith(buf, "Entry", (r) => readEntry(r, r.end, opts?.copy === true));
}

export function encodeMessage(m: Message, profile: Profile = "P37"): Uint8Array {
  return encodeWith(m, profile === "G36", messageSize, writeMessage, "Message");
}

/** The encoded size of a message under the given profile. */
export function encodedMessageSize(m: Message, profile: Profile = "P37"): number {
  return messageSize(m, profile === "G36");
}

/** Encodes `m` into `buf` at `offset`; returns the offset just past it. */
export function encodeMessageInto(
  m: Message,
  buf: Uint8Array,
  offset: number,
  profile: Profile = "P37",
): number {
  const w = new Writer(buf, offset);
  writeMessage(w, m, profile === "G36");
  return w.pos;
}

export function decodeMessage(buf: Uint8Array, opts?: DecodeOptions): Message {
  return decodeWith(buf, "Message", (r) => readMessage(r, r.end, opts?.copy === true, 0));
}

export function encodeHardState(hs: HardState, profile: Profile = "P37"): Uint8Array {
  return encodeWith(hs, profile === "G36", hardStateSize, writeHardState, "HardState");
}

export function decodeHardState(buf: Uint8Array): HardState {
  return decodeWith(buf, "HardState", (r) => {
    const hs = new HardState();
    let present = 0;
    while (r.pos < r.end) {
      const k = r.key("HardState");
      const f = k >>> 3;
      const wt = k & 7;
      if (f === 1 || f === 2 || f === 3) {
        const name = f === 1 ? "HardState.term" : f === 2 ? "HardState.vote" : "HardState.commit";
        expectWireType(r, wt, WIRE_VARINT, name);
        if (f === 1) hs.term = r.uint(name);
        else if (f === 2) hs.vote = r.uint64(name);
        else hs.commit = r.uint(name);
        present |= bit(f);
      } else {
        r.skip(wt, "HardState");
      }
    }
    hs.present = present;
    return hs;
  });
}

export function encodeConfState(cs: ConfState, profile: Profile = "P37"): Uint8Array {
  return encodeWith(cs, profile === "G36", confStateSize, writeConfState, "ConfState");
}

export function decodeConfState(buf: Uint8Array): ConfState {
  return decodeWith(buf, "ConfState", (r) => {
    const cs = new ConfState();
    readConfStateInto(r, r.end, cs);
    return cs;
  });
}

export function encodeSnapshot(s: Snapshot, profile: Profile = "P37"): Uint8Array {
  return encodeWith(s, profile === "G36", snapshotSize, writeSnapshot, "Snapshot");
}

export function decodeSnapshot(buf: Uint8Array, opts?: DecodeOptions): Snapshot {
  return decodeWith(buf, "Snapshot", (r) => {
    const s = new Snapshot();
    readSnapshotInto(r, r.end, s, opts?.copy === true);
    return s;
  });
}

export function encodeSnapshotMetadata(md: SnapshotMetadata, profile: Profile = "P37"): Uint8Array {
  return encodeWith(md, profile === "G36", metadataSize, writeMetadata, "SnapshotMetadata");
}

export function decodeSnapshotMetadata(buf: Uint8Array): SnapshotMetadata {
  return decodeWith(buf, "SnapshotMetadata", (r) => {
    const md = new SnapshotMetadata();
    readMetadataInto(r, r.end, md);
    return md;
  });
}

export function encodeConfChange(cc: ConfChange, profile: Profile = "P37"): Uint8Array {
  return encodeWith(cc, profile === "G36", confChangeSize, writeConfChange, "ConfChange");
}

export function decodeConfChange(buf: Uint8Array, opts?: DecodeOptions): ConfChange {
  return decodeWith(buf, "ConfChange", (r) => {
    const cc = new ConfChange();
    let present = 0;
    while (r.pos < r.end) {
      const k = r.key("ConfChange");
      const f = k >>> 3;
      const wt = k & 7;
      switch (f) {
        case 1:
          expectWireType(r, wt, WIRE_VARINT, "ConfChange.id");
          cc.id = r.uint64("ConfChange.id");
          break;
        case 2:
          expectWireType(r, wt, WIRE_VARINT, "ConfChange.type");
          cc.type = readEnum(r, "ConfChange.type", 3) as ConfChangeType;
          break;
        case 3:
          expectWireType(r, wt, WIRE_VARINT, "ConfChange.node_id");
          cc.nodeId = r.uint64("ConfChange.node_id");
          break;
        case 4:
          expectWireType(r, wt, WIRE_BYTES, "ConfChange.context");
          cc.context = r.bytes("ConfChange.context", opts?.copy === true);
          break;
        default:
          r.skip(wt, "ConfChange");
          continue;
      }
      present |= bit(f);
    }
    cc.present = present;
    return cc;
  });
}

export function encodeConfChangeV2(cc: ConfChangeV2, profile: Profile = "P37"): Uint8Array {
  return encodeWith(cc, profile === "G36", confChangeV2Size, writeConfChangeV2, "ConfChangeV2");
}

function readSingle(r: Reader, end: number): ConfChangeSingle {
  const c = new ConfChangeSingle();
  while (r.pos < end) {
    const k = r.key("ConfChangeSingle");
    const f = k >>> 3;
    const wt = k & 7;
    if (f === 1) {
      expectWireType(r, wt, WIRE_VARINT, "ConfChangeSingle.type");
      c.type = readEnum(r, "ConfChangeSingle.type", 3) as ConfChangeType;
    } else if (f === 2) {
      expectWireType(r, wt, WIRE_VARINT, "ConfChangeSingle.node_id");
      c.nodeId = r.uint64("ConfChangeSingle.node_id");
    } else {
      r.skip(wt, "ConfChangeSingle");
      continue;
    }
    c.present |= bit(f);
  }
  return c;
}

export function decodeConfChangeV2(buf: Uint8Array, opts?: DecodeOptions): ConfChangeV2 {
  return decodeWith(buf, "ConfChangeV2", (r) => {
    const cc = new ConfChangeV2();
    let present = 0;
    while (r.pos < r.end) {
      const k = r.key("ConfChangeV2");
      const f = k >>> 3;
      const wt = k & 7;
      switch (f) {
        case 1:
          expectWireType(r, wt, WIRE_VARINT, "ConfChangeV2.transition");
          cc.transition = readEnum(r, "ConfChangeV2.transition", 2) as ConfChangeTransition;
          break;
        case 2: {
          expectWireType(r, wt, WIRE_BYTES, "ConfChangeV2.changes");
          const outer = enter(r, "ConfChangeV2.changes");
          cc.changes.push(readSingle(r, r.end));
          r.end = outer;
          break;
        }
        case 3:
          expectWireType(r, wt, WIRE_BYTES, "ConfChangeV2.context");
          cc.context = r.bytes("ConfChangeV2.context", opts?.copy === true);
          break;
        default:
          r.skip(wt, "ConfChangeV2");
          continue;
      }
      present |= bit(f);
    }
    cc.present = present;
    return cc;
  });
}
