// The unstable log tail: index and term lookups, hand-out of entries and
// snapshot to the application, and how persistence and truncation move it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfState,
  discardLogger,
  Entry,
  RaftPanicError,
  Snapshot,
  SnapshotMetadata,
} from "../../src/index.ts";
import { Unstable } from "../../src/internal.ts";

const ent = (index: number, term: number) => new Entry(term, index);
const snap = (index: number, term: number) =>
  new Snapshot(new Uint8Array(0), new SnapshotMetadata(new ConfState([1n]), index, term));
const ids = (es: readonly Entry[]) => es.map((e) => [e.index, e.term]);

function unstable(
  offset: number,
  entries: Entry[],
  s: Snapshot | null = null,
  inProgress = offset,
): Unstable {
  const u = new Unstable(offset, discardLogger);
  u.entries = entries;
  u.snapshot = s;
  u.offsetInProgress = inProgress;
  return u;
}

describe("Unstable lookups", () => {
  test("maybeFirstIndex is known only with a snapshot (its index + 1)", () => {
    assert.equal(unstable(5, [ent(5, 1)]).maybeFirstIndex(), undefined);
    assert.equal(unstable(0, []).maybeFirstIndex(), undefined);
    assert.equal(unstable(5, [ent(5, 1)], snap(4, 1)).maybeFirstIndex(), 5);
    assert.equal(unstable(5, [], snap(4, 1)).maybeFirstIndex(), 5);
  });

  test("maybeLastIndex is the last entry, else the snapshot index, else unknown", () => {
    assert.equal(unstable(5, [ent(5, 1)]).maybeLastIndex(), 5);
    assert.equal(unstable(5, [ent(5, 1)], snap(4, 1)).maybeLastIndex(), 5);
    assert.equal(unstable(5, [], snap(4, 1)).maybeLastIndex(), 4);
    assert.equal(unstable(0, []).maybeLastIndex(), undefined);
  });

  test("maybeTerm answers for held entries and the snapshot's last index only", () => {
    const cases: Array<[Unstable, number, number | undefined]> = [
      [unstable(5, [ent(5, 1)]), 5, 1],
      [unstable(5, [ent(5, 1)]), 6, undefined],
      [unstable(5, [ent(5, 1)]), 4, undefined],
      [unstable(5, [ent(5, 1)], snap(4, 1)), 5, 1],
      [unstable(5, [ent(5, 1)], snap(4, 1)), 6, undefined],
      [unstable(5, [ent(5, 1)], snap(4, 1)), 4, 1],
      [unstable(5, [ent(5, 1)], snap(4, 1)), 3, undefined],
      [unstable(5, [], snap(4, 1)), 5, undefined],
      [unstable(5, [], snap(4, 1)), 4, 1],
      [unstable(0, []), 5, undefined],
    ];
    for (const [u, i, want] of cases) assert.equal(u.maybeTerm(i), want);
  });

  test("slice copies held entries and refuses ranges outside them", () => {
    const u = unstable(5, [ent(5, 1), ent(6, 1), ent(7, 2)]);
    assert.deepEqual(ids(u.slice(6, 8)), [
      [6, 1],
      [7, 2],
    ]);
    assert.throws(() => u.slice(4, 6), RaftPanicError);
    assert.throws(() => u.slice(6, 9), RaftPanicError);
    assert.throws(() => u.slice(7, 6), RaftPanicError);
  });
});

describe("Unstable hand-out and persistence", () => {
  test("entries and snapshot are handed out once; acceptInProgress marks everything held as in progress", () => {
    const u = unstable(5, [ent(5, 1), ent(6, 1)], snap(4, 1));
    assert.deepEqual(ids(u.nextEntries()), [
      [5, 1],
      [6, 1],
    ]);
    assert.equal(u.nextSnapshot()!.metadata.index, 4);
    u.acceptInProgress();
    assert.deepEqual(u.nextEntries(), []);
    assert.equal(u.hasNextEntries(), false);
    assert.equal(u.nextSnapshot(), null);
    assert.equal(u.offsetInProgress, 7);
    assert.equal(u.snapshotInProgress, true);
    u.truncateAndAppend([ent(7, 1)]);
    assert.deepEqual(ids(u.nextEntries()), [[7, 1]]);
  });

  // offset, entries, in-progress offset, snapshot, stableTo (index, term) -> offset, in-progress, remaining
  const stableCases: Array<
    [string, number, Entry[], number, Snapshot | null, [number, number], number, number, number]
  > = [
    ["empty log", 0, [], 0, null, [4, 1], 0, 0, 0],
    ["stable to the first entry", 5, [ent(5, 1)], 5, null, [5, 1], 6, 6, 0],
    ["stable to the first entry, in progress", 5, [ent(5, 1)], 6, null, [5, 1], 6, 6, 0],
    ["stable prefix of two", 5, [ent(5, 1), ent(6, 1)], 5, null, [5, 1], 6, 6, 1],
    ["stable prefix, rest in progress", 5, [ent(5, 1), ent(6, 1)], 7, null, [5, 1], 6, 7, 1],
    ["term mismatch is ignored", 6, [ent(6, 2)], 7, null, [6, 1], 6, 7, 1],
    ["index below the log is ignored", 5, [ent(5, 1)], 6, null, [4, 1], 5, 6, 1],
    ["index beyond the log is ignored", 5, [ent(5, 1)], 6, null, [6, 1], 5, 6, 1],
    ["snapshot's own index is ignored", 5, [ent(5, 1)], 5, snap(4, 1), [4, 1], 5, 5, 1],
    ["entry after the snapshot", 5, [ent(5, 1)], 5, snap(4, 1), [5, 1], 6, 6, 0],
    ["entry after the snapshot, mismatched term", 6, [ent(6, 2)], 7, snap(5, 1), [6, 1], 6, 7, 1],
  ];
  for (const [name, offset, es, inProgress, s, [index, term], wOffset, wInProgress, wLen] of stableCases) {
    test(`stableTo drops persisted entries only when index and term match: ${name}`, () => {
      const u = unstable(offset, es, s, inProgress);
      u.stableTo(index, term);
      assert.deepEqual([u.offset, u.offsetInProgress, u.entries.length], [wOffset, wInProgress, wLen]);
    });
  }

  test("stableSnapTo clears the snapshot only for its own index", () => {
    const u = unstable(5, [], snap(4, 1));
    u.acceptInProgress();
    u.stableSnapTo(3);
    assert.notEqual(u.snapshot, null);
    u.stableSnapTo(4);
    assert.equal(u.snapshot, null);
    assert.equal(u.snapshotInProgress, false);
  });

  test("restore replaces everything with the snapshot", () => {
    const u = unstable(5, [ent(5, 1)], null, 6);
    u.restore(snap(6, 2));
    assert.deepEqual(
      [u.offset, u.offsetInProgress, u.entries.length, u.snapshot!.metadata.index],
      [7, 7, 0, 6],
    );
    assert.equal(u.snapshotInProgress, false);
  });

  // offset, entries, in-progress, appended -> offset, in-progress, resulting entries
  const truncCases: Array<
    [string, number, Entry[], number, Entry[], number, number, Array<[number, number]>]
  > = [
    [
      "append at the end",
      5,
      [ent(5, 1)],
      5,
      [ent(6, 1), ent(7, 1)],
      5,
      5,
      [
        [5, 1],
        [6, 1],
        [7, 1],
      ],
    ],
    [
      "append at the end keeps in-progress",
      5,
      [ent(5, 1)],
      6,
      [ent(6, 1), ent(7, 1)],
      5,
      6,
      [
        [5, 1],
        [6, 1],
        [7, 1],
      ],
    ],
    [
      "replace from the offset",
      5,
      [ent(5, 1)],
      5,
      [ent(5, 2), ent(6, 2)],
      5,
      5,
      [
        [5, 2],
        [6, 2],
      ],
    ],
    [
      "replace from before the offset",
      5,
      [ent(5, 1)],
      5,
      [ent(4, 2), ent(5, 2), ent(6, 2)],
      4,
      4,
      [
        [4, 2],
        [5, 2],
        [6, 2],
      ],
    ],
    [
      "replacing in-progress entries resets in-progress",
      5,
      [ent(5, 1)],
      6,
      [ent(5, 2), ent(6, 2)],
      5,
      5,
      [
        [5, 2],
        [6, 2],
      ],
    ],
    [
      "truncate in the middle",
      5,
      [ent(5, 1), ent(6, 1), ent(7, 1)],
      5,
      [ent(6, 2)],
      5,
      5,
      [
        [5, 1],
        [6, 2],
      ],
    ],
    [
      "truncate at the last entry",
      5,
      [ent(5, 1), ent(6, 1), ent(7, 1)],
      5,
      [ent(7, 2), ent(8, 2)],
      5,
      5,
      [
        [5, 1],
        [6, 1],
        [7, 2],
        [8, 2],
      ],
    ],
    [
      "truncate in progress entries pulls in-progress back",
      5,
      [ent(5, 1), ent(6, 1), ent(7, 1)],
      8,
      [ent(6, 2)],
      5,
      6,
      [
        [5, 1],
        [6, 2],
      ],
    ],
    [
      "truncate after the in-progress ones keeps them",
      5,
      [ent(5, 1), ent(6, 1), ent(7, 1)],
      7,
      [ent(7, 2)],
      5,
      7,
      [
        [5, 1],
        [6, 1],
        [7, 2],
      ],
    ],
  ];
  for (const [name, offset, es, inProgress, app, wOffset, wInProgress, want] of truncCases) {
    test(`truncateAndAppend keeps entries before the first new index and replaces the rest: ${name}`, () => {
      const u = unstable(offset, [...es], null, inProgress);
      const truncates = app[0]!.index < offset + es.length;
      const before = u.entries;
      const beforeCopy = ids(before);
      u.truncateAndAppend(app);
      assert.deepEqual([u.offset, u.offsetInProgress], [wOffset, wInProgress]);
      assert.deepEqual(ids(u.entries), want);
      // Entries held before a truncation are never mutated by it.
      if (truncates) assert.deepEqual(ids(before), beforeCopy);
    });
  }
});
