// The application each simulated node runs on top of raft: a tiny key-value
// register file plus a running hash of every entry applied. Snapshots carry
// the whole state, so a node restored from one must hash identically to a
// node that applied the same prefix entry by entry.

import { ConfState, type Entry } from "../src/index.ts";

export const FNV_OFFSET = 0x811c9dc5;

export function mixInt(h: number, x: number): number {
  // Mix both 32-bit halves of a safe integer.
  const lo = x >>> 0;
  const hi = Math.floor(x / 0x100000000) >>> 0;
  h = Math.imul(h ^ lo, 0x01000193);
  h = Math.imul(h ^ hi, 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}

export function hashBytes(h: number, b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

/** Identity of an entry's content (type and payload), independent of its position. */
export function contentHash(e: Entry): number {
  return hashBytes(mixInt(FNV_OFFSET, e.type), e.data);
}

/** The state hash after applying `e` on top of state hash `h`. */
export function chainHash(h: number, e: Entry, content: number): number {
  return mixInt(mixInt(mixInt(h, e.index), e.term), content);
}

// Proposal payloads: [kind, key, id (4 bytes big-endian)].
export const KIND_WRITE = 1;
export const KIND_MARKER = 2;

export function encodeOp(kind: number, key: number, id: number): Uint8Array {
  const b = new Uint8Array(6);
  b[0] = kind;
  b[1] = key;
  b[2] = (id >>> 24) & 0xff;
  b[3] = (id >>> 16) & 0xff;
  b[4] = (id >>> 8) & 0xff;
  b[5] = id & 0xff;
  return b;
}

export interface Op {
  kind: number;
  key: number;
  id: number;
}

export function decodeOp(b: Uint8Array): Op | null {
  if (b.length !== 6 || (b[0] !== KIND_WRITE && b[0] !== KIND_MARKER)) return null;
  return { kind: b[0]!, key: b[1]!, id: ((b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!) >>> 0 };
}

export function describeOp(b: Uint8Array): string {
  const op = decodeOp(b);
  if (op === null) return b.length === 0 ? "empty" : `${b.length}B`;
  return op.kind === KIND_WRITE ? `w${op.id}:k${op.key}` : `m${op.id}`;
}

export function membersOf(cs: ConfState): Set<bigint> {
  return new Set([...cs.voters, ...cs.learners, ...cs.votersOutgoing, ...cs.learnersNext]);
}

export class StateMachine {
  applied: number;
  hash: number;
  kv = new Map<number, number>();
  confState: ConfState;
  /** Node IDs this state machine has seen leave the configuration (IDs are never reused). */
  removed = new Set<bigint>();

  constructor(applied = 0, hash = FNV_OFFSET, confState: ConfState = new ConfState()) {
    this.applied = applied;
    this.hash = hash;
    this.confState = confState;
  }

  /** Records a new configuration; members that left it are remembered as removed. */
  setConfState(cs: ConfState): void {
    const before = membersOf(this.confState);
    const after = membersOf(cs);
    for (const id of before) if (!after.has(id)) this.removed.add(id);
    this.confState = cs;
  }

  /**
   * The state as JSON. Node IDs are written as JSON numbers: the simulator's
   * IDs are small (it counts up from 1), so this is exact, and it keeps the
   * snapshot bytes (and so every seed's run) what they were when IDs were
   * numbers in the core.
   */
  encode(): Uint8Array {
    const cs = this.confState;
    const ids = (xs: Iterable<bigint>) => Array.from(xs, Number);
    const doc = {
      a: this.applied,
      h: this.hash,
      kv: [...this.kv.entries()],
      cs: [ids(cs.voters), ids(cs.learners), ids(cs.votersOutgoing), ids(cs.learnersNext), cs.autoLeave],
      rm: ids(this.removed),
    };
    return new TextEncoder().encode(JSON.stringify(doc));
  }

  static decode(data: Uint8Array): StateMachine {
    const doc = JSON.parse(new TextDecoder().decode(data)) as {
      a: number;
      h: number;
      kv: [number, number][];
      cs: [number[], number[], number[], number[], boolean];
      rm: number[];
    };
    const [v, l, vo, ln, auto] = doc.cs;
    const ids = (xs: number[]) => xs.map(BigInt);
    const sm = new StateMachine(doc.a, doc.h, new ConfState(ids(v), ids(l), ids(vo), ids(ln), auto));
    for (const [k, val] of doc.kv) sm.kv.set(k, val);
    for (const id of doc.rm) sm.removed.add(BigInt(id));
    return sm;
  }
}
