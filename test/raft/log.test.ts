// The raft log (stable storage + unstable tail): conflict detection, append
// rules, term lookups across compaction, slicing with size limits, and the
// hand-out of committed entries.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfState,
  discardLogger,
  Entry,
  ErrCompacted,
  ErrUnavailable,
  MemoryStorage,
  RaftPanicError,
  Snapshot,
  SnapshotMetadata,
} from "../../src/index.ts";
import { RaftLog } from "../../src/internal.ts";
import { isError } from "../../src/raft/errors.ts";
import { entrySize } from "../../src/wire.ts";

const ent = (index: number, term: number) => new Entry(term, index);
const ents = (from: number, ...terms: number[]) => terms.map((t, i) => ent(from + i, t));
const ids = (es: readonly Entry[]) => es.map((e) => [e.index, e.term]);

function logWith(storageEnts: Entry[], unstable: Entry[] = [], maxApply = Number.POSITIVE_INFINITY): RaftLog {
  const s = new MemoryStorage();
  s.append(storageEnts);
  const l = new RaftLog(s, discardLogger, maxApply);
  if (unstable.length > 0) l.append(unstable);
  return l;
}

/** A log whose storage was compacted to `offset` (term `offsetTerm`) and then holds entries up to `last`. */
function compactedLog(offset: number, last: number): { log: RaftLog; storage: MemoryStorage } {
  const s = new MemoryStorage();
  s.applySnapshot(new Snapshot(new Uint8Array(0), new SnapshotMetadata(new ConfState([1n]), offset, offset)));
  const l = new RaftLog(s, discardLogger);
  for (let i = offset + 1; i <= last; i++) l.append([ent(i, i)]);
  return { log: l, storage: s };
}

describe("RaftLog conflicts", () => {
  const previous = ents(1, 1, 2, 3);
  const cases: Array<[Entry[], number]> = [
    [[], 0],
    [ents(1, 1, 2, 3), 0],
    [ents(2, 2, 3), 0],
    [ents(3, 3), 0],
    [ents(1, 1, 2, 3, 4, 4), 4],
    [ents(2, 2, 3, 4, 4), 4],
    [ents(3, 3, 4, 4), 4],
    [ents(4, 4, 4), 4],
    [ents(1, 4, 4), 1],
    [ents(2, 1, 4, 4), 2],
    [ents(3, 1, 2, 4, 4), 3],
  ];
  for (const [es, want] of cases) {
    test(`findConflict returns the first new or conflicting index (0 if none): ${JSON.stringify(ids(es))} -> ${want}`, () => {
      assert.equal(logWith([], previous).findConflict(es), want);
    });
  }

  test("findConflictByTerm returns the last index <= i whose term is <= t, or an unknown term below the compaction point", () => {
    // Log terms by index: 1:1 2:2 3:2 4:4 5:4 6:4 7:4.
    const l = logWith(ents(1, 1, 2, 2, 4, 4, 4, 4));
    const cases: Array<[number, number, number, number]> = [
      [7, 5, 7, 4],
      [7, 4, 7, 4],
      [7, 3, 3, 2],
      [7, 2, 3, 2],
      [7, 1, 1, 1],
      [7, 0, 0, 0],
      [3, 2, 3, 2],
      [0, 9, 0, 0],
    ];
    for (const [i, t, wi, wt] of cases)
      assert.deepEqual(l.findConflictByTerm(i, t), { index: wi, term: wt }, `(${i},${t})`);
    const { log } = compactedLog(5, 10);
    // Index 5's term (5) is known through the snapshot; below it nothing is.
    assert.deepEqual(log.findConflictByTerm(10, 5), { index: 5, term: 5 });
    assert.deepEqual(log.findConflictByTerm(10, 4), { index: 4, term: 0 });
  });
});

describe("RaftLog append", () => {
  const previous = ents(1, 1, 2);
  // prevIndex, prevTerm, committed, entries -> last new index (undefined: no match), commit, or panic
  const cases: Array<[string, number, number, number, Entry[], number | undefined, number, boolean]> = [
    ["mismatching previous term", 2, 3, 2, ents(3, 4), undefined, 1, false],
    ["previous index beyond the log", 3, 2, 2, ents(4, 4), undefined, 1, false],
    ["match, nothing new", 2, 2, 2, [], 2, 2, false],
    ["match, commit capped at last new", 2, 2, 3, [], 2, 2, false],
    ["match, commit below ours is ignored", 2, 2, 0, [], 2, 1, false],
    ["new entries appended", 2, 2, 3, ents(3, 2), 3, 3, false],
    ["commit capped at the last new entry", 2, 2, 4, ents(3, 2), 3, 3, false],
    ["two new entries", 2, 2, 4, ents(3, 2, 2), 4, 4, false],
    ["overlap, no conflict", 1, 1, 2, ents(2, 2), 2, 2, false],
    ["conflict above commit is replaced", 1, 1, 2, ents(2, 3, 3), 3, 2, false],
    ["conflict with a committed entry panics", 0, 0, 2, ents(1, 4, 4), undefined, 1, true],
  ];
  for (const [name, prevIndex, prevTerm, committed, es, wLast, wCommit, panics] of cases) {
    test(`maybeAppend appends after a matching entry, never rewrites committed entries: ${name}`, () => {
      const l = logWith([], previous);
      l.committed = 1;
      if (panics) {
        assert.throws(() => l.maybeAppend(prevIndex, prevTerm, es, committed), RaftPanicError);
        return;
      }
      assert.equal(l.maybeAppend(prevIndex, prevTerm, es, committed), wLast);
      assert.equal(l.committed, wCommit);
      if (wLast !== undefined && es.length > 0) {
        assert.deepEqual(ids(l.slice(es[0]!.index, wLast + 1, Number.POSITIVE_INFINITY)), ids(es));
      }
    });
  }

  test("append keeps the stable prefix, truncates the unstable tail and panics below the commit index", () => {
    const l = logWith(ents(1, 1, 2));
    assert.equal(l.append(ents(3, 2)), 3);
    assert.equal(l.append(ents(2, 3)), 2);
    assert.deepEqual(ids(l.allEntries()), [
      [1, 1],
      [2, 3],
    ]);
    assert.deepEqual(ids(l.nextUnstableEnts()), [[2, 3]]);
    l.commitTo(2);
    assert.throws(() => l.append(ents(2, 4)), RaftPanicError);
  });

  test("commitTo never decreases the commit index and refuses indexes past the last entry", () => {
    const l = logWith(ents(1, 1, 2, 3));
    l.commitTo(2);
    l.commitTo(1);
    assert.equal(l.committed, 2);
    assert.throws(() => l.commitTo(4), RaftPanicError);
  });

  test("isUpToDate compares last terms first, then lengths (§5.4.1)", () => {
    const l = logWith(ents(1, 1, 2, 3));
    const cases: Array<[number, number, boolean]> = [
      [2, 4, true],
      [3, 4, true],
      [4, 4, true],
      [2, 2, false],
      [3, 2, false],
      [4, 2, false],
      [2, 3, false],
      [3, 3, true],
      [4, 3, true],
    ];
    for (const [index, term, want] of cases)
      assert.equal(l.isUpToDate(index, term), want, `(${index},${term})`);
  });
});

describe("RaftLog terms and slices", () => {
  test("term lookups work across storage, unstable entries and the compaction point", () => {
    const { log, storage } = compactedLog(100, 150);
    storage.append(log.nextUnstableEnts());
    log.stableTo(150, 150);
    log.append([ent(151, 151)]);
    assert.equal(log.term(100), 100);
    assert.equal(log.term(120), 120);
    assert.equal(log.term(151), 151);
    assert.throws(
      () => log.term(99),
      (e) => isError(e, ErrCompacted),
    );
    assert.throws(
      () => log.term(152),
      (e) => isError(e, ErrUnavailable),
    );
    assert.equal(log.zeroTermOnOutOfBounds(99), 0);
    assert.equal(log.zeroTermOnOutOfBounds(152), 0);
    assert.equal(log.matchTerm(151, 151), true);
    assert.equal(log.firstIndex(), 101);
    assert.equal(log.lastIndex(), 151);
  });

  test("slice joins storage and unstable entries, honours the size limit (at least one entry) and refuses compacted ranges", () => {
    const offset = 100;
    const s = new MemoryStorage();
    s.applySnapshot(
      new Snapshot(new Uint8Array(0), new SnapshotMetadata(new ConfState([1n]), offset, offset)),
    );
    s.append(ents(offset + 1, ...Array.from({ length: 49 }, (_, i) => offset + 1 + i)));
    const l = new RaftLog(s, discardLogger);
    l.append(ents(150, ...Array.from({ length: 50 }, (_, i) => 150 + i)));
    const size = entrySize(ent(150, 150));
    const inf = Number.POSITIVE_INFINITY;
    assert.deepEqual(
      l.slice(148, 152, inf).map((e) => e.index),
      [148, 149, 150, 151],
    );
    assert.deepEqual(
      l.slice(151, 153, inf).map((e) => e.index),
      [151, 152],
    );
    assert.deepEqual(
      l.slice(148, 152, 0).map((e) => e.index),
      [148],
    );
    assert.deepEqual(
      l.slice(148, 152, size * 2).map((e) => e.index),
      [148, 149],
    );
    // Half an entry of room after the stable part: the unstable entry is left out.
    assert.deepEqual(
      l.slice(149, 152, size + size / 2).map((e) => e.index),
      [149],
    );
    assert.deepEqual(
      l.slice(149, 152, size * 2).map((e) => e.index),
      [149, 150],
    );
    assert.deepEqual(l.slice(120, 120, inf), []);
    assert.throws(
      () => l.slice(offset, 105, inf),
      (e) => isError(e, ErrCompacted),
    );
    assert.throws(() => l.slice(150, 201, inf), RaftPanicError);
    assert.throws(() => l.slice(152, 151, inf), RaftPanicError);
    assert.deepEqual(l.entries(200, inf), []);
  });

  test("restoring a snapshot resets the log to the snapshot's index", () => {
    const l = logWith(ents(1, 1, 2, 3));
    l.restore(new Snapshot(new Uint8Array(0), new SnapshotMetadata(new ConfState([1n]), 10, 4)));
    assert.equal(l.committed, 10);
    assert.equal(l.lastIndex(), 10);
    assert.equal(l.firstIndex(), 11);
    assert.equal(l.term(10), 4);
    assert.equal(l.hasNextOrInProgressSnapshot(), true);
    assert.deepEqual(l.nextCommittedEnts(true), []);
  });

  test("stableTo drops persisted unstable entries only if the term still matches", () => {
    const l = logWith([], ents(1, 1, 1, 2));
    l.stableTo(2, 2); // (2,2) is not in the log: ignored
    assert.equal(l.unstable.offset, 1);
    l.stableTo(2, 1);
    assert.equal(l.unstable.offset, 3);
    assert.deepEqual(ids(l.unstable.entries), [[3, 2]]);
  });
});

describe("RaftLog committed entries", () => {
  /** Storage holds 1..4, unstable 5..6; committed 5, applied 3, applying 3. */
  function setup(maxApply = Number.POSITIVE_INFINITY): RaftLog {
    const l = logWith(ents(1, 1, 1, 1, 1), ents(5, 1, 1), maxApply);
    l.committed = 5;
    l.appliedTo(3, 0);
    return l;
  }
  const cases: Array<[string, number, boolean, boolean, boolean, number[]]> = [
    // name, applying, allowUnstable, paused, snapshot, want
    ["from applied+1 to the commit index", 3, true, false, false, [4, 5]],
    ["stable entries only", 3, false, false, false, [4]],
    ["after what is being applied", 4, true, false, false, [5]],
    ["nothing past applying", 5, true, false, false, []],
    ["paused by the apply budget", 3, true, true, false, []],
    ["a pending snapshot comes first", 3, true, false, true, []],
  ];
  for (const [name, applying, allowUnstable, paused, snapshot, want] of cases) {
    test(`nextCommittedEnts and hasNextCommittedEnts agree: ${name}`, () => {
      const l = setup();
      if (applying > 3) l.acceptApplying(applying, 0, allowUnstable);
      l.applyingEntsPaused = paused;
      if (snapshot)
        l.unstable.snapshot = new Snapshot(
          new Uint8Array(0),
          new SnapshotMetadata(new ConfState([1n]), 4, 1),
        );
      assert.deepEqual(
        l.nextCommittedEnts(allowUnstable).map((e) => e.index),
        want,
      );
      assert.equal(l.hasNextCommittedEnts(allowUnstable), want.length > 0);
    });
  }

  test("the apply budget pauses hand-out when used up or when it cut a batch short, and applying frees it", () => {
    const size = entrySize(ent(4, 1));
    const l = setup(size * 2);
    const first = l.nextCommittedEnts(true);
    assert.deepEqual(
      first.map((e) => e.index),
      [4, 5],
    );
    l.acceptApplying(5, size * 2, true);
    assert.equal(l.applyingEntsPaused, true);
    assert.deepEqual(l.nextCommittedEnts(true), []);
    l.appliedTo(4, size);
    assert.equal(l.applyingEntsPaused, false);
    l.committed = 6;
    assert.deepEqual(
      l.nextCommittedEnts(true).map((e) => e.index),
      [6],
    );
    // A batch cut short by the limit pauses too, even with budget left.
    const m = setup(size * 3);
    m.acceptApplying(4, size, true);
    assert.equal(m.applyingEntsPaused, true);
  });

  test("appliedTo refuses indexes beyond the commit index or below the applied index", () => {
    const l = setup();
    assert.throws(() => l.appliedTo(6, 0), RaftPanicError);
    assert.throws(() => l.appliedTo(2, 0), RaftPanicError);
    l.appliedTo(5, 0);
    assert.equal(l.applied, 5);
    assert.equal(l.applying, 5);
  });

  test("unstable entries are handed out once: accepted ones are in progress until stable", () => {
    const l = logWith([], ents(1, 1, 1));
    assert.equal(l.hasNextUnstableEnts(), true);
    l.acceptUnstable();
    assert.deepEqual(l.nextUnstableEnts(), []);
    assert.equal(l.hasNextOrInProgressUnstableEnts(), true);
    l.append(ents(3, 1));
    assert.deepEqual(ids(l.nextUnstableEnts()), [[3, 1]]);
  });
});
