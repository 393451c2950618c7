// Log compaction and snapshots (Raft paper §7): restoring a follower from
// the leader's snapshot, snapshot delivery reports, and the restore rules.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfState,
  MessageType,
  ProgressStateType,
  Snapshot,
  SnapshotMetadata,
  StateType,
} from "../../src/index.ts";
import type { Raft } from "../../src/internal.ts";
import { Network } from "../../src/rafttest/index.ts";
import { msg, newRaft, newStorage, raftWith, storageWithTerms, tickN } from "../support/raft.ts";

const snap = (index: number, term: number, cs: ConfState) =>
  new Snapshot(new Uint8Array(0), new SnapshotMetadata(cs, index, term));

describe("restoring a snapshot (§7)", () => {
  test("restore replaces the log and the configuration with the snapshot's", () => {
    const r = raftWith(1n, [1n, 2n]);
    const s = snap(11, 11, new ConfState([1n, 2n, 3n]));
    assert.equal(r.restore(s), true);
    assert.equal(r.raftLog.lastIndex(), 11);
    assert.equal(r.raftLog.term(11), 11);
    assert.equal(r.raftLog.committed, 11);
    assert.deepEqual(r.trk.voterNodes(), [1n, 2n, 3n]);
    // The same snapshot again is obsolete.
    assert.equal(r.restore(s), false);
    // A follower does not campaign before the snapshot is applied.
    tickN(r, r.randomizedElectionTimeout);
    assert.equal(r.state, StateType.StateFollower);
  });

  test("restore takes learners, outgoing voters, voter-to-learner demotion and learner promotion from the snapshot", () => {
    const withLearner = newRaft(3n, newStorage([1n, 2n], [3n]), { electionTick: 8, heartbeatTick: 2 });
    assert.equal(withLearner.restore(snap(11, 11, new ConfState([1n, 2n], [3n]))), true);
    assert.deepEqual(withLearner.trk.voterNodes(), [1n, 2n]);
    assert.deepEqual(withLearner.trk.learnerNodes(), [3n]);
    assert.equal(withLearner.trk.progress.get(3n)!.isLearner, true);

    const outgoing = raftWith(1n, [1n, 2n]);
    assert.equal(outgoing.restore(snap(11, 11, new ConfState([2n, 3n, 4n], [], [1n, 2n, 3n]))), true);
    assert.deepEqual(outgoing.trk.voterNodes(), [1n, 2n, 3n, 4n]);
    tickN(outgoing, outgoing.randomizedElectionTimeout);
    assert.equal(outgoing.state, StateType.StateFollower);

    const demoted = raftWith(3n, [1n, 2n, 3n]);
    assert.equal(demoted.isLearner, false);
    assert.equal(demoted.restore(snap(11, 11, new ConfState([1n, 2n], [3n]))), true);
    assert.equal(demoted.isLearner, true);

    const promoted = newRaft(3n, newStorage([1n, 2n], [3n]));
    assert.equal(promoted.isLearner, true);
    assert.equal(promoted.restore(snap(11, 11, new ConfState([1n, 2n, 3n]))), true);
    assert.equal(promoted.isLearner, false);
  });

  test("a snapshot at or below the commit index is ignored; one whose last entry we hold only fast-forwards the commit index", () => {
    const r = newRaft(1n, storageWithTerms([1n, 2n], 1, 1, 1));
    r.raftLog.commitTo(1);
    assert.equal(r.restore(snap(1, 1, new ConfState([1n, 2n]))), false);
    assert.equal(r.raftLog.committed, 1);
    assert.equal(r.restore(snap(2, 1, new ConfState([1n, 2n]))), false);
    assert.equal(r.raftLog.committed, 2);
    assert.equal(r.raftLog.lastIndex(), 3);
  });

  test("a snapshot whose configuration does not include the node is refused", () => {
    const r = raftWith(1n, [1n, 2n]);
    assert.equal(r.restore(snap(11, 11, new ConfState([2n, 3n]))), false);
    assert.equal(r.raftLog.lastIndex(), 0);
  });

  test("a MsgSnap makes the sender the leader and is answered with the new last index", () => {
    const r = raftWith(2n, [1n, 2n]);
    r.step(
      msg({
        type: MessageType.MsgSnap,
        from: 1n,
        to: 2n,
        term: 2,
        snapshot: snap(11, 11, new ConfState([1n, 2n])),
      }),
    );
    assert.equal(r.lead, 1n);
    assert.equal(r.term, 2);
    const resp = r.msgsAfterAppend.find((m) => m.type === MessageType.MsgAppResp)!;
    assert.equal(resp.index, 11);
    assert.equal(resp.reject, false);
  });

  test("only followers restore: a leader never applies a snapshot", () => {
    const r: Raft = raftWith(1n, [1n, 2n]);
    r.becomeCandidate();
    r.becomeLeader();
    assert.equal(r.restore(snap(11, 11, new ConfState([1n, 2n]))), false);
    assert.equal(r.state, StateType.StateFollower);
    assert.equal(r.raftLog.lastIndex(), 1);
  });
});

describe("catching up a lagging follower with a snapshot", () => {
  test("a follower that missed compacted entries is restored from the leader's snapshot and converges", () => {
    const net = new Network();
    net.elect(1n);
    net.isolate(3n);
    for (let i = 0; i < 100; i++) net.propose(1n, `e${i}`);
    net.stabilize();
    net.compact(1n);
    net.heal();
    net.tickAndStabilize(3);
    net.propose(1n, "last");
    net.stabilize();
    const follower = net.node(3n);
    assert.equal(follower.restoredSnapshots.length, 1);
    assert.equal(follower.restoredSnapshots[0]!.metadata.index, 101);
    assert.equal(net.raft(3n).raftLog.committed, net.raft(1n).raftLog.committed);
    assert.deepEqual(net.appliedData(3n), net.appliedData(1n));
    assert.equal(net.appliedData(3n).length, 101);
    assert.equal(net.raft(1n).trk.progress.get(3n)!.state, ProgressStateType.StateReplicate);
  });

  test("a learner is caught up with a snapshot too", () => {
    const net = new Network({ voters: [1n], learners: [2n] });
    net.elect(1n);
    net.isolate(2n);
    net.propose(1n, "a");
    net.stabilize();
    net.compact(1n);
    net.heal();
    net.tickAndStabilize(2);
    assert.equal(net.node(2n).restoredSnapshots.length, 1);
    assert.deepEqual(net.appliedData(2n), ["a"]);
  });

  test("a lost snapshot is reported as failed and sent again after the next heartbeat response", () => {
    const net = new Network();
    net.elect(1n);
    net.isolate(3n);
    net.propose(1n, "a");
    net.stabilize();
    net.compact(1n);
    net.heal();
    let lost = 0;
    net.filter((m) => m.type === MessageType.MsgSnap && lost++ === 0);
    net.tickAndStabilize(5);
    const snaps = net.delivered.filter((m) => m.type === MessageType.MsgSnap).length;
    assert.equal(lost, 2);
    assert.equal(snaps, 1);
    assert.ok(net.dropped.some((d) => d.message.type === MessageType.MsgSnap));
    assert.deepEqual(net.appliedData(3n), ["a"]);
  });

  test("an unreachable report moves a replicating follower back to probing, and replication resumes", () => {
    const net = new Network();
    net.elect(1n);
    const pr = net.raft(1n).trk.progress.get(2n)!;
    assert.equal(pr.state, ProgressStateType.StateReplicate);
    net.node(1n).rawNode.reportUnreachable(2n);
    assert.equal(pr.state, ProgressStateType.StateProbe);
    net.propose(1n, "x");
    net.tickAndStabilize(1);
    assert.equal(pr.state, ProgressStateType.StateReplicate);
    assert.deepEqual(net.appliedData(2n), ["x"]);
  });

  test("a follower restarted from its own snapshot and log rejoins without re-applying", () => {
    const net = new Network();
    net.elect(1n);
    for (let i = 0; i < 5; i++) net.propose(1n, `e${i}`);
    net.stabilize();
    net.compact(2n, 4);
    net.restart(2n);
    assert.deepEqual(net.appliedData(2n), ["e0", "e1", "e2"]);
    net.propose(1n, "after");
    net.tickAndStabilize(2);
    assert.deepEqual(net.appliedData(2n), ["e0", "e1", "e2", "e3", "e4", "after"]);
  });
});
