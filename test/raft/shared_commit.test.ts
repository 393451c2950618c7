// shareCommitInVotes: vote requests and rejections carry the sender's commit
// index; a member whose log holds the sender's entry there adopts it (log
// matching makes the prefixes identical), so that a member that missed the
// commit of a membership change applies it instead of waiting for the vote
// of the member the change removed or demoted (etcd-io/etcd#12359).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Entry, EntryType, StateType } from "../../src/index.ts";
import type { Raft } from "../../src/internal.ts";
import {
  ConfChangeSingle,
  ConfChangeType,
  ConfChangeV2,
  encodeConfChangeV2,
} from "../../src/raftpb/index.ts";
import {
  MsgHup,
  MsgPreVote,
  MsgPreVoteResp,
  MsgVote,
  MsgVoteResp,
  msg,
  newRaft,
  readMessages,
  storageWithTerms,
  type TestConfig,
} from "../support/raft.ts";

const ON: TestConfig = { shareCommitInVotes: true };

/** A follower of voters 1-3 holding entries with `terms`, `commit` of them committed. */
function member(id: bigint, commit: number, terms: number[], opts: TestConfig = ON): Raft {
  const r = newRaft(id, storageWithTerms([1n, 2n, 3n], ...terms), opts);
  r.becomeFollower(terms[terms.length - 1]!, 0n);
  r.raftLog.commitTo(commit);
  return r;
}

describe("shareCommitInVotes", () => {
  test("vote requests carry the candidate's commit index; rejections its commit entry (index, term)", () => {
    const c = member(1n, 2, [1, 1, 2]);
    c.step(msg({ type: MsgHup, from: 1n, to: 1n }));
    const votes = readMessages(c).filter((m) => m.type === MsgVote);
    assert.deepEqual(
      votes.map((m) => [m.to, m.index, m.logTerm, m.commit]),
      [
        [2n, 3, 2, 2],
        [3n, 3, 2, 2],
      ],
    );
    // A voter with a longer log refuses and tells its commit (4, term 2).
    const v = member(2n, 4, [1, 1, 2, 2, 2]);
    v.step(msg({ type: MsgVote, from: 1n, to: 2n, term: 3, index: 3, logTerm: 2, commit: 2 }));
    assert.deepEqual(
      readMessages(v).map((m) => [m.type, m.reject, m.index, m.logTerm, m.commit]),
      [[MsgVoteResp, true, 4, 2, 4]],
    );
    // A lower-term request is refused the same way.
    v.step(msg({ type: MsgPreVote, from: 1n, to: 2n, term: 1, index: 3, logTerm: 2, commit: 2 }));
    assert.deepEqual(
      readMessages(v).map((m) => [m.type, m.reject, m.index, m.logTerm, m.commit]),
      [[MsgPreVoteResp, true, 4, 2, 4]],
    );
  });

  test("off (etcd's default), nothing is carried and nothing learned", () => {
    const c = member(1n, 2, [1, 1, 2], {});
    c.step(msg({ type: MsgHup, from: 1n, to: 1n }));
    assert.ok(readMessages(c).every((m) => m.commit === 0));
    const v = member(2n, 4, [1, 1, 2, 2, 2], {});
    v.step(msg({ type: MsgVote, from: 1n, to: 2n, term: 3, index: 3, logTerm: 2, commit: 2 }));
    assert.deepEqual(
      readMessages(v).map((m) => [m.reject, m.index, m.logTerm, m.commit]),
      [[true, 0, 0, 0]],
    );
    const w = member(3n, 1, [1, 1, 2, 2]);
    const etcd = member(3n, 1, [1, 1, 2, 2], {});
    const resp = msg({
      type: MsgVoteResp,
      from: 2n,
      to: 3n,
      term: 2,
      reject: true,
      index: 4,
      logTerm: 2,
      commit: 4,
    });
    w.step(resp);
    etcd.step(resp);
    assert.equal(w.raftLog.committed, 4);
    assert.equal(etcd.raftLog.committed, 1);
  });

  test("a member adopts a carried commit only where its log holds the sender's entry", () => {
    // A request: the candidate's last entry (3, term 2) is in our log -> commit min(commit, 3).
    const v = member(2n, 1, [1, 1, 2, 2]);
    v.step(msg({ type: MsgVote, from: 1n, to: 2n, term: 3, index: 3, logTerm: 2, commit: 3 }));
    assert.equal(v.raftLog.committed, 3);
    // Not where our entry at that index has another term.
    const d = member(2n, 1, [1, 1, 3]);
    d.step(msg({ type: MsgVote, from: 1n, to: 2n, term: 4, index: 3, logTerm: 2, commit: 3 }));
    assert.equal(d.raftLog.committed, 1);
    // Not beyond our log.
    const s = member(2n, 1, [1, 1]);
    s.step(
      msg({ type: MsgVoteResp, from: 1n, to: 2n, term: 2, reject: true, index: 3, logTerm: 1, commit: 3 }),
    );
    assert.equal(s.raftLog.committed, 1);
    // Never backwards.
    const h = member(2n, 3, [1, 1, 1]);
    h.step(
      msg({ type: MsgVoteResp, from: 1n, to: 2n, term: 2, reject: true, index: 2, logTerm: 1, commit: 2 }),
    );
    assert.equal(h.raftLog.committed, 3);
  });

  test("a candidate that learns of a committed, unapplied conf change abandons its campaign", () => {
    const cc = new ConfChangeV2([new ConfChangeSingle(ConfChangeType.ConfChangeRemoveNode, 3n)]);
    const storage = storageWithTerms([1n, 2n, 3n], 1, 1);
    storage.append([new Entry(1, 3, EntryType.EntryConfChangeV2, encodeConfChangeV2(cc))]);
    const r = newRaft(1n, storage, ON);
    r.becomeFollower(1, 0n);
    r.raftLog.commitTo(2);
    r.raftLog.appliedTo(2, 0);
    r.step(msg({ type: MsgHup, from: 1n, to: 1n }));
    readMessages(r);
    assert.equal(r.state, StateType.StateCandidate);
    // 2 refuses and tells it that index 3 (the removal of 3) is committed.
    r.step(
      msg({
        type: MsgVoteResp,
        from: 2n,
        to: 1n,
        term: r.term,
        reject: true,
        index: 3,
        logTerm: 1,
        commit: 3,
      }),
    );
    assert.equal(r.raftLog.committed, 3);
    assert.equal(r.state, StateType.StateFollower);
    // It may campaign again once the change is applied.
    r.step(msg({ type: MsgHup, from: 1n, to: 1n }));
    assert.equal(r.state, StateType.StateFollower);
  });
});
