// The commands a tsraft-kv cluster replicates, in a compact binary form that
// travels in raft entries (inside the host's envelope, which carries the
// request tracking), and the results of applying them.
//
// Layout: op(1) | key(len varint + bytes) | value(len varint + bytes, not for
//         delete) | expected(varint: 0 = none, else mod revision + 1)

import { DecodeError, Reader, varintSize, Writer } from "../raftpb/index.ts";

/** Put and Delete change keys. */
export const Op = { Put: 1, Delete: 2 } as const;
export type Op = (typeof Op)[keyof typeof Op];

export class Command {
  op: Op;
  key: Uint8Array;
  value: Uint8Array;
  /** For compare-and-swap: the key's current mod revision must equal this (0 = key absent); -1 = no check. */
  expectedRevision: number;

  constructor(op: Op, key: Uint8Array, value: Uint8Array, expectedRevision = -1) {
    this.op = op;
    this.key = key;
    this.value = value;
    this.expectedRevision = expectedRevision;
  }
}

export function encodeCommand(c: Command): Uint8Array {
  const hasValue = c.op !== Op.Delete;
  const size =
    1 +
    varintSize(c.key.length) +
    c.key.length +
    (hasValue ? varintSize(c.value.length) + c.value.length : 0) +
    varintSize(c.expectedRevision + 1);
  const w = new Writer(new Uint8Array(size));
  w.byte(c.op);
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
  if (op !== Op.Put && op !== Op.Delete) throw new DecodeError("Command.op", `unknown op ${op}`, 0);
  const key = r.bytes("Command.key", false);
  const value = op !== Op.Delete ? r.bytes("Command.value", false) : new Uint8Array(0);
  const expected = r.uint("Command.expectedRevision") - 1;
  if (r.pos !== r.end) throw new DecodeError("Command", "trailing bytes", r.pos);
  return new Command(op as Op, key, value, expected);
}

/** What applying a command produced. */
export interface ApplyResult {
  /** The store's revision after the command (unchanged if it failed). */
  revision: number;
  ok: boolean;
  /** For a failed compare-and-swap or a delete of a missing key; BAD_COMMAND for bytes that are not a command. */
  error?: "REVISION_MISMATCH" | "KEY_NOT_FOUND" | "BAD_COMMAND";
  /** The key's mod revision before the command (0 if absent). */
  prevRevision: number;
}
