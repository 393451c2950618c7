// Membership changes (thesis chapter 4): single-server changes (V1),
// joint consensus (V2) with automatic and explicit leave, learners, one
// pending change at a time, and removing the leader.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfChange,
  ConfChangeError,
  ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  ConfChangeV2,
  ConfState,
  Entry,
  EntryType,
  ErrProposalDropped,
  HardState,
  MessageType,
  None,
  StateType,
} from "../../src/index.ts";
import { Network } from "../../src/rafttest/index.ts";
import { encodeConfChange, encodeConfChangeV2 } from "../../src/wire.ts";
import {
  becomeLeader,
  MsgAppResp,
  msg,
  newRaft,
  newStorage,
  raftWith,
  readMessages,
} from "../support/raft.ts";

const { StateLeader, StateFollower } = StateType;
const { ConfChangeAddNode, ConfChangeRemoveNode, ConfChangeAddLearnerNode } = ConfChangeType;
const cc1 = (type: ConfChangeType, id: bigint) => new ConfChange(type, id);
const single = (type: ConfChangeType, id: bigint) => new ConfChangeSingle(type, id);

/** A network of voters [1,2,3] led by 1, plus node 4 created with a config that already includes it. */
function withJoiner(joinAs: "voter" | "learner"): Network {
  const net = new Network();
  net.elect(1n);
  const cs = joinAs === "voter" ? new ConfState([1n, 2n, 3n, 4n]) : new ConfState([1n, 2n, 3n], [4n]);
  net.addNode(4n, cs);
  return net;
}

describe("single-server changes (V1)", () => {
  test("adding a voter: once the change is applied everywhere, the new node replicates the whole log", () => {
    const net = withJoiner("voter");
    net.propose(1n, "before");
    net.stabilize();
    net.node(1n).rawNode.proposeConfChange(cc1(ConfChangeAddNode, 4n));
    net.stabilize();
    for (const id of [1n, 2n, 3n]) assert.deepEqual(net.node(id).confState.voters, [1n, 2n, 3n, 4n]);
    net.propose(1n, "after");
    net.tickAndStabilize(2);
    assert.deepEqual(net.appliedData(4n), ["before", "after"]);
    assert.deepEqual(net.raft(1n).trk.voterNodes(), [1n, 2n, 3n, 4n]);
  });

  test("the new voter counts toward the quorum: with two of four voters down nothing commits", () => {
    const net = withJoiner("voter");
    net.node(1n).rawNode.proposeConfChange(cc1(ConfChangeAddNode, 4n));
    net.stabilize();
    net.isolate(3n);
    net.isolate(4n);
    net.propose(1n, "x");
    net.stabilize();
    assert.deepEqual(net.appliedData(1n), []);
    net.heal();
    net.tickAndStabilize(1);
    assert.deepEqual(net.appliedData(1n), ["x"]);
  });

  test("removing a voter shrinks the quorum, so pending entries can commit without it", () => {
    const s = newStorage([1n, 2n]);
    const r = newRaft(1n, s, { electionTick: 5 });
    becomeLeader(r);
    const cc = cc1(ConfChangeRemoveNode, 2n);
    r.step(
      msg({
        type: MessageType.MsgProp,
        from: 1n,
        to: 1n,
        entries: [new Entry(0, 0, EntryType.EntryConfChange, encodeConfChange(cc))],
      }),
    );
    readMessages(r);
    const ccIndex = r.raftLog.lastIndex();
    r.step(
      msg({
        type: MessageType.MsgProp,
        from: 1n,
        to: 1n,
        entries: [new Entry(0, 0, 0, new Uint8Array([1]))],
      }),
    );
    readMessages(r);
    r.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: r.term, index: ccIndex }));
    assert.equal(r.raftLog.committed, ccIndex);
    r.applyConfChange(new ConfChangeV2([single(ConfChangeRemoveNode, 2n)]));
    // With 1 as the only voter, the proposal after the change commits.
    assert.equal(r.raftLog.committed, ccIndex + 1);
  });

  test("a removed node keeps running but the cluster commits without it", () => {
    const net = new Network();
    net.elect(1n);
    net.node(1n).rawNode.proposeConfChange(cc1(ConfChangeRemoveNode, 3n));
    net.stabilize();
    for (const id of [1n, 2n]) assert.deepEqual(net.node(id).confState.voters, [1n, 2n]);
    net.isolate(3n);
    net.propose(1n, "x");
    net.stabilize();
    assert.deepEqual(net.appliedData(2n), ["x"]);
    // 3 is not a member any more: the leader sends it nothing.
    const before = net.delivered.length;
    net.heal();
    net.tickAndStabilize(3);
    assert.ok(net.delivered.slice(before).every((m) => m.to !== 3n));
  });

  test("applying a change returns the new ConfState; removing the last voter is refused", () => {
    const r = raftWith(1n, [1n, 2n]);
    const cs = r.applyConfChange(new ConfChangeV2([single(ConfChangeRemoveNode, 2n)]));
    assert.deepEqual(cs.voters, [1n]);
    assert.throws(
      () => r.applyConfChange(new ConfChangeV2([single(ConfChangeRemoveNode, 1n)])),
      (e) => e instanceof ConfChangeError && /removed all voters/.test(e.message),
    );
    assert.deepEqual(r.trk.voterNodes(), [1n]);
  });

  test("adding a learner and promoting it, demoting and re-promoting the local node", () => {
    const r = raftWith(1n, [1n]);
    r.applyConfChange(new ConfChangeV2([single(ConfChangeAddLearnerNode, 2n)]));
    assert.equal(r.isLearner, false);
    assert.deepEqual(r.trk.learnerNodes(), [2n]);
    assert.equal(r.trk.progress.get(2n)!.isLearner, true);
    r.applyConfChange(new ConfChangeV2([single(ConfChangeAddNode, 2n)]));
    assert.equal(r.trk.progress.get(2n)!.isLearner, false);
    r.applyConfChange(new ConfChangeV2([single(ConfChangeAddLearnerNode, 1n)]));
    assert.equal(r.trk.progress.get(1n)!.isLearner, true);
    assert.equal(r.isLearner, true);
    r.applyConfChange(new ConfChangeV2([single(ConfChangeAddNode, 1n)]));
    assert.equal(r.isLearner, false);
  });

  test("a node is promotable only while it is a voter of its own configuration", () => {
    const cases: Array<[bigint[], boolean]> = [
      [[1n], true],
      [[1n, 2n, 3n], true],
      [[], false],
      [[2n, 3n], false],
    ];
    for (const [peers, want] of cases) assert.equal(raftWith(1n, peers).promotable(), want, `${peers}`);
  });

  test("a newly added voter counts as recently active, so check quorum does not depose the leader at once", () => {
    const r = raftWith(1n, [1n], { checkQuorum: true });
    becomeLeader(r);
    for (let i = 0; i < r.electionTimeout - 1; i++) r.tick();
    r.applyConfChange(new ConfChangeV2([single(ConfChangeAddNode, 2n)]));
    r.tick();
    assert.equal(r.state, StateLeader);
    for (let i = 0; i < r.electionTimeout; i++) r.tick();
    assert.equal(r.state, StateFollower);
  });
});

describe("one change at a time", () => {
  test("a conf change proposed while another is unapplied is replaced by an empty entry", () => {
    const r = raftWith(1n, [1n, 2n]);
    becomeLeader(r);
    const ccEntry = () =>
      new Entry(0, 0, EntryType.EntryConfChange, encodeConfChange(cc1(ConfChangeAddNode, 3n)));
    const index = r.raftLog.lastIndex();
    r.step(msg({ type: MessageType.MsgProp, from: 1n, to: 1n, entries: [ccEntry()] }));
    assert.equal(r.pendingConfIndex, index + 1);
    r.step(msg({ type: MessageType.MsgProp, from: 1n, to: 1n, entries: [ccEntry()] }));
    const second = r.raftLog.entries(index + 2, Number.POSITIVE_INFINITY);
    assert.deepEqual(
      second.map((e) => [e.type, e.data.length, e.index]),
      [[EntryType.EntryNormal, 0, index + 2]],
    );
    assert.equal(r.pendingConfIndex, index + 1);
  });

  test("a new leader treats every entry in its log as a possibly pending conf change", () => {
    for (const [extra, want] of [
      [false, 0],
      [true, 1],
    ] as const) {
      const r = raftWith(1n, [1n, 2n]);
      if (extra) r.appendEntry([new Entry()]);
      r.becomeCandidate();
      r.becomeLeader();
      assert.equal(r.pendingConfIndex, want);
    }
  });

  test("once the pending change is applied, the next one is accepted", () => {
    const net = new Network();
    net.elect(1n);
    net.node(1n).rawNode.proposeConfChange(cc1(ConfChangeAddLearnerNode, 4n));
    net.node(1n).rawNode.proposeConfChange(cc1(ConfChangeAddLearnerNode, 5n));
    net.stabilize();
    assert.deepEqual(net.node(1n).confState.learners, [4n]);
    net.node(1n).rawNode.proposeConfChange(cc1(ConfChangeAddLearnerNode, 5n));
    net.stabilize();
    assert.deepEqual(net.node(1n).confState.learners, [4n, 5n]);
  });
});

describe("joint consensus (V2)", () => {
  const replace3with4 = (transition: ConfChangeTransition) =>
    new ConfChangeV2([single(ConfChangeAddNode, 4n), single(ConfChangeRemoveNode, 3n)], transition);

  test("a multi-change V2 enters the joint config C_old,new and the leader leaves it automatically (§4.3)", () => {
    const net = withJoiner("voter");
    const lead = net.node(1n);
    lead.recordReadies = true;
    lead.rawNode.proposeConfChange(replace3with4(ConfChangeTransition.ConfChangeTransitionAuto));
    net.stabilize();
    const v2 = lead.appliedEntries.filter((e) => e.type === EntryType.EntryConfChangeV2);
    // The change itself and the automatic empty change that leaves the joint config.
    assert.equal(v2.length, 2);
    assert.equal(v2[1]!.data.length, 0);
    for (const id of [1n, 2n, 4n]) {
      const cs = net.node(id).confState;
      assert.deepEqual(cs.voters, [1n, 2n, 4n], `node ${id}`);
      assert.deepEqual(cs.votersOutgoing, []);
      assert.equal(cs.autoLeave, false);
    }
  });

  test("with an explicit transition the joint config is kept until an empty change is proposed", () => {
    const net = withJoiner("voter");
    net
      .node(1n)
      .rawNode.proposeConfChange(replace3with4(ConfChangeTransition.ConfChangeTransitionJointExplicit));
    net.tickAndStabilize(3);
    const cs = net.node(1n).confState;
    assert.deepEqual(cs.voters, [1n, 2n, 4n]);
    assert.deepEqual(cs.votersOutgoing, [1n, 2n, 3n]);
    assert.equal(cs.autoLeave, false);
    // Only a leave is accepted now.
    net.node(1n).rawNode.proposeConfChange(cc1(ConfChangeAddLearnerNode, 5n));
    net.stabilize();
    assert.deepEqual(net.node(1n).confState.learners, []);
    net.node(1n).rawNode.proposeConfChange(new ConfChangeV2());
    net.stabilize();
    assert.deepEqual(net.node(1n).confState.votersOutgoing, []);
    assert.deepEqual(net.node(1n).confState.voters, [1n, 2n, 4n]);
  });

  test("in a joint config an entry commits only with a majority of both the old and the new voters (§4.3)", () => {
    const net = new Network({ voters: [1n, 2n, 3n] });
    net.elect(1n);
    for (const id of [4n, 5n]) net.addNode(id, new ConfState([1n, 2n, 3n, 4n, 5n]));
    net
      .node(1n)
      .rawNode.proposeConfChange(
        new ConfChangeV2(
          [
            single(ConfChangeAddNode, 4n),
            single(ConfChangeAddNode, 5n),
            single(ConfChangeRemoveNode, 2n),
            single(ConfChangeRemoveNode, 3n),
          ],
          ConfChangeTransition.ConfChangeTransitionJointExplicit,
        ),
      );
    net.stabilize();
    assert.deepEqual(net.node(1n).confState.votersOutgoing, [1n, 2n, 3n]);
    assert.deepEqual(net.node(1n).confState.voters, [1n, 4n, 5n]);
    // Old majority (1,2,3) without the new one (4,5 down): nothing commits.
    net.isolate(4n);
    net.isolate(5n);
    net.propose(1n, "x");
    net.stabilize();
    assert.deepEqual(net.appliedData(1n), []);
    // New majority (1,4,5) without the old one (2,3 down): "x", already on
    // the old majority, now has both and commits; "y" has only the new one.
    net.heal();
    net.isolate(2n);
    net.isolate(3n);
    net.propose(1n, "y");
    net.tickAndStabilize(1, [1n]);
    assert.deepEqual(net.appliedData(1n), ["x"]);
    assert.equal(net.raft(4n).raftLog.lastIndex(), net.raft(1n).raftLog.lastIndex());
    // Both majorities: everything commits.
    net.heal();
    net.tickAndStabilize(2);
    assert.deepEqual(net.appliedData(1n), ["x", "y"]);
  });

  test("an election in a joint config needs a majority of both halves", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    r.applyConfChange(
      new ConfChangeV2(
        [single(ConfChangeAddNode, 4n), single(ConfChangeAddNode, 5n), single(ConfChangeRemoveNode, 3n)],
        ConfChangeTransition.ConfChangeTransitionJointExplicit,
      ),
    );
    r.step(msg({ type: MessageType.MsgHup, from: 1n, to: 1n }));
    readMessages(r);
    r.step(msg({ type: MessageType.MsgVoteResp, from: 2n, to: 1n, term: 1 }));
    // 1,2 of old (1,2,3) but only 1,2 of new (1,2,4,5): not yet.
    assert.equal(r.state, StateType.StateCandidate);
    r.step(msg({ type: MessageType.MsgVoteResp, from: 4n, to: 1n, term: 1 }));
    assert.equal(r.state, StateLeader);
  });

  test("demoting a voter to learner goes through learnersNext and takes effect when the joint config is left", () => {
    const net = new Network();
    net.elect(1n);
    net
      .node(1n)
      .rawNode.proposeConfChange(
        new ConfChangeV2(
          [single(ConfChangeRemoveNode, 3n), single(ConfChangeAddLearnerNode, 3n)],
          ConfChangeTransition.ConfChangeTransitionJointExplicit,
        ),
      );
    net.stabilize();
    let cs = net.node(1n).confState;
    assert.deepEqual(
      [cs.voters, cs.votersOutgoing, cs.learners, cs.learnersNext],
      [[1n, 2n], [1n, 2n, 3n], [], [3n]],
    );
    net.node(1n).rawNode.proposeConfChange(new ConfChangeV2());
    net.stabilize();
    cs = net.node(3n).confState;
    assert.deepEqual([cs.voters, cs.votersOutgoing, cs.learners, cs.learnersNext], [[1n, 2n], [], [3n], []]);
    assert.equal(net.raft(3n).isLearner, true);
  });

  test("conf change validation: no new change while joint, no leave unless joint; disableConfChangeValidation skips the checks", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    becomeLeader(r);
    r.raftLog.commitTo(r.raftLog.lastIndex());
    r.appliedTo(r.raftLog.lastIndex(), 0);
    const prop = (cc: ConfChangeV2 | null) => {
      const before = r.raftLog.lastIndex();
      const e =
        cc === null
          ? new Entry(0, 0, EntryType.EntryConfChangeV2)
          : new Entry(0, 0, EntryType.EntryConfChangeV2, encodeConfChangeV2(cc));
      r.step(msg({ type: MessageType.MsgProp, from: 1n, to: 1n, entries: [e] }));
      const [added] = r.raftLog.entries(before + 1, Number.POSITIVE_INFINITY);
      return added!.type;
    };
    // A leave outside a joint config becomes an empty normal entry.
    assert.equal(prop(null), EntryType.EntryNormal);
    const loose = raftWith(1n, [1n, 2n, 3n], { disableConfChangeValidation: true });
    becomeLeader(loose);
    const before = loose.raftLog.lastIndex();
    loose.step(
      msg({
        type: MessageType.MsgProp,
        from: 1n,
        to: 1n,
        entries: [new Entry(0, 0, EntryType.EntryConfChangeV2)],
      }),
    );
    assert.equal(
      loose.raftLog.entries(before + 1, Number.POSITIVE_INFINITY)[0]!.type,
      EntryType.EntryConfChangeV2,
    );
  });
});

describe("removing the leader", () => {
  test("without stepDownOnRemoval, a removed leader stays leader until the others elect a new one, and drops proposals", () => {
    const net = new Network();
    net.elect(1n);
    net.node(1n).rawNode.proposeConfChange(cc1(ConfChangeRemoveNode, 1n));
    net.stabilize();
    assert.equal(net.raft(1n).state, StateLeader);
    assert.throws(
      () => net.propose(1n, "x"),
      (e) => e === ErrProposalDropped,
    );
    net.isolate(1n);
    for (let i = 0; i < 30 && net.leader() === 1n; i++) net.tickAndStabilize(1, [2n, 3n]);
    assert.notEqual(net.leader(), 1n);
    const lead = net.leader();
    assert.ok(lead === 2n || lead === 3n);
    net.propose(lead, "y");
    net.stabilize();
    assert.deepEqual(net.appliedData(lead === 2n ? 3n : 2n), ["y"]);
  });

  test("with stepDownOnRemoval, the leader steps down as soon as it applies its own removal", () => {
    const net = new Network({ config: { stepDownOnRemoval: true } });
    net.elect(1n);
    net.node(1n).rawNode.proposeConfChange(cc1(ConfChangeRemoveNode, 1n));
    net.stabilize();
    assert.equal(net.raft(1n).state, StateFollower);
    assert.equal(net.raft(1n).lead, None);
    for (let i = 0; i < 30 && net.leader() === None; i++) net.tickAndStabilize(1, [2n, 3n]);
    assert.ok([2n, 3n].includes(net.leader()));
  });

  test("with stepDownOnRemoval, a leader demoted to learner steps down too", () => {
    const net = new Network({ config: { stepDownOnRemoval: true } });
    net.elect(1n);
    net
      .node(1n)
      .rawNode.proposeConfChange(
        new ConfChangeV2([single(ConfChangeRemoveNode, 1n), single(ConfChangeAddLearnerNode, 1n)]),
      );
    net.stabilize();
    // The joint config has 1 in learnersNext: still a voter of the outgoing half.
    for (let i = 0; i < 40 && net.raft(1n).state === StateLeader; i++) net.tickAndStabilize(1);
    assert.equal(net.raft(1n).state, StateFollower);
    assert.equal(net.raft(1n).isLearner, true);
  });

  test("a restarted node rebuilds its configuration from the persisted snapshot and log", () => {
    const net = new Network();
    net.elect(1n);
    net.node(1n).rawNode.proposeConfChange(cc1(ConfChangeAddLearnerNode, 4n));
    net.stabilize();
    net.compact(2n);
    const r = net.restart(2n);
    assert.deepEqual(r.raft.trk.learnerNodes(), [4n]);
    assert.deepEqual(r.confState.learners, [4n]);
    const s = newStorage([1n, 2n]);
    s.setHardState(new HardState(1, 0n, 0));
    assert.deepEqual(newRaft(1n, s).trk.voterNodes(), [1n, 2n]);
  });
});
