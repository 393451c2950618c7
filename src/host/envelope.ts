// What the host writes into a normal raft entry, around the user's command.
//
//   kind (1 byte) | proposer (varint, 64-bit member ID) | request ID (8 bytes, little-endian) | body
//
// A proposal is answered by the member that proposed it, when it applies the
// entry carrying its own (proposer, request ID). The request ID must
// therefore never repeat on one member, across restarts too: otherwise an
// entry proposed by the member's previous incarnation (still in flight when
// it crashed, committed later) would answer a new request with another
// request's result. That happened with per-process counters starting at 0.
// See RequestIds for how the IDs are drawn.
//
// Why an applied entry answers only the request that proposed it:
//   - Every member applies every entry, but only the proposer holds a waiter
//     for it: the host looks an entry up in its waiters only when `proposer`
//     is its own member ID, so a request ID that happens to equal one of
//     another member's never crosses over.
//   - The waiter is removed when it is answered (or times out), so an entry
//     answers at most one request, and a request is answered by at most one
//     entry, with the result apply() returned for that very entry.
//   - Raft never duplicates a proposal by itself; an entry with this
//     member's ID that no waiter claims (proposed by an earlier incarnation,
//     or after its request timed out) is applied and answers nobody.
// The envelope is decoded identically by every member: an entry that is not
// one (DecodeError) is skipped by all of them alike, so the state machines
// stay identical.

import { DecodeError, Reader, varintSize64, Writer } from "../raftpb/index.ts";

export const EntryKind = {
  /** A command for the user's state machine. */
  Command: 1,
  /** A member publishing its name and client URLs (host-internal, like etcd's attribute update). */
  Attributes: 2,
} as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

/** A decoded entry envelope; `body` aliases the entry's data. */
export interface Envelope {
  kind: EntryKind;
  proposer: bigint;
  requestId: bigint;
  body: Uint8Array;
}

export function encodeEnvelope(
  kind: EntryKind,
  proposer: bigint,
  requestId: bigint,
  body: Uint8Array,
): Uint8Array {
  const n = 1 + varintSize64(proposer) + 8 + body.length;
  const buf = new Uint8Array(n);
  const w = new Writer(buf);
  w.byte(kind);
  w.varint64(proposer);
  new DataView(buf.buffer, buf.byteOffset + w.pos, 8).setBigUint64(0, requestId, true);
  buf.set(body, w.pos + 8);
  return buf;
}

/** Decodes an envelope; DecodeError for bytes that are not one (every member skips such an entry alike). */
export function decodeEnvelope(data: Uint8Array): Envelope {
  const r = new Reader(data);
  if (data.length === 0) throw new DecodeError("Envelope.kind", "empty entry", 0);
  const kind = data[r.pos++]!;
  if (kind !== EntryKind.Command && kind !== EntryKind.Attributes) {
    throw new DecodeError("Envelope.kind", `unknown entry kind ${kind}`, 0);
  }
  const proposer = r.uint64("Envelope.proposer");
  if (r.end - r.pos < 8) throw new DecodeError("Envelope.requestId", "unexpected end of input", r.pos);
  const requestId = new DataView(data.buffer, data.byteOffset + r.pos, 8).getBigUint64(0, true);
  return { kind: kind as EntryKind, proposer, requestId, body: data.subarray(r.pos + 8) };
}
