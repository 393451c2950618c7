// CompactMemoryStorage must be indistinguishable from MemoryStorage: random
// sequences of appends (with conflicts), compactions, snapshots and reads give
// the same answers and the same errors, with a hot tail small enough that most
// entries live in the packed cold store.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  CompactMemoryStorage,
  ConfState,
  DefaultLogger,
  Entry,
  type EntryType,
  LogLevel,
  MemoryStorage,
  RaftPanicError,
  Snapshot,
  SnapshotMetadata,
  type Storage,
  setLogger,
} from "../../src/index.ts";

setLogger(new DefaultLogger(LogLevel.None));

type Op =
  | { k: "append"; back: number; n: number; term: number; size: number; type: number; present: number }
  | { k: "compact"; back: number }
  | { k: "snapshot"; back: number }
  | { k: "apply"; ahead: number }
  | { k: "read"; lo: number; span: number; max: number }
  | { k: "term"; i: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    k: fc.constant("append" as const),
    back: fc.nat(12),
    n: fc.integer({ min: 0, max: 40 }),
    term: fc.integer({ min: 1, max: 5 }),
    size: fc.nat(20),
    type: fc.integer({ min: 0, max: 2 }),
    present: fc.constantFrom(0, 2, 16, 30),
  }),
  fc.record({ k: fc.constant("compact" as const), back: fc.nat(60) }),
  fc.record({ k: fc.constant("snapshot" as const), back: fc.nat(60) }),
  fc.record({ k: fc.constant("apply" as const), ahead: fc.integer({ min: -3, max: 30 }) }),
  fc.record({
    k: fc.constant("read" as const),
    lo: fc.nat(80),
    span: fc.nat(40),
    max: fc.oneof(fc.constant(Infinity), fc.nat(300)),
  }),
  fc.record({ k: fc.constant("term" as const), i: fc.nat(90) }),
);

/** The outcome of a call: its value, or the error it threw (by identity or class). */
function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() };
  } catch (err) {
    return { err: err instanceof RaftPanicError ? "panic" : err };
  }
}

let seq = 0;

function run(s: MemoryStorage | CompactMemoryStorage, o: Op): unknown {
  const last = s.lastIndex();
  switch (o.k) {
    case "append": {
      const start = Math.max(1, last + 1 - o.back);
      const ents: Entry[] = [];
      for (let j = 0; j < o.n; j++) {
        const data = new Uint8Array(o.size).fill((start + j + seq) & 0xff);
        const e = new Entry(o.term, start + j, o.type as EntryType, data);
        e.present = o.present;
        ents.push(e);
      }
      return outcome(() => s.append(ents));
    }
    case "compact":
      return outcome(() => s.compact(last - o.back));
    case "snapshot":
      // Below the compaction point is outside the contract (MemoryStorage fails untyped there).
      if (last - o.back < s.firstIndex() - 1) return "skipped";
      return outcome(() => s.createSnapshot(last - o.back, null, new Uint8Array([1])));
    case "apply":
      return outcome(() =>
        s.applySnapshot(
          new Snapshot(new Uint8Array(), new SnapshotMetadata(new ConfState([1n]), last + o.ahead, 7)),
        ),
      );
    case "read":
      // (lo > hi is outside the contract: raft never asks for it.)
      return outcome(() => s.entries(o.lo, o.lo + o.span, o.max));
    case "term":
      return outcome(() => s.term(o.i));
  }
}

function state(s: Storage): unknown {
  const first = s.firstIndex();
  const last = s.lastIndex();
  return {
    first,
    last,
    all: outcome(() => (last >= first ? s.entries(first, last + 1, Infinity) : [])),
    terms: outcome(() => Array.from({ length: last - first + 2 }, (_, i) => s.term(first - 1 + i))),
    snap: s.snapshot(),
  };
}

test("CompactMemoryStorage behaves exactly like MemoryStorage", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 8 }), (ops, hot) => {
      const a = new MemoryStorage();
      const b = new CompactMemoryStorage({ hotEntries: hot });
      for (const o of ops) {
        seq++;
        assert.deepStrictEqual(run(b, o), run(a, o), `op ${JSON.stringify(o)}`);
        assert.deepStrictEqual(state(b), state(a));
      }
    }),
    { numRuns: 300 },
  );
});

test("bytes handed out by CompactMemoryStorage never change", () => {
  const s = new CompactMemoryStorage({ hotEntries: 2 });
  const mk = (i: number, t: number) => new Entry(t, i, 0, new Uint8Array(8).fill(i * t));
  for (let i = 1; i <= 50; i++) s.append([mk(i, 1)]);
  const seen = s.entries(1, 51, Infinity);
  const copies = seen.map((e) => e.data.slice());
  // Overwrite a suffix that lives in the cold store, append more, compact.
  for (let i = 20; i <= 80; i++) s.append([mk(i, 2)]);
  s.compact(60);
  for (let i = 81; i <= 200; i++) s.append([mk(i, 2)]);
  for (const [i, e] of seen.entries()) assert.deepStrictEqual(e.data, copies[i]);
  assert.deepStrictEqual(s.entries(61, 62, Infinity)[0]!.data, new Uint8Array(8).fill(122 & 0xff));
});

test("a long log with periodic compaction: same contents as MemoryStorage", () => {
  const a = new MemoryStorage();
  const b = new CompactMemoryStorage({ hotEntries: 16 });
  for (let i = 1; i <= 30_000; i += 10) {
    const ents: Entry[] = [];
    for (let j = 0; j < 10; j++)
      ents.push(new Entry(1 + (i >> 12), i + j, 0, new Uint8Array((i + j) % 7).fill(j)));
    a.append(ents);
    b.append(ents);
    if (i % 2000 === 1 && i > 5000) {
      a.compact(i - 3000);
      b.compact(i - 3000);
    }
  }
  assert.deepStrictEqual(state(b), state(a));
  assert.deepStrictEqual(b.entries(28_000, 28_100, 500), a.entries(28_000, 28_100, 500));
});
