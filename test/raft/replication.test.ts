// Log replication and commitment (Raft paper §5.3, §5.4.2, Figures 7 and 8).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  Entry,
  HardState,
  type MemoryStorage,
  MessageType,
  None,
  ProgressStateType,
  StateType,
} from "../../src/index.ts";
import type { Raft } from "../../src/internal.ts";
import { Network } from "../../src/rafttest/index.ts";
import {
  becomeLeader,
  MsgApp,
  MsgAppResp,
  MsgBeat,
  MsgHeartbeat,
  MsgHeartbeatResp,
  msg,
  newRaft,
  newStorage,
  ofType,
  persistUnstable,
  prop,
  raftWith,
  readMessages,
  storageWithTerms,
  text,
} from "../support/raft.ts";

const { StateLeader, StateFollower } = StateType;

/** A leader of term 1 whose empty entry is acknowledged by every follower (all in StateReplicate). */
function leaderWithCommittedNoop(ids: bigint[]): Raft {
  const r = raftWith(1n, ids);
  becomeLeader(r);
  r.bcastAppend();
  readMessages(r);
  for (const id of ids) if (id !== 1n) r.step(msg({ type: MsgAppResp, from: id, to: 1n, term: 1, index: 1 }));
  readMessages(r);
  return r;
}

function appliedPayloads(r: Raft): string[] {
  const ents = r.raftLog.nextCommittedEnts(true);
  if (ents.length > 0) r.appliedTo(ents[ents.length - 1]!.index, 0);
  return ents.filter((e) => e.data.length > 0).map((e) => String.fromCharCode(...e.data));
}

describe("leader replication (§5.3)", () => {
  test("a leader appends a proposal to its log and sends it to every follower with the preceding entry's index and term (§5.3)", () => {
    const r = leaderWithCommittedNoop([1n, 2n, 3n]);
    r.step(prop(1n, "some data"));
    assert.equal(r.raftLog.lastIndex(), 2);
    const msgs = readMessages(r);
    assert.deepEqual(
      msgs.map((m) => [
        m.type,
        m.to,
        m.term,
        m.index,
        m.logTerm,
        m.commit,
        m.entries.map((e) => [e.term, e.index]),
      ]),
      [
        [MsgApp, 2n, 1, 1, 1, 1, [[1, 2]]],
        [MsgApp, 3n, 1, 1, 1, 1, [[1, 2]]],
      ],
    );
  });

  test("an entry commits once a majority stored it, and later appends carry the new commit index (§5.3)", () => {
    const r = leaderWithCommittedNoop([1n, 2n, 3n]);
    r.step(prop(1n, "some data"));
    readMessages(r);
    assert.equal(r.raftLog.committed, 1);
    r.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: 1, index: 2 }));
    assert.equal(r.raftLog.committed, 2);
    assert.deepEqual(appliedPayloads(r), ["some data"]);
    const msgs = readMessages(r);
    assert.deepEqual(
      msgs.map((m) => [m.type, m.to, m.commit]),
      [
        [MsgApp, 2n, 2],
        [MsgApp, 3n, 2],
      ],
    );
  });

  const acks: Array<[number, number[], boolean]> = [
    [1, [], true],
    [3, [], false],
    [3, [2], true],
    [3, [2, 3], true],
    [5, [], false],
    [5, [2], false],
    [5, [2, 3], true],
    [5, [2, 3, 4], true],
    [5, [2, 3, 4, 5], true],
  ];
  for (const [size, ackers, committed] of acks) {
    test(`an entry is committed exactly when a majority has acknowledged it (§5.3): ${size} voters, acks from ${JSON.stringify(ackers)}`, () => {
      const ids = Array.from({ length: size }, (_, i) => BigInt(i + 1));
      const r = raftWith(1n, ids);
      becomeLeader(r);
      const li = r.raftLog.lastIndex();
      r.step(prop(1n, "x"));
      readMessages(r);
      for (const id of ackers)
        r.step(msg({ type: MsgAppResp, from: BigInt(id), to: 1n, term: r.term, index: li + 1 }));
      assert.equal(r.raftLog.committed > li, committed);
    });
  }

  for (const terms of [[1], [1, 2], [1, 1, 2], [2, 2, 2]]) {
    test(`committing an entry of the current term commits every preceding entry, including earlier terms' (§5.3): earlier log ${JSON.stringify(terms)}`, () => {
      const s = storageWithTerms([1n, 2n, 3n], ...terms);
      s.setHardState(new HardState(2, 0n, 0));
      const r = newRaft(1n, s);
      becomeLeader(r);
      assert.equal(r.term, 3);
      r.step(prop(1n, "some data"));
      readMessages(r);
      const last = r.raftLog.lastIndex();
      for (const id of [2n, 3n]) r.step(msg({ type: MsgAppResp, from: id, to: 1n, term: 3, index: last }));
      assert.equal(r.raftLog.committed, last);
      const ents = r.raftLog.nextCommittedEnts(true);
      assert.deepEqual(
        ents.map((e) => e.term),
        [...terms, 3, 3],
      );
    });
  }

  test("a heartbeat carries min(match, commit) so a follower never commits past what it is known to hold", () => {
    const s = newStorage([1n, 2n, 3n]);
    const r = newRaft(1n, s);
    becomeLeader(r);
    for (let i = 0; i < 10; i++) r.appendEntry([new Entry()]);
    readMessages(r);
    r.raftLog.commitTo(r.raftLog.lastIndex());
    r.trk.progress.get(2n)!.match = 5;
    r.trk.progress.get(3n)!.match = r.raftLog.lastIndex();
    r.step(msg({ type: MsgBeat, from: 1n, to: 1n }));
    const hbs = readMessages(r);
    assert.deepEqual(
      hbs.map((m) => [m.type, m.to, m.commit, m.index, m.logTerm, m.entries.length]),
      [
        [MsgHeartbeat, 2n, 5, 0, 0, 0],
        [MsgHeartbeat, 3n, 11, 0, 0, 0],
      ],
    );
  });

  test("only a leader answers MsgBeat with heartbeats", () => {
    for (const [setup, want] of [
      [(r: Raft) => becomeLeader(r), 2],
      [(r: Raft) => r.becomeCandidate(), 0],
      [() => {}, 0],
    ] as const) {
      const r = raftWith(1n, [1n, 2n, 3n]);
      setup(r);
      readMessages(r);
      r.step(msg({ type: MsgBeat, from: 1n, to: 1n }));
      const msgs = readMessages(r);
      assert.equal(msgs.length, want);
      assert.ok(msgs.every((m) => m.type === MsgHeartbeat));
    }
  });

  test("a heartbeat response from a follower that is behind makes the leader resend entries", () => {
    const r = newRaft(1n, storageWithTerms([1n, 2n], 1, 2, 3));
    becomeLeader(r);
    r.raftLog.commitTo(r.raftLog.lastIndex());
    for (let i = 0; i < 2; i++) {
      r.step(msg({ type: MsgHeartbeatResp, from: 2n, to: 1n, term: r.term }));
      const msgs = readMessages(r);
      assert.deepEqual(
        msgs.map((m) => m.type),
        [MsgApp],
      );
      if (i === 1) {
        const m = msgs[0]!;
        r.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: r.term, index: m.index + m.entries.length }));
        readMessages(r);
      }
    }
    // Caught up: heartbeat responses no longer trigger appends.
    r.step(msg({ type: MsgHeartbeatResp, from: 2n, to: 1n, term: r.term }));
    assert.deepEqual(readMessages(r), []);
  });

  test("a single-voter cluster commits each proposal as soon as it is persisted", () => {
    const net = new Network({ voters: [1n] });
    net.elect(1n);
    net.propose(1n, "a");
    net.propose(1n, "b");
    net.stabilize();
    assert.equal(net.raft(1n).raftLog.committed, 3);
    assert.deepEqual(net.appliedData(1n), ["a", "b"]);
  });

  test("proposals at a follower are forwarded to the leader and committed everywhere", () => {
    const net = new Network();
    net.elect(1n);
    net.propose(2n, "via 2");
    net.propose(3n, "via 3");
    net.stabilize();
    for (const id of [1n, 2n, 3n]) assert.deepEqual(net.appliedData(id), ["via 2", "via 3"]);
  });

  test("the leader's own acknowledgement counts only once its entries are persisted", () => {
    const r = raftWith(1n, [1n]);
    becomeLeader(r);
    r.step(prop(1n, "x"));
    // Not yet persisted: the self-ack is still pending.
    assert.equal(r.trk.progress.get(1n)!.match, 1);
    assert.equal(r.raftLog.committed, 1);
    readMessages(r);
    assert.equal(r.trk.progress.get(1n)!.match, 2);
    assert.equal(r.raftLog.committed, 2);
  });
});

describe("follower append handling (§5.3)", () => {
  /** A follower at term 2 whose log is (1,1),(2,2) with commit `commit`. */
  function follower(commit = 0): Raft {
    const s = storageWithTerms([1n, 2n], 1, 2);
    const r = newRaft(1n, s);
    r.becomeFollower(2, 2n);
    r.raftLog.commitTo(commit);
    return r;
  }

  // [logTerm, index, entries (term,index), commit] -> [last index, committed, reject]
  const cases: Array<[string, number, number, Array<[number, number]>, number, number, number, boolean]> = [
    ["previous entry has another term", 3, 2, [], 3, 2, 0, true],
    ["previous entry does not exist", 3, 3, [], 3, 2, 0, true],
    ["empty append matching entry 1", 1, 1, [], 1, 2, 1, false],
    ["conflict at index 1 replaces the whole log", 0, 0, [[2, 1]], 1, 1, 1, false],
    [
      "new entries are appended after a match",
      2,
      2,
      [
        [2, 3],
        [2, 4],
      ],
      3,
      4,
      3,
      false,
    ],
    ["commit is capped by the leader's commit", 2, 2, [[2, 3]], 4, 3, 3, false],
    ["conflicting entry 2 is replaced", 1, 1, [[2, 2]], 4, 2, 2, false],
    ["commit capped at the last new entry (match only)", 1, 1, [], 3, 2, 1, false],
    ["commit capped at the last new entry", 2, 2, [], 4, 2, 2, false],
  ];
  for (const [name, logTerm, index, ents, commit, wLast, wCommit, wReject] of cases) {
    test(`a follower accepts an append only if it holds the preceding entry, and commits min(leader commit, last new index) (§5.3): ${name}`, () => {
      const r = follower();
      r.step(
        msg({
          type: MsgApp,
          from: 2n,
          to: 1n,
          term: 2,
          logTerm,
          index,
          commit,
          entries: ents.map(([t, i]) => new Entry(t, i)),
        }),
      );
      assert.equal(r.raftLog.lastIndex(), wLast);
      assert.equal(r.raftLog.committed, wCommit);
      const resp = ofType(readMessages(r), MsgAppResp);
      assert.equal(resp.length, 1);
      assert.equal(resp[0]!.reject, wReject);
    });
  }

  test("a follower deletes a conflicting entry and everything after it, then appends the new ones (§5.3)", () => {
    const cases: Array<[number, number, number[], number[]]> = [
      // prev index, prev term, new entries' terms (from prev+1), resulting log terms
      [2, 2, [3], [1, 2, 3]],
      [1, 1, [3, 4], [1, 3, 4]],
      [0, 0, [1], [1, 2]],
      [0, 0, [3], [3]],
    ];
    for (const [index, logTerm, terms, want] of cases) {
      const r = newRaft(1n, storageWithTerms([1n, 2n, 3n], 1, 2));
      r.becomeFollower(2, None);
      r.step(
        msg({
          type: MsgApp,
          from: 2n,
          to: 1n,
          term: 2,
          logTerm,
          index,
          entries: terms.map((t, i) => new Entry(t, index + 1 + i)),
        }),
      );
      assert.deepEqual(
        r.raftLog.allEntries().map((e) => e.term),
        want,
        `append after (${index},${logTerm})`,
      );
    }
  });

  test("a rejected append reports the largest index <= the probe whose term is <= the probe's term (fast backtracking)", () => {
    const r = follower(1);
    const cases: Array<[number, number, boolean, number, number, number]> = [
      // logTerm, index, reject, resp index, rejectHint, hint term
      [0, 0, false, 1, 0, 0],
      [1, 1, false, 1, 0, 0],
      [2, 2, false, 2, 0, 0],
      [1, 2, true, 2, 1, 1],
      [3, 3, true, 3, 2, 2],
    ];
    for (const [logTerm, index, reject, wIndex, hint, hintTerm] of cases) {
      r.step(msg({ type: MsgApp, from: 2n, to: 1n, term: 2, logTerm, index }));
      const [m] = readMessages(r);
      assert.deepEqual(
        [m!.type, m!.reject, m!.index, m!.rejectHint, m!.logTerm],
        [MsgAppResp, reject, wIndex, reject ? hint : 0, reject ? hintTerm : 0],
        `probe (${logTerm}, ${index})`,
      );
    }
  });

  test("an append below the commit index is answered with the commit index", () => {
    const r = newRaft(1n, storageWithTerms([1n, 2n], 1, 1, 1));
    r.becomeFollower(1, 2n);
    r.raftLog.commitTo(3);
    r.step(
      msg({ type: MsgApp, from: 2n, to: 1n, term: 1, logTerm: 1, index: 1, entries: [new Entry(1, 2)] }),
    );
    const [m] = readMessages(r);
    assert.equal(m!.reject, false);
    assert.equal(m!.index, 3);
  });

  test("a duplicated append is idempotent", () => {
    const r = newRaft(1n, newStorage([1n, 2n]));
    r.becomeFollower(1, 2n);
    const m = msg({
      type: MsgApp,
      from: 2n,
      to: 1n,
      term: 1,
      logTerm: 0,
      index: 0,
      entries: [new Entry(1, 1), new Entry(1, 2)],
    });
    r.step(m);
    readMessages(r);
    r.step(m.clone());
    const [resp] = readMessages(r);
    assert.equal(resp!.index, 2);
    assert.deepEqual(
      r.raftLog.allEntries().map((e) => [e.term, e.index]),
      [
        [1, 1],
        [1, 2],
      ],
    );
  });

  test("a follower commits from a heartbeat but never lowers its commit index", () => {
    for (const [commit, want] of [
      [3, 3],
      [1, 2],
    ]) {
      const r = newRaft(1n, storageWithTerms([1n, 2n], 1, 2, 3));
      r.becomeFollower(2, 2n);
      r.raftLog.commitTo(2);
      r.step(msg({ type: MsgHeartbeat, from: 2n, to: 1n, term: 2, commit }));
      assert.equal(r.raftLog.committed, want);
      assert.deepEqual(
        readMessages(r).map((m) => m.type),
        [MsgHeartbeatResp],
      );
    }
  });

  test("a stale append from an old leader is ignored (§5.1)", () => {
    const net = new Network();
    net.elect(1n);
    net.elect(2n);
    net.elect(1n);
    assert.equal(net.raft(1n).term, 3);
    net
      .node(1n)
      .rawNode.step(
        msg({ type: MsgApp, from: 2n, to: 1n, term: 2, logTerm: 2, index: 2, entries: [new Entry(2, 3)] }),
      );
    net.propose(1n, "somedata");
    net.stabilize();
    for (const id of [1n, 2n, 3n]) {
      assert.deepEqual(
        net
          .raft(id)
          .raftLog.allEntries()
          .map((e) => e.term),
        [1, 2, 3, 3],
      );
      assert.deepEqual(net.appliedData(id), ["somedata"]);
    }
  });
});

describe("log matching and leader completeness (§5.3, §5.4)", () => {
  // Figure 7 of the paper: the leader of term 8 and six possible follower logs.
  const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, terms] of Object.entries(followers)) {
    test(`the leader forces a follower's log to match its own, keeping the common prefix (§5.3, Figure 7 (${name}))`, () => {
      const net = new Network({ voters: [] });
      const make = (ts: number[], term: number) => {
        const s = storageWithTerms([1n, 2n, 3n], ...ts);
        s.setHardState(new HardState(term, 0n, 0));
        return s;
      };
      net.addNodeWithStorage(1n, make(leaderTerms, 8));
      net.addNodeWithStorage(2n, make(terms, 7));
      // A third voter with the leader's log guarantees the leader's election.
      net.addNodeWithStorage(3n, make(leaderTerms, 7));
      for (let i = 0; i < 3 && net.raft(1n).state !== StateLeader; i++) net.campaign(1n);
      assert.equal(net.raft(1n).state, StateLeader);
      net.propose(1n, "x");
      net.stabilize();
      const want = net.raft(1n).raftLog.allEntries();
      const got = net.raft(2n).raftLog.allEntries();
      assert.deepEqual(
        got.map((e) => [e.index, e.term]),
        want.map((e) => [e.index, e.term]),
      );
      // The leader never rewrote its own log (append-only).
      assert.deepEqual(
        want.slice(0, leaderTerms.length).map((e) => e.term),
        leaderTerms,
      );
    });
  }

  test("a newly elected leader with an older log overwrites newer uncommitted entries of others (§5.4.1)", () => {
    const net = new Network({ voters: [] });
    const mk = (terms: number[], hs: HardState) => {
      const s = storageWithTerms([1n, 2n, 3n, 4n, 5n], ...terms);
      s.setHardState(hs);
      return s;
    };
    net.addNodeWithStorage(1n, mk([1], new HardState(1, 0n, 0)));
    net.addNodeWithStorage(2n, mk([1], new HardState(1, 0n, 0)));
    net.addNodeWithStorage(3n, mk([2], new HardState(2, 0n, 0)));
    net.addNodeWithStorage(4n, mk([], new HardState(2, 3n, 0)));
    net.addNodeWithStorage(5n, mk([], new HardState(2, 3n, 0)));
    net.campaign(1n);
    // A quorum knows term 2 already: the first attempt only catches 1 up to it.
    assert.equal(net.raft(1n).state, StateFollower);
    assert.equal(net.raft(1n).term, 2);
    net.campaign(1n);
    assert.equal(net.raft(1n).state, StateLeader);
    assert.equal(net.raft(1n).term, 3);
    for (const id of net.ids()) {
      assert.deepEqual(
        net
          .raft(id)
          .raftLog.allEntries()
          .map((e) => e.term),
        [1, 3],
        `node ${id}`,
      );
    }
  });
});

/** Five voters; leader 1 (term 1) appended "a" and "b" but only 2 has them, so neither is committed. */
function uncommittedOnMinority(): Network {
  const net = new Network({ voters: [1n, 2n, 3n, 4n, 5n] });
  net.elect(1n);
  net.cut(1n, 3n);
  net.cut(1n, 4n);
  net.cut(1n, 5n);
  net.propose(1n, "a");
  net.propose(1n, "b");
  net.stabilize();
  return net;
}

describe("commitment rules (§5.4.2, Figure 8)", () => {
  test("a leader does not commit an entry of an earlier term by counting replicas, only through an entry of its own term (§5.4.2)", () => {
    const s = storageWithTerms([1n, 2n, 3n], 1, 2);
    s.setHardState(new HardState(2, 0n, 0));
    const r = newRaft(1n, s);
    becomeLeader(r);
    assert.equal(r.term, 3);
    // A majority stores index 2 (term 2): not committed.
    r.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: 3, index: 2 }));
    assert.equal(r.raftLog.committed, 0);
    // The leader's empty entry of term 3 (index 3) reaches a majority: 1..3 commit.
    r.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: 3, index: 3 }));
    assert.equal(r.raftLog.committed, 3);
  });

  // [matches of voters 1..n, log terms, leader's term, expected commit]
  const commitCases: Array<[number[], number[], number, number]> = [
    [[1], [1], 1, 1],
    [[1], [1], 2, 0],
    [[2], [1, 2], 2, 2],
    [[1], [2], 2, 1],
    [[2, 1, 1], [1, 2], 1, 1],
    [[2, 1, 1], [1, 1], 2, 0],
    [[2, 1, 2], [1, 2], 2, 2],
    [[2, 1, 2], [1, 1], 2, 0],
    [[2, 1, 1, 1], [1, 2], 1, 1],
    [[2, 1, 1, 1], [1, 1], 2, 0],
    [[2, 1, 1, 2], [1, 2], 1, 1],
    [[2, 1, 1, 2], [1, 1], 2, 0],
    [[2, 1, 2, 2], [1, 2], 2, 2],
    [[2, 1, 2, 2], [1, 1], 2, 0],
  ];
  for (const [matches, terms, term, want] of commitCases) {
    test(`the commit index is the highest index stored by a majority whose entry has the leader's term: matches ${JSON.stringify(matches)}, log ${JSON.stringify(terms)}, term ${term}`, () => {
      const s = storageWithTerms(
        matches.map((_, i) => BigInt(i + 1)),
        ...terms,
      );
      s.setHardState(new HardState(term, 0n, 0));
      const r = newRaft(1n, s);
      matches.forEach((m, i) => {
        const pr = r.trk.progress.get(BigInt(i + 1))!;
        pr.match = m;
        pr.next = m + 1;
      });
      r.maybeCommit();
      assert.equal(r.raftLog.committed, want);
    });
  }

  test("entries of a deposed leader's term commit when the next leader commits its empty entry", () => {
    const net = uncommittedOnMinority();
    assert.equal(net.raft(1n).raftLog.committed, 1);
    net.heal();
    net.elect(2n);
    assert.equal(net.raft(2n).raftLog.committed, 4);
    for (const id of net.ids()) assert.deepEqual(net.appliedData(id), ["a", "b"]);
  });

  test("without an entry of its own term reaching a quorum, a new leader commits nothing from earlier terms", () => {
    const net = uncommittedOnMinority();
    net.heal();
    net.filter((m) => m.type === MsgApp);
    net.elect(2n);
    assert.equal(net.raft(2n).raftLog.committed, 1);
    net.heal();
    net.tickAndStabilize(1, [2n]);
    net.propose(2n, "c");
    net.stabilize();
    assert.equal(net.raft(2n).raftLog.committed, 5);
    assert.deepEqual(net.appliedData(3n), ["a", "b", "c"]);
  });

  test("Figure 8: an old-term entry stored on a majority is never applied and may be safely overwritten (§5.4.2)", () => {
    const net = new Network({ voters: [1n, 2n, 3n, 4n, 5n], config: { maxSizePerMsg: 0 } });
    // (a) S1 leads term 1 and replicates "t1" to S2 only.
    net.elect(1n);
    net.partition([1n, 2n], [3n, 4n, 5n]);
    net.propose(1n, "t1");
    net.stabilize();
    // (b) S1 is down; S5 wins with S3 and S4 and appends "t5" that reaches no one.
    net.heal();
    net.isolate(1n);
    net.filter((m) => m.from === 5n && m.type === MsgApp);
    net.campaign(5n);
    assert.equal(net.raft(5n).state, StateLeader);
    net.propose(5n, "t5");
    net.stabilize();
    // (c) S5 is down; S1 comes back and leads again. It replicates its old
    // entry "t1" to S3 and S4 (a majority now stores it) but none of its
    // new-term entries get through.
    net.heal();
    net.isolate(5n);
    net.restart(1n);
    const t1Term = 1;
    net.rewrite((m) => {
      if (m.from !== 1n || m.type !== MsgApp) return m;
      const c = m.clone();
      c.entries = m.entries.filter((e) => e.term === t1Term);
      return c;
    });
    for (let i = 0; i < 5 && net.raft(1n).state !== StateLeader; i++) net.campaign(1n);
    assert.equal(net.raft(1n).state, StateLeader);
    net.stabilize();
    const stored = [1n, 2n, 3n, 4n].filter((id) => net.raft(id).raftLog.matchTerm(2, t1Term));
    assert.ok(stored.length >= 3, `t1 stored on ${stored}`);
    assert.equal(net.raft(1n).raftLog.committed, 1, "t1 must not be committed by counting replicas");
    for (const id of net.ids()) assert.deepEqual(net.appliedData(id), []);
    // (d) S1 is down again; S5 (last term higher than t1's) wins and overwrites index 2.
    net.heal();
    net.isolate(1n);
    net.restart(5n);
    for (let i = 0; i < 5 && net.raft(5n).state !== StateLeader; i++) net.campaign(5n);
    assert.equal(net.raft(5n).state, StateLeader);
    net.heal();
    net.tickAndStabilize(3);
    assert.equal(net.leader(), 5n);
    for (const id of net.ids()) {
      assert.deepEqual(net.appliedData(id), ["t5"], `node ${id}`);
    }
  });
});

describe("fast log rejection (follower hint + leader findConflictByTerm)", () => {
  // leader log, follower log, follower compaction, hint term, hint index, next append term, next append index
  const cases: Array<[number[], number[], number, number, number, number, number]> = [
    [[1, 2, 2, 4, 4, 4, 4], [1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3], 0, 3, 7, 2, 3],
    [[1, 2, 2, 3, 4, 4, 4, 5], [1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3], 0, 3, 8, 3, 4],
    [[1, 1, 1, 1], [1, 2, 2, 4], 0, 1, 1, 1, 1],
    [[1, 1, 1, 1, 1, 1], [1, 2, 2, 4], 0, 1, 1, 1, 1],
    [[1, 1, 1, 1], [1, 2, 2, 4, 4, 4], 0, 1, 1, 1, 1],
    [[1, 1, 1, 4, 5], [1, 1, 1, 4], 0, 4, 4, 4, 4],
    [[2, 5, 5, 5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], 0, 4, 6, 2, 1],
    [[2, 2, 2, 2, 2], [2, 4, 4, 4, 4, 4, 4, 4], 0, 2, 1, 2, 1],
    // A stale probe below the follower's compaction point: unknown term, back off by one.
    [[1, 1, 3], [1, 1, 3, 3, 3], 5, 0, 3, 1, 2],
  ];
  for (const [leaderLog, followerLog, compact, hintTerm, hintIndex, nextTerm, nextIndex] of cases) {
    test(`a rejection skips every entry that cannot match in one round trip: leader ${JSON.stringify(leaderLog)}, follower ${JSON.stringify(followerLog)}${compact ? ` compacted to ${compact}` : ""}`, () => {
      const last = leaderLog.length;
      const lastTerm = leaderLog[last - 1]!;
      const s1 = storageWithTerms([1n, 2n, 3n], ...leaderLog);
      s1.setHardState(new HardState(lastTerm - 1, 0n, last));
      const n1 = newRaft(1n, s1);
      n1.becomeCandidate();
      n1.becomeLeader();
      readMessages(n1);

      const s2 = storageWithTerms([1n, 2n, 3n], ...followerLog);
      s2.setHardState(new HardState(lastTerm, 1n, 0));
      const n2 = newRaft(2n, s2);
      if (compact > 0) s2.compact(compact);

      n2.step(msg({ type: MsgHeartbeat, from: 1n, to: 2n, term: n1.term }));
      const [hbResp] = readMessages(n2);
      assert.equal(hbResp!.type, MsgHeartbeatResp);
      n1.step(hbResp!);
      const [app] = readMessages(n1);
      assert.equal(app!.type, MsgApp);
      n2.step(app!);
      const [rej] = readMessages(n2);
      assert.equal(rej!.type, MsgAppResp);
      assert.equal(rej!.reject, true);
      assert.equal(rej!.logTerm, hintTerm, "hint term");
      assert.equal(rej!.rejectHint, hintIndex, "hint index");
      n1.step(rej!);
      const [next] = readMessages(n1);
      assert.equal(next!.logTerm, nextTerm, "next append term");
      assert.equal(next!.index, nextIndex, "next append index");
    });
  }

  test("a delayed rejection below the match index makes the leader probe from its match, not from the hint", () => {
    const r1 = raftWith(1n, [1n, 2n]);
    becomeLeader(r1);
    r1.trk.progress.get(2n)!.becomeReplicate();
    const r2 = raftWith(2n, [1n, 2n]);
    r1.appendEntry([new Entry(0, 0, 0, text("somedata"))]);
    r1.sendAppend(2n);
    const [req1] = readMessages(r1);
    r1.appendEntry([new Entry(0, 0, 0, text("somedata"))]);
    r1.sendAppend(2n);
    const [req2] = readMessages(r1);
    // r2 sees the second append first and rejects it.
    r2.step(req2!);
    const [resp2] = readMessages(r2);
    assert.equal(resp2!.reject, true);
    assert.equal(resp2!.rejectHint, 0);
    assert.equal(resp2!.index, 2);
    r2.step(req1!);
    const [resp1] = readMessages(r2);
    assert.equal(resp1!.reject, false);
    assert.equal(resp1!.index, 2);
    r1.step(resp1!);
    readMessages(r1);
    assert.equal(r1.trk.progress.get(2n)!.match, 2);
    r1.step(msg({ type: MessageType.MsgUnreachable, from: 2n, to: 1n }));
    assert.equal(r1.trk.progress.get(2n)!.state, ProgressStateType.StateProbe);
    r1.step(resp2!);
    const [m] = readMessages(r1);
    assert.equal(m!.index, 2);
  });
});

describe("message handling by the leader", () => {
  // Initial progress of 2: match 0, next 3 (log (1,1),(1,2) before the election).
  const cases: Array<[string, number, boolean, number, number, number, number, number]> = [
    ["a stale rejection is ignored", 3, true, 0, 3, 0, 0, 0],
    ["a rejection lowers next and sends a probe", 2, true, 0, 2, 1, 1, 0],
    ["an acceptance commits and broadcasts the commit index", 2, false, 2, 4, 2, 2, 2],
    ["an acceptance at match moves a prober to replicate and sends everything", 0, false, 0, 4, 1, 0, 0],
  ];
  for (const [name, index, reject, wMatch, wNext, wMsgs, wIndex, wCommit] of cases) {
    test(`leader handling of MsgAppResp: ${name}`, () => {
      const r = newRaft(1n, storageWithTerms([1n, 2n, 3n], 1, 1));
      r.becomeCandidate();
      r.becomeLeader();
      readMessages(r);
      r.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: r.term, index, reject, rejectHint: index }));
      const pr = r.trk.progress.get(2n)!;
      assert.equal(pr.match, wMatch);
      assert.equal(pr.next, wNext);
      const msgs = readMessages(r);
      assert.equal(msgs.length, wMsgs);
      for (const m of msgs) {
        assert.equal(m.index, wIndex);
        assert.equal(m.commit, wCommit);
      }
    });
  }

  test("a leader ignores its own stale self-ack after losing leadership", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    becomeLeader(r);
    r.step(prop(1n, "somedata"));
    const steps = r.msgsAfterAppend;
    r.msgsAfterAppend = [];
    r.step(msg({ type: MsgHeartbeat, from: 2n, to: 1n, term: r.term + 1 }));
    assert.equal(r.state, StateFollower);
    persistUnstable(r);
    for (const m of steps) if (m.to === 1n) r.step(m);
    assert.equal(r.state, StateFollower);
  });

  test("the self-vote of a candidate that already lost is not counted", () => {
    for (const preVote of [false, true]) {
      const r = raftWith(1n, [1n, 2n, 3n], { preVote });
      r.step(msg({ type: MessageType.MsgHup, from: 1n, to: 1n }));
      const steps = r.msgsAfterAppend;
      r.msgsAfterAppend = [];
      r.step(msg({ type: MsgHeartbeat, from: 2n, to: 1n, term: Math.max(r.term, 1) }));
      assert.equal(r.state, StateFollower);
      for (const m of steps) if (m.to === 1n) r.step(m);
      assert.equal(r.state, StateFollower);
      assert.equal(r.trk.tallyVotes().granted, 0);
    }
  });

  test("what a leader persists is its log: MemoryStorage holds the appended entries", () => {
    const r = raftWith(1n, [1n]);
    becomeLeader(r);
    r.step(prop(1n, "a", "b"));
    readMessages(r);
    const s = r.raftLog.storage as MemoryStorage;
    assert.equal(s.lastIndex(), 3);
    assert.deepEqual(
      s.entries(1, 4, Number.POSITIVE_INFINITY).map((e) => e.term),
      [1, 1, 1],
    );
    assert.equal(r.raftLog.committed, 3);
  });
});
