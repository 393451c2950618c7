// keepClockOnRejectedVote: a real vote request of a later term that a member
// refuses moves it to that term but leaves its election clock running (the
// Raft paper's Figure 2), where etcd restarts the clock. Without PreVote, a
// member whose log is too short to win would otherwise postpone, with every
// doomed campaign, the members that could win (simulator seed 95576).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { StateType } from "../../src/index.ts";
import type { Raft } from "../../src/internal.ts";
import {
  MsgVote,
  MsgVoteResp,
  msg,
  newRaft,
  readMessages,
  storageWithTerms,
  type TestConfig,
} from "../support/raft.ts";

/** Member `id` of voters 1-3 holding entries with `terms`, `ticks` ticks into its election clock. */
function member(id: bigint, terms: number[], ticks: number, opts: TestConfig): Raft {
  const r = newRaft(id, storageWithTerms([1n, 2n, 3n], ...terms), opts);
  r.becomeFollower(terms[terms.length - 1]!, 0n);
  for (let i = 0; i < ticks; i++) r.tick();
  return r;
}

describe("keepClockOnRejectedVote", () => {
  for (const on of [false, true]) {
    test(`${on ? "on" : "off (etcd)"}: a refused vote of a later term ${on ? "keeps" : "restarts"} the clock`, () => {
      const r = member(2n, [1, 1, 2, 2], 7, { keepClockOnRejectedVote: on });
      const timeout = r.randomizedElectionTimeout;
      // Candidate 1 at term 3 with a shorter log (index 3 < 4): refused.
      r.step(msg({ type: MsgVote, from: 1n, to: 2n, term: 3, index: 3, logTerm: 2 }));
      assert.deepEqual(
        readMessages(r).map((m) => [m.type, m.reject]),
        [[MsgVoteResp, true]],
      );
      assert.equal(r.term, 3);
      assert.equal(r.vote, 0n);
      assert.equal(r.state, StateType.StateFollower);
      if (on) {
        assert.equal(r.electionElapsed, 7);
        assert.equal(r.randomizedElectionTimeout, timeout);
        // Its own clock runs out as if the refused request never came.
        for (let i = 7; i < timeout; i++) r.tick();
        assert.equal(r.state, StateType.StateCandidate);
        assert.equal(r.term, 4);
      } else {
        assert.equal(r.electionElapsed, 0);
      }
    });
  }

  test("a granted vote restarts the clock either way", () => {
    const r = member(2n, [1, 1, 2], 7, { keepClockOnRejectedVote: true });
    r.step(msg({ type: MsgVote, from: 1n, to: 2n, term: 3, index: 3, logTerm: 2 }));
    assert.deepEqual(
      readMessages(r).map((m) => [m.type, m.reject]),
      [[MsgVoteResp, false]],
    );
    assert.equal(r.vote, 1n);
    assert.equal(r.electionElapsed, 0);
  });

  test("a candidate refusing a later term's vote campaigns again on its own schedule", () => {
    const r = member(2n, [1, 1, 2, 2], 0, { keepClockOnRejectedVote: true });
    r.becomeCandidate(); // term 3, clock restarted by its own campaign
    r.tick();
    r.tick();
    r.step(msg({ type: MsgVote, from: 1n, to: 2n, term: 4, index: 3, logTerm: 2 }));
    assert.equal(r.state, StateType.StateFollower);
    assert.equal(r.term, 4);
    assert.equal(r.electionElapsed, 2);
  });

  test("a leader deposed by a later term's vote it refuses starts a fresh clock, as in etcd", () => {
    const r = member(2n, [1, 1, 2, 2], 0, { keepClockOnRejectedVote: true });
    r.becomeCandidate();
    r.becomeLeader();
    for (let i = 0; i < 5; i++) r.tick();
    r.step(msg({ type: MsgVote, from: 1n, to: 2n, term: 9, index: 3, logTerm: 2 }));
    assert.equal(r.state, StateType.StateFollower);
    assert.equal(r.electionElapsed, 0);
  });
});
