// Messages no correct peer sends are refused at RawNode.step with
// ErrInvalidMessage, before raft sees them: etcd's raft would panic on some
// (an index out of range) and splice others into its log (a gap, terms out
// of order). The node's state must be exactly as before.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ConfState,
  discardLogger,
  Entry,
  ErrInvalidMessage,
  MemoryStorage,
  Message,
  MessageType,
  RawNode,
  Snapshot,
  SnapshotMetadata,
} from "../../src/index.ts";
import { isError } from "../../src/raft/errors.ts";

function follower(): { rn: RawNode; storage: MemoryStorage } {
  const storage = new MemoryStorage();
  storage.applySnapshot(
    new Snapshot(new Uint8Array(), new SnapshotMetadata(new ConfState([1n, 2n, 3n]), 1, 1)),
  );
  const rn = new RawNode({ id: 2n, electionTick: 10, heartbeatTick: 1, storage, logger: discardLogger });
  // A real leader at term 5 first: the node follows it and holds entry 2.
  rn.step(
    Message.create({
      type: MessageType.MsgApp,
      from: 1n,
      to: 2n,
      term: 5,
      logTerm: 1,
      index: 1,
      entries: [new Entry(5, 2)],
    }),
  );
  const rd = rn.ready();
  storage.append(rd.entries);
  rn.advance(rd);
  return { rn, storage };
}

const app = (logTerm: number, index: number, entries: Entry[], term = 5) =>
  Message.create({ type: MessageType.MsgApp, from: 1n, to: 2n, term, logTerm, index, entries });

const malformed: [string, Message][] = [
  ["a gap between the entries", app(5, 2, [new Entry(5, 3), new Entry(5, 5)])],
  ["entries out of order", app(5, 2, [new Entry(5, 4), new Entry(5, 3)])],
  ["a first entry that does not follow index", app(5, 2, [new Entry(5, 9)])],
  ["an entry from a later term than the message", app(5, 2, [new Entry(6, 3)])],
  ["entry terms going down", app(5, 2, [new Entry(5, 3), new Entry(4, 4)])],
  ["an entry older than logTerm", app(5, 2, [new Entry(4, 3)])],
  ["logTerm above the message's term", app(6, 2, [])],
  ["a MsgSnap without a snapshot", Message.create({ type: MessageType.MsgSnap, from: 1n, to: 2n, term: 5 })],
];

for (const [what, m] of malformed) {
  test(`a MsgApp/MsgSnap with ${what} is refused and changes nothing`, () => {
    const { rn } = follower();
    const before = rn.status();
    const last = rn.raft.raftLog.lastIndex();
    assert.throws(
      () => rn.step(m),
      (e) => isError(e, ErrInvalidMessage),
    );
    assert.equal(rn.hasReady(), false);
    assert.equal(rn.raft.raftLog.lastIndex(), last);
    assert.deepEqual(rn.status().hardState, before.hardState);
  });
}

test("well-formed appends still go through (the check is not too strict)", () => {
  const { rn } = follower();
  rn.step(app(5, 2, [new Entry(5, 3), new Entry(5, 4)]));
  assert.equal(rn.raft.raftLog.lastIndex(), 4);
  // Entries written by earlier leaders (terms below the message's) are fine.
  const { rn: rn2 } = follower();
  rn2.step(app(5, 2, [new Entry(5, 3)], 7));
  assert.equal(rn2.raft.raftLog.lastIndex(), 3);
  assert.equal(rn2.raft.term, 7);
});

test("a heartbeat whose commit is beyond the follower's log is ignored, not a panic (forged or data loss)", () => {
  const { rn } = follower();
  const before = rn.status();
  // Any member ID at the current term: etcd's raft panics on commitTo(1000000000).
  rn.step(
    Message.create({ type: MessageType.MsgHeartbeat, from: 0xdeadn, to: 2n, term: 5, commit: 1_000_000_000 }),
  );
  const after = rn.status();
  assert.equal(after.hardState.commit, before.hardState.commit, "commit unchanged");
  assert.equal(rn.hasReady() ? rn.ready().messages.length : 0, 0, "no answer to the forged heartbeat");
  // A genuine heartbeat within the log still advances commit.
  rn.step(Message.create({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 5, commit: 2 }));
  assert.equal(rn.status().hardState.commit, 2);
});
