// The committed entries a Ready may apply before its own writes are durable
// (src/host/apply_order.ts): only those this member made durable earlier.
import assert from "node:assert/strict";
import { test } from "node:test";
import { durableCommittedPrefix, isLoneWrite } from "../../src/host/apply_order.ts";
import { Entry, EntryType, Snapshot, SnapshotMetadata } from "../../src/raftpb/index.ts";

const ents = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => new Entry(1, from + i, 0, new Uint8Array([1])));
const noSnap = new Snapshot();

test("a leader's commit of entries synced by earlier Readys is applied early, all of it", () => {
  // Entries 1-5 durable; this Ready writes 6-8 and commits 3-5.
  assert.equal(
    durableCommittedPrefix({ committedEntries: ents(3, 5), entries: ents(6, 8), snapshot: noSnap }, 5),
    3,
  );
  // Nothing new written: everything committed and durable goes early.
  assert.equal(durableCommittedPrefix({ committedEntries: ents(3, 5), entries: [], snapshot: noSnap }, 5), 3);
});

test("a single voter's entries, committed by the Ready that writes them, wait for the sync (etcd-io/etcd#14370)", () => {
  // Durable up to 5; this Ready writes 6-7 and commits 4-7 at once.
  assert.equal(
    durableCommittedPrefix({ committedEntries: ents(4, 7), entries: ents(6, 7), snapshot: noSnap }, 5),
    2,
  );
  assert.equal(
    durableCommittedPrefix({ committedEntries: ents(6, 7), entries: ents(6, 7), snapshot: noSnap }, 5),
    0,
  );
});

test("a membership change and what follows it wait for the save (raft counts it applied only at advance)", () => {
  const ce = ents(3, 6);
  ce[2] = new Entry(1, 5, EntryType.EntryConfChange, new Uint8Array());
  assert.equal(durableCommittedPrefix({ committedEntries: ce, entries: [], snapshot: noSnap }, 6), 2);
  ce[0] = new Entry(1, 3, EntryType.EntryConfChangeV2, new Uint8Array());
  assert.equal(durableCommittedPrefix({ committedEntries: ce, entries: [], snapshot: noSnap }, 6), 0);
});

test("entries this Ready rewrites, and anything with a snapshot, wait for the save", () => {
  // Durable up to 9, but this Ready replaces 7-9 (a conflicting tail) and commits 6-8.
  assert.equal(
    durableCommittedPrefix({ committedEntries: ents(6, 8), entries: ents(7, 9), snapshot: noSnap }, 9),
    1,
  );
  const snap = new Snapshot(new Uint8Array(), new SnapshotMetadata(undefined, 10, 1));
  assert.equal(
    durableCommittedPrefix({ committedEntries: ents(11, 12), entries: [], snapshot: snap }, 12),
    0,
  );
  assert.equal(durableCommittedPrefix({ committedEntries: [], entries: ents(1, 2), snapshot: noSnap }, 0), 0);
});

test("a lone write (one entry, the only one uncommitted) syncs inline; a batch or a backlog does not", () => {
  assert.equal(isLoneWrite({ entries: ents(8, 8) }, 7), true);
  assert.equal(isLoneWrite({ entries: ents(8, 8) }, 6), false, "entry 7 is still in flight");
  assert.equal(isLoneWrite({ entries: ents(8, 9) }, 7), false, "a batch");
  assert.equal(isLoneWrite({ entries: [] }, 7), false, "nothing to write");
});
