// Strict leader leases (leaseSafety "strict", src/raft/lease.ts): the lease's
// length in the leader's ticks, reads answered from it or through a round,
// the step-down at its lapse, joint quorums, and the followers' promises
// (held across term changes and restarts, waived only by a transfer).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, Entry, type Message, RawNode, ReadOnlyOption, StateType } from "../../src/index.ts";
import { decodeRoundCtx, encodeRoundCtx, type Raft } from "../../src/internal.ts";
import {
  ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  ConfChangeV2,
} from "../../src/raftpb/index.ts";
import { decodeUtf8 } from "../../src/rafttest/index.ts";
import {
  becomeLeader,
  MsgAppResp,
  MsgBeat,
  MsgHeartbeat,
  MsgHeartbeatResp,
  MsgHup,
  MsgProp,
  MsgReadIndex,
  MsgReadIndexResp,
  MsgTimeoutNow,
  MsgTransferLeader,
  MsgVote,
  MsgVoteResp,
  msg,
  newRaft,
  newStorage,
  raftWith,
  readMessages,
  type TestConfig,
  text,
  tickN,
} from "../support/raft.ts";

const STRICT: TestConfig = {
  checkQuorum: true,
  readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased,
  leaseSafety: "strict",
};

/** A strict-lease leader of `voters` that committed an entry of its term, at lease clock 0. */
function leader(voters: bigint[] = [1n, 2n, 3n], opts: TestConfig = {}): Raft {
  const r = raftWith(1n, voters, { ...STRICT, ...opts });
  // Its start-up promise would refuse a campaign; becomeLeader does not campaign.
  becomeLeader(r);
  r.raftLog.commitTo(r.raftLog.lastIndex());
  return r;
}

/** Broadcasts a heartbeat round (MsgBeat) and returns its round number. */
function round(r: Raft): number {
  r.step(msg({ type: MsgBeat, from: r.id, to: r.id }));
  const hbs = readMessages(r).filter((m) => m.type === MsgHeartbeat);
  assert.ok(hbs.length > 0, "a heartbeat round went out");
  const n = decodeRoundCtx(hbs[0]!.context);
  for (const m of hbs) assert.equal(decodeRoundCtx(m.context), n, "one round number per broadcast");
  return n;
}

function ack(r: Raft, from: bigint, roundNo: number): void {
  r.step(msg({ type: MsgHeartbeatResp, from, to: r.id, term: r.term, context: encodeRoundCtx(roundNo) }));
  readMessages(r); // the MsgApp a lagging follower gets in return
}

function read(r: Raft, ctx: string, from = r.id): Message[] {
  r.step(msg({ type: MsgReadIndex, from, to: r.id, entries: [new Entry(0, 0, 0, text(ctx))] }));
  return readMessages(r);
}

describe("strict leases: configuration", () => {
  test("leaseSafety strict needs ReadOnlyLeaseBased, a lease longer than a heartbeat, and names the field", () => {
    const base = { id: 1n, electionTick: 10, heartbeatTick: 1, storage: newStorage([1n]) };
    assert.throws(
      () => raftWith(1n, [1n], { leaseSafety: "strict" }),
      (e: unknown) => e instanceof ConfigError && e.field === "leaseSafety",
    );
    // 10 - 1 - 8 = 1 tick of lease is not longer than heartbeatTick 1.
    assert.throws(
      () => raftWith(1n, [1n], { ...STRICT, leaseDriftMarginTicks: 8 }),
      (e: unknown) => e instanceof ConfigError && e.field === "leaseDriftMarginTicks",
    );
    assert.throws(
      () => raftWith(1n, [1n], { ...STRICT, leaseSafety: "loose" as "strict" }),
      (e: unknown) => e instanceof ConfigError && e.field === "leaseSafety",
    );
    assert.throws(
      () => raftWith(1n, [1n], { ...STRICT, leaseDriftMarginTicks: -1 }),
      (e: unknown) => e instanceof ConfigError && e.field === "leaseDriftMarginTicks",
    );
    // Defaults: margin ceil(electionTick / 10); lease = electionTick - 1 - margin.
    assert.equal(raftWith(1n, [1n], STRICT).leaseTicks, 8);
    assert.equal(newRaft(1n, base.storage, { ...STRICT, electionTick: 25 }).leaseTicks, 21);
    assert.equal(raftWith(1n, [1n], { ...STRICT, leaseDriftMarginTicks: 0 }).leaseTicks, 9);
    // etcd's default keeps none of it.
    const etcd = raftWith(1n, [1n], { checkQuorum: true, readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased });
    assert.equal(etcd.strictLease, false);
    assert.equal(etcd.voteHold, 0);
  });

  test("round contexts: tag byte and 8-byte big-endian round; anything else is not a round", () => {
    for (const n of [1, 255, 256, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER]) {
      const ctx = encodeRoundCtx(n);
      assert.equal(ctx.length, 9);
      assert.equal(ctx[0], 0x4c);
      assert.equal(decodeRoundCtx(ctx), n);
    }
    assert.deepEqual([...encodeRoundCtx(0x0102030405)], [0x4c, 0, 0, 0, 1, 2, 3, 4, 5]);
    assert.equal(decodeRoundCtx(new Uint8Array(0)), 0);
    assert.equal(decodeRoundCtx(text("ctx")), 0);
    assert.equal(decodeRoundCtx(Uint8Array.of(0x4d, 0, 0, 0, 0, 0, 0, 0, 1)), 0);
    // Beyond 2^53: never one of ours.
    assert.equal(decodeRoundCtx(Uint8Array.of(0x4c, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1)), 0);
  });
});

describe("strict leases: the leader", () => {
  test("a read is answered from the lease, without a message, while a quorum acknowledged a round at most 7 ticks old", () => {
    const r = leader();
    const n = round(r); // sent at lease clock 0
    ack(r, 2n, n);
    assert.equal(r.leaseHolds(), true);
    for (let t = 0; t <= 7; t++) {
      if (t > 0) {
        r.tick();
        readMessages(r); // this tick's heartbeat round goes unacknowledged
      }
      assert.equal(r.leaseHolds(), true, `tick ${t}`);
      const out = read(r, `r${t}`);
      assert.deepEqual(out, [], `tick ${t}: no message`);
      assert.equal(r.readStates.length, 1);
      assert.equal(r.readStates[0]!.index, r.raftLog.committed);
      assert.equal(decodeUtf8(r.readStates[0]!.requestCtx), `r${t}`);
      r.readStates = [];
    }
    assert.equal(r.leaseReadsLocal, 8);
    assert.equal(r.leaseReadsFallback, 0);
    // Tick 8 = 0 + electionTick - 1 - margin: the lease lapsed, the leader steps down at once.
    r.tick();
    assert.equal(r.state, StateType.StateFollower);
    assert.equal(r.lead, 0n);
  });

  test("a later acknowledged round renews the lease; acknowledgements of unknown rounds count for nothing", () => {
    const r = leader();
    const r1 = round(r);
    ack(r, 2n, r1);
    tickN(r, 5);
    readMessages(r);
    const r2 = round(r); // sent at tick 5
    ack(r, 3n, r2 + 100); // never sent: ignored
    ack(r, 3n, r2);
    tickN(r, 7); // tick 12: the lease of round 1 lapsed at 8, that of r2 holds until 12
    readMessages(r);
    assert.equal(r.state, StateType.StateLeader);
    assert.equal(r.leaseHolds(), true);
    r.tick(); // tick 13 = 5 + 8
    assert.equal(r.state, StateType.StateFollower);
  });

  test("without a lease a read starts a round and is answered at the commit index of its arrival once a quorum acknowledged it", () => {
    const r = leader();
    const commit = r.raftLog.committed;
    const out = read(r, "x");
    const hbs = out.filter((m) => m.type === MsgHeartbeat);
    assert.deepEqual(
      hbs.map((m) => m.to),
      [2n, 3n],
    );
    const n = decodeRoundCtx(hbs[0]!.context);
    assert.equal(n, 1);
    assert.equal(r.readStates.length, 0);
    // The commit index moves on before the round completes; the read keeps its index.
    r.step(msg({ type: MsgProp, from: 1n, to: 1n, entries: [new Entry(0, 0, 0, text("w"))] }));
    readMessages(r);
    ack(r, 2n, n);
    assert.equal(r.readStates.length, 1);
    assert.equal(r.readStates[0]!.index, commit);
    assert.equal(r.leaseReadsFallback, 1);
    // A forwarded read is answered with MsgReadIndexResp from the lease it now has.
    const resp = read(r, "y", 3n);
    assert.deepEqual(
      resp.map((m) => [m.type, m.to, m.index]),
      [[MsgReadIndexResp, 3n, commit]],
    );
    assert.equal(r.leaseReadsLocal, 1);
  });

  test("a leader that never got an acknowledgement steps down a lease's length after it took office", () => {
    const r = leader();
    tickN(r, 7);
    assert.equal(r.state, StateType.StateLeader);
    r.tick();
    assert.equal(r.state, StateType.StateFollower);
  });

  test("joint configurations need both majorities", () => {
    const r = raftWith(1n, [1n, 2n, 3n], STRICT);
    becomeLeader(r);
    r.raftLog.commitTo(r.raftLog.lastIndex());
    // Enter (1 4 5)&&(1 2 3).
    r.applyConfChange(
      new ConfChangeV2(
        [
          new ConfChangeSingle(ConfChangeType.ConfChangeAddNode, 4n),
          new ConfChangeSingle(ConfChangeType.ConfChangeAddNode, 5n),
          new ConfChangeSingle(ConfChangeType.ConfChangeRemoveNode, 2n),
          new ConfChangeSingle(ConfChangeType.ConfChangeRemoveNode, 3n),
        ],
        ConfChangeTransition.ConfChangeTransitionJointExplicit,
      ),
    );
    readMessages(r);
    assert.equal(r.trk.config.voters.toString(), "(1 4 5)&&(1 2 3)");
    const n = round(r);
    ack(r, 2n, n);
    ack(r, 3n, n);
    assert.equal(r.leaseHolds(), false, "the outgoing majority alone");
    ack(r, 4n, n);
    assert.equal(r.leaseHolds(), true);
  });

  test("after MsgTimeoutNow the leader answers only through rounds", () => {
    const r = leader();
    const n = round(r);
    ack(r, 2n, n);
    assert.equal(r.leaseHolds(), true);
    // 2 is up to date, so MsgTimeoutNow goes out at once.
    r.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: r.term, index: r.raftLog.lastIndex() }));
    readMessages(r);
    r.step(msg({ type: MsgTransferLeader, from: 2n, to: 1n }));
    const out = readMessages(r);
    assert.ok(out.some((m) => m.type === MsgTimeoutNow && m.to === 2n));
    assert.equal(r.leaseHolds(), false);
    const rd = read(r, "z");
    assert.equal(r.readStates.length, 0);
    assert.ok(rd.some((m) => m.type === MsgHeartbeat));
  });
});

describe("strict leases: the members' promises", () => {
  /** A follower of 1 (term 1) that just acknowledged its heartbeat. */
  function follower(id: bigint, opts: TestConfig = STRICT): Raft {
    const r = raftWith(id, [1n, 2n, 3n], opts);
    r.becomeFollower(1, 1n);
    r.step(msg({ type: MsgHeartbeat, from: 1n, to: id, term: 1, context: encodeRoundCtx(1) }));
    const resp = readMessages(r);
    assert.deepEqual(
      resp.map((m) => [m.type, decodeRoundCtx(m.context)]),
      [[MsgHeartbeatResp, 1]],
    );
    return r;
  }

  const vote = (to: bigint, from: bigint, term: number) =>
    msg({ type: MsgVote, from, to, term, index: 100, logTerm: 1 });

  test("a member that acknowledged the leader grants no vote for electionTick ticks, even after a higher term reset its leader", () => {
    const r = follower(2n);
    assert.equal(r.voteHold, 10);
    // A higher-term response (not a vote) resets the term and forgets the leader.
    r.step(msg({ type: MsgHeartbeatResp, from: 3n, to: 2n, term: 5 }));
    assert.equal(r.term, 5);
    assert.equal(r.lead, 0n);
    // etcd would now grant a same-term vote; the promise refuses it.
    r.step(vote(2n, 3n, 5));
    assert.deepEqual(
      readMessages(r).map((m) => [m.type, m.reject]),
      [[MsgVoteResp, true]],
    );
    assert.equal(r.vote, 0n);
    // A higher-term vote is ignored (no term change, no answer) while it holds...
    r.step(vote(2n, 3n, 6));
    assert.equal(r.term, 5);
    assert.deepEqual(readMessages(r), []);
    // ...and granted once electionTick ticks passed.
    tickN(r, 9);
    r.step(vote(2n, 3n, 6));
    assert.deepEqual(readMessages(r), []);
    r.tick();
    assert.equal(r.voteHold, 0);
    r.step(vote(2n, 3n, 6));
    assert.deepEqual(
      readMessages(r).map((m) => [m.type, m.reject]),
      [[MsgVoteResp, false]],
    );
  });

  test("etcd's default grants that same-term vote at once", () => {
    const r = follower(2n, { checkQuorum: true, readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased });
    r.step(msg({ type: MsgHeartbeatResp, from: 3n, to: 2n, term: 5 }));
    r.step(vote(2n, 3n, 5));
    assert.deepEqual(
      readMessages(r).map((m) => [m.type, m.reject]),
      [[MsgVoteResp, false]],
    );
  });

  test("it does not campaign within its promise; a transfer's forced campaign and forced votes pass", () => {
    const r = follower(2n);
    r.step(msg({ type: MsgHup, from: 2n, to: 2n }));
    assert.equal(r.state, StateType.StateFollower);
    r.step(msg({ type: MsgTimeoutNow, from: 1n, to: 2n, term: 1 }));
    assert.equal(r.state, StateType.StateCandidate);

    const v = follower(3n);
    v.step(
      msg({
        type: MsgVote,
        from: 2n,
        to: 3n,
        term: 2,
        index: 100,
        logTerm: 1,
        context: text("CampaignTransfer"),
      }),
    );
    assert.deepEqual(
      readMessages(v).map((m) => [m.type, m.reject]),
      [[MsgVoteResp, false]],
    );
  });

  test("a restarted member keeps a promise it may have made: no vote, no campaign for electionTick ticks", () => {
    const r = follower(2n);
    // Restart over the same storage (its durable state: term 1, no vote).
    const again = newRaft(2n, r.raftLog.storage as ReturnType<typeof newStorage>, STRICT);
    assert.equal(again.lead, 0n);
    assert.equal(again.voteHold, 10);
    again.step(vote(2n, 3n, 2));
    assert.deepEqual(readMessages(again), []);
    again.step(msg({ type: MsgHup, from: 2n, to: 2n }));
    assert.equal(again.state, StateType.StateFollower);
    tickN(again, 10);
    again.step(vote(2n, 3n, 2));
    assert.deepEqual(
      readMessages(again).map((m) => [m.type, m.reject]),
      [[MsgVoteResp, false]],
    );
  });

  test("quiesced ticks age the promise and the lease clock too", () => {
    const rn = new RawNode({
      id: 2n,
      electionTick: 10,
      heartbeatTick: 1,
      storage: newStorage([1n, 2n, 3n]),
      ...STRICT,
    });
    assert.equal(rn.raft.voteHold, 10);
    for (let i = 0; i < 10; i++) rn.tickQuiesced();
    assert.equal(rn.raft.voteHold, 0);
    assert.equal(rn.raft.leaseClock, 10);
    assert.equal(rn.raft.electionElapsed, 10);
  });
});
