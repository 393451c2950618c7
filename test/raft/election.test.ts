// Leader election (Raft paper §5.2, §5.4.1; thesis §4.2.1 learners, §9.6
// pre-vote and leader lease, §6.2 check quorum).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfChange,
  ConfChangeType,
  Entry,
  EntryType,
  HardState,
  type Message,
  type MessageType,
  None,
  StateType,
} from "../../src/index.ts";
import type { Raft } from "../../src/internal.ts";
import { Network } from "../../src/rafttest/index.ts";
import { encodeConfChange } from "../../src/wire.ts";
import {
  hup,
  MsgApp,
  MsgAppResp,
  MsgHeartbeat,
  MsgPreVote,
  MsgPreVoteResp,
  MsgVote,
  MsgVoteResp,
  msg,
  newRaft,
  newStorage,
  ofType,
  raftWith,
  readMessages,
  storageWithTerms,
  tickN,
} from "../support/raft.ts";

const { StateFollower, StateCandidate, StateLeader, StatePreCandidate } = StateType;

function voteResp(
  from: bigint,
  to: bigint,
  term: number,
  granted: boolean,
  type: MessageType = MsgVoteResp,
): Message {
  return msg({ type, from, to, term, reject: !granted });
}

describe("election basics (§5.2)", () => {
  test("a server starts as a follower at term 0 with no vote and no leader (§5.2)", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    assert.equal(r.state, StateFollower);
    assert.equal(r.term, 0);
    assert.equal(r.vote, None);
    assert.equal(r.lead, None);
  });

  test("a follower that hears nothing for an election timeout becomes candidate: term+1, votes for itself, asks every voter (§5.2)", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    tickN(r, 2 * 10 - 1);
    assert.equal(r.state, StateCandidate);
    assert.equal(r.term, 1);
    assert.equal(r.vote, 1n);
    const msgs = readMessages(r);
    assert.deepEqual(
      msgs.map((m) => [m.type, m.from, m.to, m.term, m.index, m.logTerm]),
      [
        [MsgVote, 1n, 2n, 1, 0, 0],
        [MsgVote, 1n, 3n, 1, 0, 0],
      ],
    );
    // The self-vote counts once persisted.
    assert.equal(r.trk.votes.get(1n), true);
  });

  test("a candidate whose election times out starts a new election at the next term (§5.2)", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    tickN(r, 19);
    assert.equal(r.term, 1);
    readMessages(r);
    tickN(r, 20);
    assert.equal(r.state, StateCandidate);
    assert.equal(r.term, 2);
    assert.equal(ofType(readMessages(r), MsgVote).length, 2);
  });

  const oneRound: Array<[number, Record<number, boolean>, StateType]> = [
    [1, {}, StateLeader],
    [3, { 2: true, 3: true }, StateLeader],
    [3, { 2: true }, StateLeader],
    [5, { 2: true, 3: true, 4: true, 5: true }, StateLeader],
    [5, { 2: true, 3: true, 4: true }, StateLeader],
    [5, { 2: true, 3: true }, StateLeader],
    [3, { 2: false, 3: false }, StateFollower],
    [5, { 2: false, 3: false, 4: false, 5: false }, StateFollower],
    [5, { 2: true, 3: false, 4: false, 5: false }, StateFollower],
    [3, {}, StateCandidate],
    [5, { 2: true }, StateCandidate],
    [5, { 2: false, 3: false }, StateCandidate],
    [5, {}, StateCandidate],
  ];
  for (const [size, votes, want] of oneRound) {
    test(`a candidate wins with a majority, loses to a majority of rejections, else waits (§5.2): ${size} voters, votes ${JSON.stringify(votes)}`, () => {
      const ids = Array.from({ length: size }, (_, i) => BigInt(i + 1));
      const r = raftWith(1n, ids);
      r.step(hup(1n));
      readMessages(r);
      for (const [id, v] of Object.entries(votes)) r.step(voteResp(BigInt(id), 1n, r.term, v));
      assert.equal(r.state, want);
      assert.equal(r.term, 1);
    });
  }

  const followerVotes: Array<[bigint, bigint, boolean]> = [
    [None, 2n, false],
    [None, 3n, false],
    [2n, 2n, false],
    [3n, 3n, false],
    [2n, 3n, true],
    [3n, 2n, true],
  ];
  for (const [vote, from, reject] of followerVotes) {
    test(`vote granted at most once per term, first-come-first-served (§5.2): voted ${vote}, request from ${from} ${reject ? "rejected" : "granted"}`, () => {
      const r = raftWith(1n, [1n, 2n, 3n]);
      r.loadState(new HardState(1, vote, 0));
      r.step(msg({ type: MsgVote, from, to: 1n, term: 1 }));
      const msgs = readMessages(r);
      assert.deepEqual(
        msgs.map((m) => [m.type, m.from, m.to, m.term, m.reject]),
        [[MsgVoteResp, 1n, from, 1, reject]],
      );
      assert.equal(r.vote, reject ? vote : from);
    });
  }

  test("vote granted at most once per term: the vote survives a restart from the persisted HardState (§5.2)", () => {
    const s = newStorage([1n, 2n, 3n]);
    const r = newRaft(1n, s);
    r.step(msg({ type: MsgVote, from: 2n, to: 1n, term: 5 }));
    readMessages(r);
    s.setHardState(r.hardState());
    const restarted = newRaft(1n, s);
    assert.equal(restarted.term, 5);
    assert.equal(restarted.vote, 2n);
    restarted.step(msg({ type: MsgVote, from: 3n, to: 1n, term: 5 }));
    const [resp] = readMessages(restarted);
    assert.equal(resp!.reject, true);
  });

  test("a follower that knows the leader of the term refuses to vote for another node in that term (§5.2)", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    r.step(msg({ type: MsgHeartbeat, from: 2n, to: 1n, term: 1 }));
    assert.equal(r.lead, 2n);
    assert.equal(r.vote, None);
    r.step(msg({ type: MsgVote, from: 3n, to: 1n, term: 1 }));
    const resp = ofType(readMessages(r), MsgVoteResp);
    assert.equal(resp.length, 1);
    assert.equal(resp[0]!.reject, true);
  });

  test("a candidate that receives AppendEntries from a leader of its term or newer returns to follower (§5.2)", () => {
    for (const term of [1, 2]) {
      const r = raftWith(1n, [1n, 2n, 3n]);
      r.step(hup(1n));
      assert.equal(r.state, StateCandidate);
      r.step(msg({ type: MsgApp, from: 2n, to: 1n, term }));
      assert.equal(r.state, StateFollower);
      assert.equal(r.term, term);
      assert.equal(r.lead, 2n);
    }
  });

  test("any message with a higher term makes the receiver adopt it and become follower (§5.1)", () => {
    const setups: Array<(r: Raft) => void> = [
      () => {},
      (r) => r.becomeCandidate(),
      (r) => {
        r.becomeCandidate();
        r.becomeLeader();
      },
    ];
    for (const setup of setups) {
      for (const [type, wantLead] of [
        [MsgApp, 2n],
        [MsgHeartbeat, 2n],
        [MsgVote, None],
      ] as const) {
        const r = raftWith(1n, [1n, 2n, 3n]);
        setup(r);
        r.step(msg({ type, from: 2n, to: 1n, term: 5, logTerm: 5, index: 10 }));
        assert.equal(r.state, StateFollower);
        assert.equal(r.term, 5);
        assert.equal(r.lead, wantLead);
      }
    }
  });

  test("messages with a stale term are ignored (§5.1)", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    r.loadState(new HardState(2, 0n, 0));
    r.step(msg({ type: MsgApp, from: 2n, to: 1n, term: 1, entries: [new Entry(1, 1)] }));
    assert.equal(r.raftLog.lastIndex(), 0);
    assert.equal(r.term, 2);
    assert.equal(r.lead, None);
  });

  // etcd answers only with CheckQuorum or PreVote; we answer always (a member
  // that may not campaign otherwise never rejoins: see test/raft/sim-found.test.ts).
  test("a stale-term AppendEntries/heartbeat is answered so the stale leader learns the new term", () => {
    for (const opts of [{}, { checkQuorum: true }, { preVote: true }]) {
      const r = raftWith(1n, [1n, 2n, 3n], opts);
      r.loadState(new HardState(2, 0n, 0));
      for (const type of [MsgApp, MsgHeartbeat]) {
        r.step(msg({ type, from: 2n, to: 1n, term: 1 }));
        assert.deepEqual(
          readMessages(r).map((m) => [m.type, m.to, m.term]),
          [[MsgAppResp, 2n, 2]],
        );
      }
    }
  });

  test("a leader ignores MsgHup", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    r.becomeCandidate();
    r.becomeLeader();
    r.step(hup(1n));
    assert.equal(r.state, StateLeader);
    assert.equal(r.term, 1);
  });

  test("a single voter elects itself as soon as it campaigns, with or without pre-vote", () => {
    for (const preVote of [false, true]) {
      const r = raftWith(1n, [1n], { preVote });
      r.step(hup(1n));
      readMessages(r);
      assert.equal(r.state, StateLeader);
      assert.equal(r.term, 1);
    }
  });

  test("stale vote responses from an earlier term do not count toward the election", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    r.step(hup(1n));
    readMessages(r);
    r.step(hup(1n)); // times out again: term 2
    readMessages(r);
    assert.equal(r.term, 2);
    r.step(voteResp(2n, 1n, 1, true));
    assert.equal(r.state, StateCandidate);
    r.step(voteResp(2n, 1n, 2, true));
    assert.equal(r.state, StateLeader);
  });

  test("a vote is counted once per voter: a repeated grant does not make a majority", () => {
    const r = raftWith(1n, [1n, 2n, 3n, 4n, 5n]);
    r.step(hup(1n));
    readMessages(r);
    r.step(voteResp(2n, 1n, 1, true));
    r.step(voteResp(2n, 1n, 1, true));
    r.step(voteResp(2n, 1n, 1, true));
    assert.equal(r.state, StateCandidate);
    r.step(voteResp(3n, 1n, 1, true));
    assert.equal(r.state, StateLeader);
  });
});

describe("election timeouts (§5.2)", () => {
  test("randomized election timeouts cover [electionTick, 2*electionTick)", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      r.becomeFollower(r.term + 1, None);
      seen.add(r.randomizedElectionTimeout);
    }
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      Array.from({ length: 10 }, (_, i) => 10 + i),
    );
  });

  test("a follower campaigns exactly when its randomized timeout elapses", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    for (let round = 0; round < 20; round++) {
      r.becomeFollower(r.term, None);
      const timeout = r.randomizedElectionTimeout;
      tickN(r, timeout - 1);
      assert.equal(r.state, StateFollower, `round ${round}`);
      r.tick();
      assert.equal(r.state, StateCandidate, `round ${round}`);
      readMessages(r);
    }
  });

  test("randomized timeouts make simultaneous timeouts of several followers uncommon (§5.2)", () => {
    const rs = [1n, 2n, 3n, 4n, 5n].map((id) => raftWith(id, [1n, 2n, 3n, 4n, 5n]));
    let conflicts = 0;
    const rounds = 1000;
    for (let i = 0; i < rounds; i++) {
      const timeouts = rs.map((r) => {
        r.becomeFollower(r.term + 1, None);
        return r.randomizedElectionTimeout;
      });
      const min = Math.min(...timeouts);
      if (timeouts.filter((t) => t === min).length > 1) conflicts++;
    }
    assert.ok(conflicts / rounds <= 0.3, `conflict rate ${conflicts / rounds}`);
  });
});

describe("election restriction (§5.4.1)", () => {
  // [our log terms, candidate's last log term, candidate's last index, granted]
  const cases: Array<[number[], number, number, boolean]> = [
    [[1], 1, 1, true],
    [[1], 1, 2, true],
    [[1, 1], 1, 1, false],
    [[1], 2, 1, true],
    [[1, 1], 2, 1, true],
    [[2], 1, 1, false],
    [[2], 1, 5, false],
    [[1, 2], 1, 3, false],
    [[1, 2], 2, 2, true],
    [[], 0, 0, true],
    [[1], 0, 0, false],
  ];
  for (const [terms, logTerm, index, granted] of cases) {
    test(`a voter grants only candidates whose log is at least as up to date (§5.4.1): ours ${JSON.stringify(terms)}, candidate (term ${logTerm}, index ${index})`, () => {
      const r = newRaft(1n, storageWithTerms([1n, 2n], ...terms));
      r.step(msg({ type: MsgVote, from: 2n, to: 1n, term: 3, logTerm, index }));
      const resp = ofType(readMessages(r), MsgVoteResp);
      assert.equal(resp.length, 1);
      assert.equal(resp[0]!.reject, !granted);
      assert.equal(resp[0]!.term, 3);
      assert.equal(r.vote, granted ? 2n : None);
    });
  }

  test("a candidate missing a committed entry cannot become leader (§5.4.1)", () => {
    const net = new Network({ voters: [1n, 2n, 3n] });
    net.elect(1n);
    net.cut(1n, 3n);
    net.propose(1n, "committed");
    net.stabilize();
    assert.deepEqual(net.appliedData(1n), ["committed"]);
    net.heal();
    net.isolate(1n);
    // 3 has the shorter log: it cannot win, however often it tries.
    for (let i = 0; i < 5; i++) {
      net.campaign(3n);
      assert.notEqual(net.raft(3n).state, StateLeader);
      assert.equal(net.raft(2n).vote === 3n, false);
    }
    // 2 has the entry and wins.
    net.campaign(2n);
    assert.equal(net.raft(2n).state, StateLeader);
    net.heal();
    net.stabilize();
    assert.deepEqual(net.appliedData(3n), ["committed"]);
  });
});

describe("leader election in a cluster", () => {
  test("a candidate becomes leader when a majority of the cluster is up", () => {
    const net = new Network({ voters: [1n, 2n, 3n, 4n, 5n] });
    net.isolate(4n);
    net.isolate(5n);
    net.campaign(1n);
    assert.equal(net.raft(1n).state, StateLeader);
    assert.equal(net.raft(2n).lead, 1n);
    assert.equal(net.raft(3n).lead, 1n);
  });

  test("a candidate that reaches only a minority stays candidate", () => {
    const net = new Network({ voters: [1n, 2n, 3n, 4n, 5n] });
    net.isolate(3n);
    net.isolate(4n);
    net.isolate(5n);
    net.campaign(1n);
    assert.equal(net.raft(1n).state, StateCandidate);
    assert.equal(net.raft(1n).term, 1);
  });

  test("followers learn the leader from its first append; the leader commits an empty entry of its term (§5.2, §8)", () => {
    const net = new Network();
    net.elect(1n);
    for (const id of [1n, 2n, 3n]) {
      const r = net.raft(id);
      assert.equal(r.lead, 1n);
      assert.equal(r.term, 1);
      assert.equal(r.raftLog.committed, 1);
      assert.equal(r.raftLog.term(1), 1);
      assert.equal(r.raftLog.allEntries()[0]!.data.length, 0);
    }
  });

  test("a new election deposes the old leader once a candidate wins a later term (§5.2)", () => {
    const net = new Network();
    net.elect(1n);
    net.elect(2n);
    assert.equal(net.raft(1n).state, StateFollower);
    assert.equal(net.raft(1n).lead, 2n);
    assert.equal(net.raft(1n).term, 2);
  });

  test("leaders emerge from timeouts alone: ticking an idle cluster elects exactly one leader", () => {
    for (let seed = 1; seed <= 5; seed++) {
      const net = new Network({ voters: [1n, 2n, 3n, 4n, 5n], seed });
      for (let i = 0; i < 40 && net.leader() === None; i++) net.tickAndStabilize();
      const lead = net.leader();
      assert.notEqual(lead, None, `seed ${seed}`);
      for (const id of net.ids()) assert.equal(net.raft(id).lead, lead);
    }
  });

  test("a voter with unapplied committed conf changes does not campaign", () => {
    const s = newStorage([1n, 2n, 3n]);
    const cc = encodeConfChange(new ConfChange(ConfChangeType.ConfChangeAddNode, 4n));
    s.append([new Entry(1, 1, EntryType.EntryConfChange, cc), new Entry(1, 2)]);
    s.setHardState(new HardState(1, 0n, 2));
    const r = newRaft(1n, s);
    r.step(hup(1n));
    assert.equal(r.state, StateFollower);
    tickN(r, 100);
    assert.equal(r.state, StateFollower);
    r.appliedTo(2, 0);
    r.step(hup(1n));
    assert.equal(r.state, StateCandidate);
  });

  test("a node that is not in its own configuration never campaigns", () => {
    const r = newRaft(4n, newStorage([1n, 2n, 3n]));
    tickN(r, 100);
    r.step(hup(4n));
    assert.equal(r.state, StateFollower);
    assert.equal(r.term, 0);
    assert.deepEqual(readMessages(r), []);
  });
});

describe("learners (thesis §4.2.1)", () => {
  test("a learner never campaigns, however long it goes without a leader", () => {
    const net = new Network({ voters: [1n, 2n], learners: [3n] });
    net.tick(3n, 200);
    net.node(3n).rawNode.campaign();
    net.stabilize();
    const r = net.raft(3n);
    assert.equal(r.state, StateFollower);
    assert.equal(r.term, 0);
    assert.equal(r.isLearner, true);
    assert.equal(net.delivered.length, 0);
  });

  test("a learner's vote is not counted: a candidate needs a majority of voters", () => {
    const r = newRaft(1n, newStorage([1n, 2n], [3n]));
    r.step(hup(1n));
    const votes = ofType(readMessages(r), MsgVote);
    assert.deepEqual(
      votes.map((m) => m.to),
      [2n],
    );
    r.step(voteResp(3n, 1n, 1, true));
    assert.equal(r.state, StateCandidate);
    r.step(voteResp(2n, 1n, 1, true));
    assert.equal(r.state, StateLeader);
  });

  test("a learner grants a vote when asked (it may have been promoted without knowing it yet)", () => {
    const r = newRaft(2n, newStorage([1n], [2n]));
    assert.equal(r.isLearner, true);
    r.becomeFollower(1, None);
    r.step(msg({ type: MsgVote, from: 1n, to: 2n, term: 2, logTerm: 11, index: 11 }));
    const resp = ofType(readMessages(r), MsgVoteResp);
    assert.equal(resp.length, 1);
    assert.equal(resp[0]!.reject, false);
    assert.equal(r.vote, 1n);
  });

  test("a learner promoted to voter can campaign and win", () => {
    const net = new Network({ voters: [1n], learners: [2n] });
    net.elect(1n);
    net.campaign(2n);
    assert.equal(net.raft(2n).state, StateFollower);
    net.node(1n).rawNode.proposeConfChange(new ConfChange(ConfChangeType.ConfChangeAddNode, 2n));
    net.stabilize();
    assert.deepEqual(net.node(2n).confState.voters, [1n, 2n]);
    assert.equal(net.raft(2n).isLearner, false);
    net.campaign(2n);
    assert.equal(net.raft(2n).state, StateLeader);
    assert.equal(net.raft(1n).lead, 2n);
  });
});

describe("pre-vote (thesis §9.6)", () => {
  test("a pre-candidate asks for votes at term+1 without changing its own term or vote", () => {
    const r = raftWith(1n, [1n, 2n, 3n], { preVote: true });
    r.loadState(new HardState(3, 2n, 0));
    r.step(hup(1n));
    assert.equal(r.state, StatePreCandidate);
    assert.equal(r.term, 3);
    assert.equal(r.vote, 2n);
    const msgs = readMessages(r);
    assert.deepEqual(
      msgs.map((m) => [m.type, m.to, m.term]),
      [
        [MsgPreVote, 2n, 4],
        [MsgPreVote, 3n, 4],
      ],
    );
  });

  test("winning the pre-vote starts a real election at the next term", () => {
    const r = raftWith(1n, [1n, 2n, 3n], { preVote: true });
    r.step(hup(1n));
    readMessages(r);
    r.step(voteResp(2n, 1n, 1, true, MsgPreVoteResp));
    assert.equal(r.state, StateCandidate);
    assert.equal(r.term, 1);
    assert.equal(r.vote, 1n);
    assert.deepEqual(
      ofType(readMessages(r), MsgVote).map((m) => [m.to, m.term]),
      [
        [2n, 1],
        [3n, 1],
      ],
    );
  });

  test("losing the pre-vote returns to follower at the unchanged term", () => {
    const r = raftWith(1n, [1n, 2n, 3n], { preVote: true });
    r.step(hup(1n));
    readMessages(r);
    r.step(voteResp(2n, 1n, 0, false, MsgPreVoteResp));
    r.step(voteResp(3n, 1n, 0, false, MsgPreVoteResp));
    assert.equal(r.state, StateFollower);
    assert.equal(r.term, 0);
  });

  test("granting a pre-vote records no vote and does not adopt the higher term", () => {
    const r = raftWith(2n, [1n, 2n, 3n], { preVote: true });
    r.loadState(new HardState(1, 3n, 0));
    r.step(msg({ type: MsgPreVote, from: 1n, to: 2n, term: 2 }));
    const resp = ofType(readMessages(r), MsgPreVoteResp);
    assert.deepEqual(
      resp.map((m) => [m.to, m.term, m.reject]),
      [[1n, 2, false]],
    );
    assert.equal(r.term, 1);
    assert.equal(r.vote, 3n);
  });

  test("a pre-vote with a stale term is rejected explicitly at the voter's term", () => {
    const r = raftWith(2n, [1n, 2n, 3n], { preVote: true });
    r.loadState(new HardState(5, 0n, 0));
    r.step(msg({ type: MsgPreVote, from: 1n, to: 2n, term: 3 }));
    assert.deepEqual(
      readMessages(r).map((m) => [m.type, m.term, m.reject]),
      [[MsgPreVoteResp, 5, true]],
    );
  });

  test("a pre-vote rejection from a higher term makes the pre-candidate a follower at that term", () => {
    const r = raftWith(1n, [1n, 2n, 3n], { preVote: true });
    r.step(hup(1n));
    readMessages(r);
    r.step(voteResp(2n, 1n, 7, false, MsgPreVoteResp));
    assert.equal(r.state, StateFollower);
    assert.equal(r.term, 7);
  });

  test("a partitioned node with pre-vote never raises its term, and does not disrupt the leader when it rejoins", () => {
    const net = new Network({ config: { preVote: true } });
    net.elect(1n);
    net.propose(1n, "a");
    net.stabilize();
    net.isolate(3n);
    for (let i = 0; i < 100; i++) net.tickAndStabilize(1, [3n]);
    assert.equal(net.raft(3n).term, 1);
    assert.notEqual(net.raft(3n).state, StateLeader);
    net.heal();
    for (let i = 0; i < 30; i++) net.tickAndStabilize();
    assert.equal(net.leader(), 1n);
    for (const id of [1n, 2n, 3n]) assert.equal(net.raft(id).term, 1);
    assert.deepEqual(net.appliedData(3n), ["a"]);
  });

  test("without pre-vote, a rejoining partitioned node forces the cluster to its higher term", () => {
    const net = new Network();
    net.elect(1n);
    net.isolate(3n);
    net.propose(1n, "a");
    net.stabilize();
    for (let i = 0; i < 100; i++) net.tickAndStabilize(1, [3n]);
    const t3 = net.raft(3n).term;
    assert.ok(t3 > 1);
    net.heal();
    net.campaign(3n);
    // The leader stepped down to 3's term; 3 lacks "a", so it cannot win (§5.4.1).
    assert.ok(net.raft(1n).term >= t3);
    assert.notEqual(net.raft(3n).state, StateLeader);
  });

  test("a pre-vote for a later term is granted even by a node that voted in its current term", () => {
    const r = raftWith(2n, [1n, 2n, 3n], { preVote: true });
    r.loadState(new HardState(1, 3n, 0));
    r.step(msg({ type: MsgPreVote, from: 1n, to: 2n, term: 2 }));
    assert.equal(ofType(readMessages(r), MsgPreVoteResp)[0]!.reject, false);
    // ...but a pre-vote for the same term is not.
    r.step(msg({ type: MsgPreVote, from: 1n, to: 2n, term: 1 }));
    assert.equal(ofType(readMessages(r), MsgPreVoteResp)[0]!.reject, true);
  });

  test("pre-vote: a candidate with an outdated log is refused at the pre-vote stage (§5.4.1)", () => {
    const net = new Network({ config: { preVote: true } });
    net.elect(1n);
    net.cut(1n, 3n);
    net.propose(1n, "x");
    net.stabilize();
    net.heal();
    net.isolate(1n);
    net.campaign(3n);
    // 2 refuses (3 lacks "x"); 3 waits for 1, which it cannot reach, without touching any term.
    assert.equal(net.raft(3n).state, StatePreCandidate);
    assert.equal(net.raft(3n).term, 1);
    assert.equal(net.raft(2n).term, 1);
    assert.equal(net.raft(3n).trk.votes.get(2n), false);
  });
});

describe("check quorum and leader lease (thesis §6.2, §9.6)", () => {
  test("check quorum: a leader that hears from no quorum for an election timeout steps down", () => {
    const net = new Network({ config: { checkQuorum: true } });
    net.elect(1n);
    net.isolate(1n);
    for (let i = 0; i < 19; i++) net.tickAndStabilize(1, [1n]);
    assert.equal(net.raft(1n).state, StateLeader);
    net.tickAndStabilize(1, [1n]);
    assert.equal(net.raft(1n).state, StateFollower);
    assert.equal(net.raft(1n).term, 1);
    assert.equal(net.raft(1n).lead, None);
  });

  test("check quorum: a leader in contact with a quorum stays leader", () => {
    const net = new Network({ voters: [1n, 2n, 3n, 4n, 5n], config: { checkQuorum: true } });
    net.elect(1n);
    net.isolate(4n);
    net.isolate(5n);
    for (let i = 0; i < 100; i++) net.tickAndStabilize(1, [1n, 2n, 3n]);
    assert.equal(net.raft(1n).state, StateLeader);
    assert.equal(net.raft(1n).term, 1);
  });

  test("without check quorum, an isolated leader stays leader", () => {
    const net = new Network();
    net.elect(1n);
    net.isolate(1n);
    for (let i = 0; i < 100; i++) net.tickAndStabilize(1, [1n]);
    assert.equal(net.raft(1n).state, StateLeader);
  });

  test("leader lease: with check quorum, nodes that heard from the leader within the election timeout ignore vote requests", () => {
    const net = new Network({ config: { checkQuorum: true } });
    net.elect(1n);
    net.campaign(3n);
    assert.equal(net.raft(3n).state, StateCandidate);
    assert.equal(net.raft(3n).term, 2);
    assert.equal(net.raft(1n).state, StateLeader);
    assert.equal(net.raft(1n).term, 1);
    assert.equal(net.raft(2n).term, 1);
    assert.equal(net.raft(2n).vote, 1n);
  });

  test("leader lease: once a follower's lease expires, it grants the vote to the new candidate", () => {
    const net = new Network({ config: { checkQuorum: true } });
    net.elect(1n);
    const r2 = net.raft(2n);
    r2.randomizedElectionTimeout = 11; // do not let 2 campaign itself
    net.tick(2n, 10);
    net.campaign(3n);
    assert.equal(net.raft(3n).state, StateLeader);
    assert.equal(net.raft(3n).term, 2);
    assert.equal(r2.lead, 3n);
  });

  test("leader lease: a vote request of a leadership transfer is granted within the lease", () => {
    const net = new Network({ config: { checkQuorum: true } });
    net.elect(1n);
    net.node(1n).rawNode.transferLeader(2n);
    net.stabilize();
    assert.equal(net.raft(2n).state, StateLeader);
    assert.equal(net.raft(2n).term, 2);
    assert.equal(net.raft(1n).lead, 2n);
  });

  test("check quorum frees a stuck candidate: the higher-term candidate forces the leader to step down on its next append", () => {
    const net = new Network({ config: { checkQuorum: true } });
    net.elect(1n);
    net.isolate(1n);
    net.campaign(3n);
    net.campaign(3n);
    assert.equal(net.raft(3n).state, StateCandidate);
    assert.equal(net.raft(3n).term, 3);
    net.heal();
    // The leader's heartbeat is answered with 3's higher term.
    net.tickAndStabilize(1, [1n]);
    assert.equal(net.raft(1n).state, StateFollower);
    assert.equal(net.raft(1n).term, 3);
  });

  test("lease-based reads require check quorum", async () => {
    const { ConfigError, ReadOnlyOption } = await import("../../src/index.ts");
    assert.throws(
      () => raftWith(1n, [1n, 2n, 3n], { readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased }),
      (e: unknown) => e instanceof ConfigError && e.field === "readOnlyOption",
    );
    const r = raftWith(1n, [1n, 2n, 3n], {
      readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased,
      checkQuorum: true,
    });
    assert.equal(r.readOnly.option, ReadOnlyOption.ReadOnlyLeaseBased);
  });
});
