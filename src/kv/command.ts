// The commands a tsraft-kv cluster replicates, in a compact binary form that
// travels in raft entries, and the results of applying them.
//
// Layout: op(1) | proposer(varint) | seq(varint) | key(len varint + bytes)
//         | value(len varint + bytes, not for delete) | expected(varint: 0 = none,
//         else mod revision + 1)

import { DecodeError, Reader, varintSize, varintSize64, Writer } from "../raftpb/index.ts";

/** Put and Delete change keys; Publish records a member's name and client URLs. */
export const Op = { Put: 1, Delete: 2, Publish: 3 } as const;
export type Op = (typeof Op)[keyof typeof Op];

export class Command {
  op: Op;
  /** ID of the member that proposed it; only that member answers the client. */
  proposer: bigint;
  /** Proposer-local sequence number identifying the waiting request. */
  seq: number;
  key: Uint8Array;
  value: Uint8Array;
  /** For compare-and-swap: the key's current mod revision must equal this (0 = key absent); -1 = no check. */
  expectedRevision: number;

  constructor(
    op: Op,
    proposer: bigint,
    seq: number,
    key: Uint8Array,
    value: Uint8Array,
    expectedRevision = -1,
  ) {
    this.op = op;
    this.proposer = proposer;
    this.seq = seq;
    this.key = key;
    this.value = value;
    this.expectedRevision = expectedRevision;
  }
}

export function encodeCommand(c: Command): Uint8Array {
  const hasValue = c.op !== Op.Delete;
  const size =
    1 +
    varintSize64(c.proposer) +
    varintSize(c.seq) +
    varintSize(c.key.length) +
    c.key.length +
    (hasValue ? varintSize(c.value.length) + c.value.length : 0) +
    varintSize(c.expectedRevision + 1);
  const w = new Writer(new Uint8Array(size));
  w.byte(c.op);
  w.varint64(c.proposer);
  w.varint(c.seq);
  w.bytes(c.key);
  if (hasValue) w.bytes(c.value);
  w.varint(c.expectedRevision + 1);
  return w.buf;
}

/** Decodes a command; throws DecodeError for bytes that are not one. */
export function decodeCommand(b: Uint8Array): Command {
  const r = new Reader(b);
  if (r.pos >= r.end) throw new DecodeError("Command.op", "empty command", 0);
  const op = r.buf[r.pos++]!;
  if (op !== Op.Put && op !== Op.Delete && op !== Op.Publish) {
    throw new DecodeError("Command.op", `unknown op ${op}`, 0);
  }
  const proposer = r.uint64("Command.proposer");
  const seq = r.uint("Command.seq");
  const key = r.bytes("Command.key", false);
  const value = op !== Op.Delete ? r.bytes("Command.value", false) : new Uint8Array(0);
  const expected = r.uint("Command.expectedRevision") - 1;
  if (r.pos !== r.end) throw new DecodeError("Command", "trailing bytes", r.pos);
  return new Command(op as Op, proposer, seq, key, value, expected);
}

/** What applying a command produced. */
export interface ApplyResult {
  /** The store's revision after the command (unchanged if it failed). */
  revision: number;
  ok: boolean;
  /** For a failed compare-and-swap or a delete of a missing key. */
  error?: "REVISION_MISMATCH" | "KEY_NOT_FOUND";
  /** The key's mod revision before the command (0 if absent). */
  prevRevision: number;
}
