// MemoryStorage semantics: term and entry lookups around the compaction
// point, size-limited reads, compaction, snapshots and appends.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfState,
  discardLogger,
  Entry,
  ErrCompacted,
  ErrSnapOutOfDate,
  ErrUnavailable,
  HardState,
  MemoryStorage,
  RaftPanicError,
  Snapshot,
  SnapshotMetadata,
  setLogger,
} from "../../src/index.ts";
import { isError } from "../../src/raft/errors.ts";
import { entrySize } from "../../src/wire.ts";

// MemoryStorage reports misuse through the process-wide logger; keep the test output quiet.
setLogger(discardLogger);

const ent = (index: number, term: number) => new Entry(term, index);
const ids = (es: readonly Entry[]) => es.map((e) => [e.index, e.term]);
const inf = Number.POSITIVE_INFINITY;

/** Storage compacted at index 3 (term 3) holding entries 4 and 5 (terms 4, 5). */
function storage345(): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot(new Snapshot(new Uint8Array(0), new SnapshotMetadata(new ConfState([1n]), 3, 3)));
  s.append([ent(4, 4), ent(5, 5)]);
  return s;
}

describe("MemoryStorage", () => {
  test("term is known from the compaction point to the last index", () => {
    const s = storage345();
    assert.throws(
      () => s.term(2),
      (e) => isError(e, ErrCompacted),
    );
    assert.equal(s.term(3), 3);
    assert.equal(s.term(4), 4);
    assert.equal(s.term(5), 5);
    assert.throws(
      () => s.term(6),
      (e) => isError(e, ErrUnavailable),
    );
  });

  test("entries returns [lo, hi) limited by size (at least one) and refuses compacted ranges", () => {
    const s = storage345();
    s.append([ent(6, 6)]);
    const size = entrySize(ent(4, 4));
    assert.throws(
      () => s.entries(2, 6, inf),
      (e) => isError(e, ErrCompacted),
    );
    assert.throws(
      () => s.entries(3, 4, inf),
      (e) => isError(e, ErrCompacted),
    );
    assert.deepEqual(ids(s.entries(4, 5, inf)), [[4, 4]]);
    assert.deepEqual(ids(s.entries(4, 7, inf)), [
      [4, 4],
      [5, 5],
      [6, 6],
    ]);
    assert.deepEqual(ids(s.entries(4, 7, 0)), [[4, 4]]);
    assert.deepEqual(ids(s.entries(4, 7, size * 2)), [
      [4, 4],
      [5, 5],
    ]);
    assert.deepEqual(ids(s.entries(4, 7, size * 2 + size / 2)), [
      [4, 4],
      [5, 5],
    ]);
    assert.throws(() => s.entries(4, 8, inf), RaftPanicError);
    // The caller owns the returned array.
    const got = s.entries(4, 6, inf);
    got.pop();
    assert.equal(s.entries(4, 6, inf).length, 2);
  });

  test("an empty storage has firstIndex 1 and lastIndex 0, and no entries to read", () => {
    const s = new MemoryStorage();
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 0);
    assert.equal(s.term(0), 0);
    assert.throws(
      () => s.entries(1, 1, inf),
      (e) => isError(e, ErrUnavailable),
    );
  });

  test("compact moves firstIndex and keeps the term of the compaction point", () => {
    const cases: Array<[number, "compacted" | "panic" | null, number, number]> = [
      [2, "compacted", 4, 3],
      [3, "compacted", 4, 3],
      [4, null, 5, 4],
      [5, null, 6, 5],
      [6, "panic", 4, 3],
    ];
    for (const [i, err, wFirst, wTerm] of cases) {
      const s = storage345();
      if (err === "compacted")
        assert.throws(
          () => s.compact(i),
          (e) => isError(e, ErrCompacted),
        );
      else if (err === "panic") assert.throws(() => s.compact(i), RaftPanicError);
      else s.compact(i);
      assert.equal(s.firstIndex(), wFirst, `compact ${i}`);
      assert.equal(s.term(wFirst - 1), wTerm);
      assert.equal(s.lastIndex(), 5);
    }
  });

  test("createSnapshot records index, term, configuration and data; an older index is out of date", () => {
    const s = storage345();
    const cs = new ConfState([1n, 2n, 3n]);
    const data = new Uint8Array([1, 2, 3]);
    const snap = s.createSnapshot(4, cs, data);
    assert.deepEqual([snap.metadata.index, snap.metadata.term], [4, 4]);
    assert.deepEqual(snap.metadata.confState.voters, [1n, 2n, 3n]);
    assert.deepEqual([...snap.data], [1, 2, 3]);
    assert.equal(s.snapshot().metadata.index, 4);
    // The stored snapshot does not alias the caller's ConfState.
    cs.voters.push(9n);
    assert.deepEqual(s.snapshot().metadata.confState.voters, [1n, 2n, 3n]);
    assert.throws(
      () => s.createSnapshot(3, null, data),
      (e) => isError(e, ErrSnapOutOfDate),
    );
    assert.throws(
      () => s.createSnapshot(4, null, data),
      (e) => isError(e, ErrSnapOutOfDate),
    );
    const next = s.createSnapshot(5, null, data);
    assert.deepEqual(next.metadata.confState.voters, [1n, 2n, 3n]);
    assert.throws(() => s.createSnapshot(9, null, data), RaftPanicError);
  });

  test("append overwrites a conflicting suffix, ignores already compacted entries and refuses gaps", () => {
    const cases: Array<[string, Entry[], Array<[number, number]> | "panic"]> = [
      [
        "same entries",
        [ent(3, 3), ent(4, 4), ent(5, 5)],
        [
          [4, 4],
          [5, 5],
        ],
      ],
      [
        "conflict at 4 truncates",
        [ent(3, 3), ent(4, 6), ent(5, 6)],
        [
          [4, 6],
          [5, 6],
        ],
      ],
      [
        "extend",
        [ent(3, 3), ent(4, 4), ent(5, 5), ent(6, 5)],
        [
          [4, 4],
          [5, 5],
          [6, 5],
        ],
      ],
      ["compacted prefix is skipped", [ent(2, 3), ent(3, 3), ent(4, 5)], [[4, 5]]],
      [
        "truncate at 5",
        [ent(5, 5)],
        [
          [4, 4],
          [5, 5],
        ],
      ],
      [
        "append after last",
        [ent(6, 5)],
        [
          [4, 4],
          [5, 5],
          [6, 5],
        ],
      ],
      [
        "entirely compacted",
        [ent(1, 1), ent(2, 2)],
        [
          [4, 4],
          [5, 5],
        ],
      ],
      ["gap", [ent(7, 5)], "panic"],
    ];
    for (const [name, es, want] of cases) {
      const s = storage345();
      if (want === "panic") {
        assert.throws(() => s.append(es), RaftPanicError, name);
        continue;
      }
      s.append(es);
      assert.deepEqual(ids(s.entries(4, s.lastIndex() + 1, inf)), want, name);
    }
  });

  test("entries handed out earlier are not mutated by a later truncating append", () => {
    const s = storage345();
    const before = s.entries(4, 6, inf);
    s.append([ent(5, 9)]);
    assert.deepEqual(ids(before), [
      [4, 4],
      [5, 5],
    ]);
    assert.equal(s.term(5), 9);
  });

  test("applySnapshot replaces the contents; an older or equal snapshot is out of date", () => {
    const s = new MemoryStorage();
    const snap = (i: number, t: number) =>
      new Snapshot(new Uint8Array([i]), new SnapshotMetadata(new ConfState([1n, 2n]), i, t));
    s.applySnapshot(snap(4, 4));
    assert.deepEqual([s.firstIndex(), s.lastIndex(), s.term(4)], [5, 4, 4]);
    assert.throws(
      () => s.applySnapshot(snap(3, 3)),
      (e) => isError(e, ErrSnapOutOfDate),
    );
    assert.throws(
      () => s.applySnapshot(snap(4, 4)),
      (e) => isError(e, ErrSnapOutOfDate),
    );
    s.append([ent(5, 4), ent(6, 4)]);
    s.applySnapshot(snap(10, 5));
    assert.deepEqual([s.firstIndex(), s.lastIndex()], [11, 10]);
    assert.deepEqual([...s.snapshot().data], [10]);
  });

  test("initialState returns the HardState set and the snapshot's ConfState", () => {
    const s = storage345();
    s.setHardState(new HardState(5, 2n, 4));
    const { hardState, confState } = s.initialState();
    assert.deepEqual([hardState.term, hardState.vote, hardState.commit], [5, 2n, 4]);
    assert.deepEqual(confState.voters, [1n]);
  });
});
