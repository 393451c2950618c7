// Generators of valid raftpb values (the seeds that mutation starts from).

import fc from "fast-check";
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
} from "../src/index.ts";

/** Terms, indexes and other counters: safe non-negative integers (numbers). */
export const u64 = fc.oneof(fc.nat(300), fc.maxSafeNat());

/**
 * Values where an ID's varint changes length or a number stops being exact:
 * 2^7k - 1 and 2^7k for every byte count, 2^53 - 1 and 2^53 (the end of exact
 * numbers), 2^56 - 1 and 2^56 (the largest 8-byte varint), 2^63 - 1 and 2^63
 * (the tenth byte), and 2^64 - 1.
 */
export const ID_BOUNDARIES: readonly bigint[] = [
  0n,
  1n,
  ...Array.from({ length: 9 }, (_, k) => [
    (1n << BigInt(7 * (k + 1))) - 1n,
    1n << BigInt(7 * (k + 1)),
  ]).flat(),
  (1n << 53n) - 1n,
  1n << 53n,
  (1n << 64n) - 1n,
];

/**
 * Node, member and cluster IDs: unsigned 64-bit bigints over the whole range.
 * Small IDs (what tests use), the boundaries above, uniform 64-bit values, and
 * values >= 2^63 (half of etcd's hash-derived member IDs, and the only ones
 * that need a 10-byte varint).
 */
export const id64: fc.Arbitrary<bigint> = fc.oneof(
  fc.bigInt({ min: 0n, max: 300n }),
  fc.constantFrom(...ID_BOUNDARIES),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.bigInt({ min: 1n << 63n, max: (1n << 64n) - 1n }),
);

const bytes = fc.uint8Array({ maxLength: 40 });
const ids = fc.array(id64, { maxLength: 5 });

export const entry = fc
  .record({ term: u64, index: u64, type: fc.integer({ min: 0, max: 2 }), data: bytes })
  .map((r) => new Entry(r.term, r.index, r.type as EntryType, r.data));

export const confState = fc
  .record({ v: ids, l: ids, vo: ids, ln: ids, auto: fc.boolean() })
  .map((r) => new ConfState(r.v, r.l, r.vo, r.ln, r.auto));

export const snapshotMetadata = fc
  .record({ cs: confState, index: u64, term: u64 })
  .map((r) => new SnapshotMetadata(r.cs, r.index, r.term));

export const snapshot = fc
  .record({ data: bytes, md: snapshotMetadata })
  .map((r) => new Snapshot(r.data, r.md));

export const hardState = fc.record({ t: u64, v: id64, c: u64 }).map((r) => new HardState(r.t, r.v, r.c));

const baseMessage = fc.record({
  type: fc.integer({ min: 0, max: 23 }),
  to: id64,
  from: id64,
  term: u64,
  logTerm: u64,
  index: u64,
  entries: fc.array(entry, { maxLength: 4 }),
  commit: u64,
  vote: id64,
  snapshot: fc.option(snapshot, { nil: null }),
  reject: fc.boolean(),
  rejectHint: u64,
  context: bytes,
});

export const message = fc
  .record({ base: baseMessage, responses: fc.array(baseMessage, { maxLength: 2 }) })
  .map(({ base, responses }) => {
    const m = Message.create({ ...base, type: base.type as MessageType });
    m.responses = responses.map((r) => Message.create({ ...r, type: r.type as MessageType }));
    return m;
  });

export const confChange = fc
  .record({ id: id64, type: fc.integer({ min: 0, max: 3 }), node: id64, ctx: bytes })
  .map((r) => new ConfChange(r.type as ConfChangeType, r.node, r.ctx, r.id));

export const confChangeSingle = fc
  .record({ type: fc.integer({ min: 0, max: 3 }), node: id64 })
  .map((r) => new ConfChangeSingle(r.type as ConfChangeType, r.node));

export const confChangeV2 = fc
  .record({
    changes: fc.array(confChangeSingle, { maxLength: 5 }),
    tr: fc.integer({ min: 0, max: 2 }),
    ctx: bytes,
  })
  .map((r) => new ConfChangeV2(r.changes, r.tr as ConfChangeTransition, r.ctx));
