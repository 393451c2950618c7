// Focused tests of the core bugs the simulator found (each also has a seed
// replay in test/sim/regressions.test.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ConfChange,
  ConfChangeType,
  type Config,
  ConfState,
  discardLogger,
  Entry,
  EntryType,
  HardState,
  MemoryStorage,
  Message,
  MessageType,
  RawNode,
  type Ready,
  Snapshot,
  SnapshotMetadata,
  StateType,
} from "../../src/index.ts";
import { encodeConfChange } from "../../src/wire.ts";

function storageWith(voters: bigint[], learners: bigint[] = []): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot(
    new Snapshot(new Uint8Array(), new SnapshotMetadata(new ConfState(voters, learners), 1, 1)),
  );
  // Term 1 is over: a campaign starts term 2.
  s.setHardState(new HardState(1, 0n, 1));
  return s;
}

function node(id: bigint, storage: MemoryStorage, extra: Partial<Config> = {}): RawNode {
  return new RawNode({ id, electionTick: 10, heartbeatTick: 1, storage, logger: discardLogger, ...extra });
}

/** Persists and applies one Ready (sync mode); returns it. */
function handle(rn: RawNode, s: MemoryStorage, apply: (e: Entry) => void = () => {}): Ready {
  const rd = rn.ready();
  if (rd.snapshot !== null && rd.snapshot.metadata.index > 0) s.applySnapshot(rd.snapshot);
  s.append(rd.entries);
  if (rd.hardState.term !== 0) s.setHardState(rd.hardState);
  for (const e of rd.committedEntries) apply(e);
  rn.advance();
  return rd;
}

function msg(init: Parameters<typeof Message.create>[0]): Message {
  return Message.create(init);
}

test("maxSizePerMsg 0 without an apply budget: entries are applied, also after a restart", () => {
  const s = storageWith([1n]);
  const rn = node(1n, s, { maxSizePerMsg: 0 });
  rn.campaign();
  const applied: number[] = [];
  for (let i = 0; i < 3; i++) handle(rn, s, (e) => applied.push(e.index));
  rn.propose(new Uint8Array([1]));
  rn.propose(new Uint8Array([2]));
  for (let i = 0; i < 10 && rn.hasReady(); i++) handle(rn, s, (e) => applied.push(e.index));
  assert.deepEqual(applied, [2, 3, 4]);
  // Restart with applied = 2: the rest must be handed out again (it used to stall forever).
  const again = node(1n, s, { maxSizePerMsg: 0, applied: 2 });
  const reapplied: number[] = [];
  for (let i = 0; i < 10 && again.hasReady(); i++) handle(again, s, (e) => reapplied.push(e.index));
  assert.deepEqual(reapplied, [3, 4]);
});

/** Node 2 of {1, 2, 3}, following leader 1 at term 5. */
function followerAtTerm5(): { rn: RawNode; s: MemoryStorage } {
  const s = storageWith([1n, 2n, 3n]);
  const rn = node(2n, s);
  rn.step(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 5 }));
  handle(rn, s);
  return { rn, s };
}

test("a MsgVote from a lower term is rejected with the current term (the candidate learns it)", () => {
  const { rn, s } = followerAtTerm5();
  rn.step(msg({ type: MessageType.MsgVote, from: 3n, to: 2n, term: 3, index: 1, logTerm: 1 }));
  const rd = handle(rn, s);
  const resp = rd.messages.filter((m) => m.type === MessageType.MsgVoteResp);
  assert.equal(resp.length, 1);
  assert.equal(resp[0]!.to, 3n);
  assert.equal(resp[0]!.reject, true);
  assert.equal(resp[0]!.term, 5);
  assert.equal(rn.raft.term, 5);
});

test("without CheckQuorum or PreVote, a MsgApp from a lower term is answered with the current term", () => {
  const { rn, s } = followerAtTerm5();
  // A leader of term 3 that never heard of term 5 (say, this node may not campaign).
  rn.step(msg({ type: MessageType.MsgApp, from: 3n, to: 2n, term: 3, index: 1, logTerm: 1 }));
  rn.step(msg({ type: MessageType.MsgHeartbeat, from: 3n, to: 2n, term: 3 }));
  const resp = handle(rn, s).messages.filter((m) => m.to === 3n);
  assert.deepEqual(
    resp.map((m) => [m.type, m.term]),
    [
      [MessageType.MsgAppResp, 5],
      [MessageType.MsgAppResp, 5],
    ],
  );
  assert.equal(rn.raft.lead, 1n);
});

test("ReadIndex on a single-voter leader waits for an entry of its term to commit", () => {
  const s = storageWith([1n]);
  const rn = node(1n, s);
  rn.campaign();
  // The self-vote counts once durable; then it is elected, but the empty
  // entry of its term is not durable yet.
  handle(rn, s);
  assert.equal(rn.raft.state, StateType.StateLeader);
  assert.equal(rn.raft.raftLog.committed, 1);
  rn.readIndex(new Uint8Array([7]));
  assert.equal(rn.raft.readStates.length, 0);
  let got: number | undefined;
  for (let i = 0; i < 5 && got === undefined; i++) {
    const rd = handle(rn, s);
    if (rd.readStates.length > 0) got = rd.readStates[0]!.index;
  }
  assert.equal(got, 2);
});

test("ReadIndex on a leader removed from a one-voter config needs that voter's heartbeat ack", () => {
  // Node 1 leads {1, 2}; the configuration becomes {2}. Without
  // stepDownOnRemoval node 1 stays leader, but it is not the single voter.
  const s = storageWith([1n, 2n]);
  const rn = node(1n, s);
  rn.campaign();
  handle(rn, s);
  rn.step(msg({ type: MessageType.MsgVoteResp, from: 2n, to: 1n, term: 2 }));
  assert.equal(rn.raft.state, StateType.StateLeader);
  const rd1 = handle(rn, s);
  const app = rd1.messages.find((m) => m.type === MessageType.MsgApp)!;
  rn.step(
    msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: 2, index: app.index + app.entries.length }),
  );
  handle(rn, s);
  assert.ok(rn.raft.committedEntryInCurrentTerm());
  rn.applyConfChange(new ConfChange(ConfChangeType.ConfChangeRemoveNode, 1n));
  assert.equal(rn.raft.state, StateType.StateLeader);
  assert.ok(rn.raft.trk.isSingleton());
  rn.readIndex(new Uint8Array([9]));
  const rd = handle(rn, s);
  assert.deepEqual(rd.readStates, []);
  const hb = rd.messages.find((m) => m.type === MessageType.MsgHeartbeat && m.to === 2n);
  assert.ok(hb !== undefined, "the read is confirmed by a heartbeat round");
  rn.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n, to: 1n, term: 2, context: hb.context }));
  assert.equal(handle(rn, s).readStates.length, 1);
});

test("a follower ignores a snapshot while a conf change it handed out is not applied yet", () => {
  const s = storageWith([1n, 2n]);
  const rn = node(2n, s);
  const cc = new Entry(
    2,
    2,
    EntryType.EntryConfChange,
    encodeConfChange(new ConfChange(ConfChangeType.ConfChangeAddLearnerNode, 3n)),
  );
  rn.step(
    msg({
      type: MessageType.MsgApp,
      from: 1n,
      to: 2n,
      term: 2,
      index: 1,
      logTerm: 1,
      entries: [cc],
      commit: 2,
    }),
  );
  const rd = rn.ready();
  assert.deepEqual(
    rd.committedEntries.map((e) => e.index),
    [2],
  );
  // Before the application applies the change, a snapshot (which already
  // contains it) arrives.
  const snap = new Snapshot(new Uint8Array(), new SnapshotMetadata(new ConfState([1n, 2n], [3n]), 5, 2));
  rn.step(msg({ type: MessageType.MsgSnap, from: 1n, to: 2n, term: 2, snapshot: snap }));
  assert.equal(rn.raft.raftLog.hasNextOrInProgressSnapshot(), false);
  assert.equal(rn.raft.raftLog.committed, 2);
  // The application applies the change on the configuration it belongs to.
  s.append(rd.entries);
  s.setHardState(rd.hardState);
  const cs = rn.applyConfChange(new ConfChange(ConfChangeType.ConfChangeAddLearnerNode, 3n));
  assert.deepEqual(cs.learners, [3n]);
  rn.advance();
  handle(rn, s);
  // Now the snapshot is welcome.
  rn.step(msg({ type: MessageType.MsgSnap, from: 1n, to: 2n, term: 2, snapshot: snap }));
  assert.equal(rn.raft.raftLog.hasNextOrInProgressSnapshot(), true);
  assert.equal(rn.raft.raftLog.committed, 5);
});
