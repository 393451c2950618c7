// Leadership transfer (thesis §3.10), forgetting the leader, and when
// proposals are dropped.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfChange,
  ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  ConfChangeV2,
  ErrProposalDropped,
  MessageType,
  None,
  ReadOnlyOption,
  StateType,
} from "../../src/index.ts";
import type { Raft } from "../../src/internal.ts";
import { ofType as isType, Network } from "../../src/rafttest/index.ts";
import {
  becomeLeader,
  hup,
  MsgAppResp,
  MsgTimeoutNow,
  MsgTransferLeader,
  MsgVote,
  MsgVoteResp,
  msg,
  newRaft,
  newStorage,
  prop,
  raftWith,
  readMessages,
} from "../support/raft.ts";

const { StateLeader, StateFollower, StateCandidate } = StateType;

function checkTransfer(r: Raft, state: StateType, lead: bigint): void {
  assert.equal(r.state, state);
  assert.equal(r.lead, lead);
  assert.equal(r.leadTransferee, None);
}

/** Leader 1 with a transfer to 3 pending (3 is isolated, so it cannot complete). */
function pendingTransferTo3(): Network {
  const net = new Network();
  net.elect(1n);
  net.isolate(3n);
  net.node(1n).rawNode.transferLeader(3n);
  net.stabilize();
  assert.equal(net.raft(1n).leadTransferee, 3n);
  return net;
}

describe("leadership transfer (thesis §3.10)", () => {
  test("transfer to an up-to-date voter happens at once: it gets MsgTimeoutNow and wins the next term", () => {
    const net = new Network();
    net.elect(1n);
    net.node(1n).rawNode.transferLeader(2n);
    net.stabilize();
    checkTransfer(net.raft(1n), StateFollower, 2n);
    assert.equal(net.raft(2n).state, StateLeader);
    assert.equal(net.raft(2n).term, 2);
    assert.ok(net.delivered.some((m) => m.type === MsgTimeoutNow && m.to === 2n));
    // And back, after some replication.
    net.propose(2n, "x");
    net.stabilize();
    net.node(2n).rawNode.transferLeader(1n);
    net.stabilize();
    checkTransfer(net.raft(1n), StateLeader, 1n);
  });

  test("a transfer requested at a follower is forwarded to the leader", () => {
    const net = new Network();
    net.elect(1n);
    net.node(2n).rawNode.transferLeader(2n);
    net.stabilize();
    checkTransfer(net.raft(1n), StateFollower, 2n);
    net.propose(1n, "x");
    net.stabilize();
    net.node(1n).rawNode.transferLeader(1n);
    net.stabilize();
    checkTransfer(net.raft(1n), StateLeader, 1n);
  });

  test("a lagging transferee is first caught up, then told to campaign", () => {
    const net = new Network();
    net.elect(1n);
    net.isolate(3n);
    net.propose(1n, "x");
    net.stabilize();
    net.heal();
    assert.equal(net.raft(1n).trk.progress.get(3n)!.match, 1);
    net.node(1n).rawNode.transferLeader(3n);
    net.stabilize();
    checkTransfer(net.raft(1n), StateFollower, 3n);
    assert.deepEqual(net.appliedData(3n), ["x"]);
  });

  test("a transferee that needs a snapshot campaigns only after it applied it and acknowledged", () => {
    const net = new Network();
    net.elect(1n);
    net.isolate(3n);
    net.propose(1n, "x");
    net.stabilize();
    net.compact(1n);
    net.heal();
    // Hold 3's acknowledgement of the snapshot.
    net.filter((m) => m.type === MsgAppResp && m.from === 3n && !m.reject);
    net.node(1n).rawNode.transferLeader(3n);
    net.stabilize();
    assert.equal(net.raft(1n).state, StateLeader);
    assert.equal(net.raft(1n).leadTransferee, 3n);
    assert.equal(net.node(3n).restoredSnapshots.length, 1);
    net.heal();
    net.tickAndStabilize(1, [1n]);
    checkTransfer(net.raft(1n), StateFollower, 3n);
    assert.deepEqual(net.appliedData(3n), ["x"]);
  });

  test("transfer to the leader itself or to a non-member is a no-op", () => {
    for (const target of [1n, 4n]) {
      const net = new Network();
      net.elect(1n);
      net.node(1n).rawNode.transferLeader(target);
      net.stabilize();
      checkTransfer(net.raft(1n), StateLeader, 1n);
    }
  });

  test("a transfer that does not finish within an election timeout is aborted", () => {
    const net = pendingTransferTo3();
    const lead = net.raft(1n);
    assert.equal(lead.leadTransferee, 3n);
    for (let i = 0; i < lead.heartbeatTimeout; i++) lead.tick();
    assert.equal(lead.leadTransferee, 3n);
    for (let i = 0; i < lead.electionTimeout - lead.heartbeatTimeout; i++) lead.tick();
    checkTransfer(lead, StateLeader, 1n);
  });

  test("proposals are dropped while a transfer is in progress", () => {
    const net = pendingTransferTo3();
    const lead = net.raft(1n);
    assert.equal(lead.leadTransferee, 3n);
    assert.throws(
      () => net.propose(1n, "x"),
      (e) => e === ErrProposalDropped,
    );
    // Forwarded proposals are refused too.
    net.propose(2n, "y");
    net.stabilize();
    assert.ok(net.refused.some((r) => r.error === ErrProposalDropped && r.message.to === 1n));
    assert.equal(lead.trk.progress.get(1n)!.match, 1);
  });

  test("a leader in transfer steps down when a higher-term candidate appears", () => {
    const net = pendingTransferTo3();
    net.campaign(2n);
    checkTransfer(net.raft(1n), StateFollower, 2n);
  });

  test("a transfer is aborted when the transferee is removed or demoted to learner", () => {
    const removals: Array<ConfChange | ConfChangeV2> = [
      new ConfChange(ConfChangeType.ConfChangeRemoveNode, 3n),
      new ConfChangeV2([
        new ConfChangeSingle(ConfChangeType.ConfChangeRemoveNode, 3n),
        new ConfChangeSingle(ConfChangeType.ConfChangeAddLearnerNode, 3n),
      ]),
    ];
    for (const cc of removals) {
      const net = new Network();
      net.elect(1n);
      net.filter(isType(MessageType.MsgTimeoutNow));
      const lead = net.raft(1n);
      net.node(1n).rawNode.transferLeader(3n);
      net.stabilize();
      assert.equal(lead.leadTransferee, 3n);
      net.node(1n).rawNode.applyConfChange(cc);
      if (cc instanceof ConfChangeV2) net.node(1n).rawNode.applyConfChange(new ConfChangeV2());
      checkTransfer(lead, StateLeader, 1n);
    }
  });

  test("a transfer back to the leader itself cancels a pending transfer", () => {
    const net = pendingTransferTo3();
    net.node(1n).rawNode.transferLeader(1n);
    net.stabilize();
    checkTransfer(net.raft(1n), StateLeader, 1n);
  });

  test("a second transfer to another node replaces the pending one", () => {
    const net = pendingTransferTo3();
    net.node(1n).rawNode.transferLeader(2n);
    net.stabilize();
    checkTransfer(net.raft(1n), StateFollower, 2n);
  });

  test("a repeated transfer to the same node does not extend its deadline", () => {
    const net = pendingTransferTo3();
    const lead = net.raft(1n);
    for (let i = 0; i < lead.heartbeatTimeout; i++) lead.tick();
    net.node(1n).rawNode.transferLeader(3n);
    for (let i = 0; i < lead.electionTimeout - lead.heartbeatTimeout; i++) lead.tick();
    checkTransfer(lead, StateLeader, 1n);
  });

  test("leadership is never transferred to a learner", () => {
    const net = new Network({ voters: [1n, 2n], learners: [3n] });
    net.elect(1n);
    net.node(1n).rawNode.transferLeader(3n);
    net.stabilize();
    checkTransfer(net.raft(1n), StateLeader, 1n);
    assert.ok(!net.delivered.some((m) => m.type === MsgTimeoutNow));
  });

  test("a learner ignores MsgTimeoutNow", () => {
    const net = new Network({ voters: [1n], learners: [2n] });
    net.elect(1n);
    net.node(2n).rawNode.step(msg({ type: MsgTimeoutNow, from: 1n, to: 2n, term: 1 }));
    net.stabilize();
    assert.equal(net.raft(2n).state, StateFollower);
    assert.equal(net.raft(2n).term, 1);
  });

  test("MsgTimeoutNow at a node outside the configuration starts nothing", () => {
    const r = newRaft(1n, newStorage([2n, 3n, 4n]), { electionTick: 5 });
    r.step(msg({ type: MsgTimeoutNow, from: 2n, to: 1n }));
    r.step(msg({ type: MsgVoteResp, from: 2n, to: 1n }));
    r.step(msg({ type: MsgVoteResp, from: 3n, to: 1n }));
    assert.equal(r.state, StateFollower);
  });

  test("the transferee campaigns without pre-vote, and its vote request is forced through leases", () => {
    const r = raftWith(2n, [1n, 2n, 3n], { preVote: true, checkQuorum: true });
    r.becomeFollower(1, 1n);
    r.step(msg({ type: MsgTimeoutNow, from: 1n, to: 2n, term: 1 }));
    assert.equal(r.state, StateCandidate);
    assert.equal(r.term, 2);
    const votes = readMessages(r).filter((m) => m.type === MsgVote);
    assert.equal(votes.length, 2);
    // A voter in its lease grants it anyway.
    const v = raftWith(3n, [1n, 2n, 3n], { checkQuorum: true });
    v.becomeFollower(1, 1n);
    v.step(votes.find((m) => m.to === 3n)!);
    const [resp] = readMessages(v);
    assert.equal(resp!.type, MsgVoteResp);
    assert.equal(resp!.reject, false);
    assert.equal(v.term, 2);
  });

  test("a voter with unapplied conf changes ignores MsgTimeoutNow until it applied them", () => {
    const net = new Network();
    net.elect(1n);
    net.node(1n).rawNode.proposeConfChange(new ConfChange(ConfChangeType.ConfChangeRemoveNode, 3n));
    // Let node 2 commit the change but not apply it.
    net.stabilize();
    const r2 = net.raft(2n);
    const applied = r2.raftLog.applied;
    r2.raftLog.applied = applied - 1;
    r2.raftLog.applying = applied - 1;
    r2.step(msg({ type: MsgTimeoutNow, from: 1n, to: 2n, term: r2.term }));
    assert.equal(r2.state, StateFollower);
    r2.raftLog.applied = applied;
    r2.raftLog.applying = applied;
    r2.step(msg({ type: MsgTimeoutNow, from: 1n, to: 2n, term: r2.term }));
    assert.equal(r2.state, StateCandidate);
  });

  test("a pending transfer is dropped when the leader steps down to a higher term", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    becomeLeader(r);
    r.step(msg({ type: MsgTransferLeader, from: 3n, to: 1n }));
    assert.equal(r.leadTransferee, 3n);
    r.step(msg({ type: MessageType.MsgHeartbeat, from: 3n, to: 1n, term: r.term + 1 }));
    checkTransfer(r, StateFollower, 3n);
  });
});

describe("forgetting the leader", () => {
  test("a follower that forgets its leader drops it but keeps its term, and learns it again from the next heartbeat", () => {
    const net = new Network();
    net.elect(1n);
    net.node(2n).rawNode.forgetLeader();
    assert.equal(net.raft(2n).lead, None);
    assert.equal(net.raft(2n).term, 1);
    net.tickAndStabilize(1, [1n]);
    assert.equal(net.raft(2n).lead, 1n);
  });

  test("forgetting the leader gives up the leader lease: a new candidate wins at once under check quorum", () => {
    const net = new Network({ config: { checkQuorum: true } });
    net.elect(1n);
    net.campaign(3n);
    assert.equal(net.raft(3n).state, StateCandidate);
    net.node(2n).rawNode.forgetLeader();
    net.campaign(3n);
    assert.equal(net.raft(3n).state, StateLeader);
  });

  test("a leader ignores forgetLeader, and so does a follower with lease-based reads", () => {
    const net = new Network({
      config: { checkQuorum: true, readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased },
    });
    net.elect(1n);
    net.node(1n).rawNode.forgetLeader();
    assert.equal(net.raft(1n).lead, 1n);
    net.node(2n).rawNode.forgetLeader();
    assert.equal(net.raft(2n).lead, 1n);
  });

  test("forgetLeader on a node without a leader does nothing", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    r.step(msg({ type: MessageType.MsgForgetLeader, from: 1n, to: 1n }));
    assert.equal(r.lead, None);
    assert.equal(r.state, StateFollower);
  });
});

describe("dropped proposals", () => {
  test("a follower without a leader drops proposals", () => {
    const net = new Network();
    assert.throws(
      () => net.propose(2n, "x"),
      (e) => e === ErrProposalDropped,
    );
  });

  test("a candidate drops proposals", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    r.step(hup(1n));
    assert.equal(r.step(prop(1n, "x")), ErrProposalDropped);
    assert.equal(r.raftLog.lastIndex(), 0);
  });

  test("with proposal forwarding disabled, a follower drops proposals instead of forwarding them", () => {
    const net = new Network({ config: { disableProposalForwarding: true } });
    net.elect(1n);
    assert.throws(
      () => net.propose(2n, "x"),
      (e) => e === ErrProposalDropped,
    );
    net.stabilize();
    assert.ok(!net.delivered.some((m) => m.type === MessageType.MsgProp));
    net.propose(1n, "y");
    net.stabilize();
    assert.deepEqual(net.appliedData(2n), ["y"]);
  });

  test("a forwarded proposal carries no delivery guarantee: lost on the way, it is silently gone", () => {
    const net = new Network();
    net.elect(1n);
    net.cut(1n, 2n);
    net.propose(2n, "x");
    net.stabilize();
    assert.equal(net.raft(1n).raftLog.lastIndex(), 1);
    assert.ok(net.dropped.some((d) => d.message.type === MessageType.MsgProp && d.message.to === 1n));
  });

  test("a leader removed from the configuration drops new proposals", () => {
    const net = new Network();
    net.elect(1n);
    net.node(1n).rawNode.proposeConfChange(new ConfChange(ConfChangeType.ConfChangeRemoveNode, 1n));
    net.stabilize();
    assert.deepEqual(net.node(1n).confState.voters, [2n, 3n]);
    assert.equal(net.raft(1n).state, StateLeader);
    assert.throws(
      () => net.propose(1n, "x"),
      (e) => e === ErrProposalDropped,
    );
  });

  test("the empty ConfChangeV2 that leaves a joint config is a proposal like any other", () => {
    const net = new Network();
    net.elect(1n);
    const enter = new ConfChangeV2(
      [new ConfChangeSingle(ConfChangeType.ConfChangeAddLearnerNode, 4n)],
      ConfChangeTransition.ConfChangeTransitionJointExplicit,
    );
    net.node(1n).rawNode.proposeConfChange(enter);
    net.stabilize();
    assert.deepEqual(net.node(1n).confState.votersOutgoing, [1n, 2n, 3n]);
    net.node(1n).rawNode.proposeConfChange(new ConfChangeV2());
    net.stabilize();
    assert.deepEqual(net.node(1n).confState.votersOutgoing, []);
  });
});
