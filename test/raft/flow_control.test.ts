// Replication flow control: probe/replicate/snapshot progress states, the
// in-flight window by count and by bytes, message size batching, and the
// limits on uncommitted proposals and on committed entries per Ready.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfigError,
  ConfState,
  Entry,
  ErrProposalDropped,
  MessageType,
  ProgressStateType,
  RawNode,
  SeededRandom,
  Snapshot,
  SnapshotMetadata,
} from "../../src/index.ts";
import type { Raft } from "../../src/internal.ts";
import { Network } from "../../src/rafttest/index.ts";
import { entrySize } from "../../src/wire.ts";
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
  prop,
  raftWith,
  readMessages,
  storageWithTerms,
  text,
} from "../support/raft.ts";

const { StateProbe, StateReplicate, StateSnapshot } = ProgressStateType;

function appendData(r: Raft, data = "somedata"): void {
  assert.ok(r.appendEntry([new Entry(0, 0, 0, text(data))]));
}

describe("progress states", () => {
  test("the leader's own progress tracks what it persisted", () => {
    const r = raftWith(1n, [1n, 2n]);
    r.becomeCandidate();
    r.becomeLeader();
    r.trk.progress.get(2n)!.becomeReplicate();
    for (let i = 0; i < 5; i++) assert.equal(r.step(prop(1n, "foo")), null);
    assert.equal(r.trk.progress.get(1n)!.match, 0);
    const ents = r.raftLog.nextUnstableEnts();
    assert.equal(ents.length, 6);
    assert.equal(ents[0]!.data.length, 0);
    readMessages(r);
    assert.equal(r.trk.progress.get(1n)!.match, 6);
    assert.equal(r.trk.progress.get(1n)!.next, 7);
  });

  test("probe: a single append is outstanding until the follower answers or a heartbeat response arrives", () => {
    const r = raftWith(1n, [1n, 2n]);
    becomeLeader(r);
    const pr = r.trk.progress.get(2n)!;
    pr.becomeProbe();
    appendData(r);
    r.sendAppend(2n);
    const first = readMessages(r);
    assert.equal(first.length, 1);
    assert.equal(first[0]!.index, 0);
    for (let round = 0; round < 3; round++) {
      assert.equal(pr.msgAppFlowPaused, true);
      for (let j = 0; j < 10; j++) {
        appendData(r);
        r.sendAppend(2n);
        assert.deepEqual(readMessages(r), []);
      }
      // Heartbeats go out, but do not unpause by themselves.
      r.step(msg({ type: MsgBeat, from: 1n, to: 1n }));
      assert.equal(pr.msgAppFlowPaused, true);
      assert.deepEqual(
        readMessages(r).map((m) => m.type),
        [MsgHeartbeat],
      );
    }
    // A heartbeat response lets one more probe out.
    r.step(msg({ type: MsgHeartbeatResp, from: 2n, to: 1n, term: r.term }));
    const next = readMessages(r);
    assert.equal(next.length, 1);
    assert.equal(next[0]!.type, MsgApp);
    assert.equal(next[0]!.index, 0);
    assert.equal(pr.msgAppFlowPaused, true);
  });

  test("probe: several proposals while probing produce a single append", () => {
    const r = raftWith(1n, [1n, 2n]);
    r.becomeCandidate();
    r.becomeLeader();
    for (let i = 0; i < 3; i++) r.step(prop(1n, "somedata"));
    assert.equal(readMessages(r).length, 1);
  });

  test("replicate: every new entry is sent at once, advancing next optimistically", () => {
    const r = raftWith(1n, [1n, 2n]);
    becomeLeader(r);
    const pr = r.trk.progress.get(2n)!;
    pr.becomeReplicate();
    for (let i = 0; i < 10; i++) {
      appendData(r);
      r.sendAppend(2n);
      const msgs = readMessages(r);
      assert.equal(msgs.length, 1);
      assert.equal(pr.next, r.raftLog.lastIndex() + 1);
    }
    assert.equal(pr.match, 0);
  });

  test("next advances optimistically only in replicate state", () => {
    for (const [state, want] of [
      [StateReplicate, 6],
      [StateProbe, 2],
    ] as const) {
      const r = newRaft(1n, storageWithTerms([1n, 2n], 1, 2, 3));
      r.becomeCandidate();
      r.becomeLeader();
      const pr = r.trk.progress.get(2n)!;
      pr.state = state;
      pr.next = 2;
      r.step(prop(1n, "somedata"));
      assert.equal(pr.next, want);
    }
  });

  test("snapshot: nothing is sent to a follower waiting for a snapshot", () => {
    const r = raftWith(1n, [1n, 2n]);
    becomeLeader(r);
    r.trk.progress.get(2n)!.becomeSnapshot(10);
    for (let i = 0; i < 10; i++) {
      appendData(r);
      r.sendAppend(2n);
      assert.deepEqual(readMessages(r), []);
    }
  });

  test("an unreachable follower in replicate state falls back to probing from match+1", () => {
    const r = newRaft(1n, storageWithTerms([1n, 2n], 1, 2, 3));
    becomeLeader(r);
    const pr = r.trk.progress.get(2n)!;
    pr.match = 3;
    pr.becomeReplicate();
    pr.next = 6;
    r.step(msg({ type: MessageType.MsgUnreachable, from: 2n, to: 1n }));
    assert.equal(pr.state, StateProbe);
    assert.equal(pr.next, 4);
  });

  test("a heartbeat response unpauses a paused follower", () => {
    const r = raftWith(1n, [1n, 2n], { electionTick: 5 });
    r.becomeCandidate();
    r.becomeLeader();
    const pr = r.trk.progress.get(2n)!;
    pr.msgAppFlowPaused = true;
    r.step(msg({ type: MsgBeat, from: 1n, to: 1n }));
    assert.equal(pr.msgAppFlowPaused, true);
    pr.becomeReplicate();
    assert.equal(pr.msgAppFlowPaused, false);
    pr.msgAppFlowPaused = true;
    r.step(msg({ type: MsgHeartbeatResp, from: 2n, to: 1n, term: r.term }));
    assert.equal(pr.msgAppFlowPaused, false);
  });

  test("an acknowledgement releases a probing follower: only followers out of the wait state receive new entries", () => {
    const r = raftWith(1n, [1n, 2n, 3n], { electionTick: 5 });
    becomeLeader(r);
    r.bcastAppend();
    readMessages(r);
    r.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: r.term, index: 1 }));
    assert.equal(r.raftLog.committed, 1);
    readMessages(r);
    r.step(prop(1n, ""));
    let msgs = readMessages(r);
    assert.deepEqual(
      msgs.map((m) => [m.type, m.to, m.entries.map((e) => e.index)]),
      [[MsgApp, 2n, [2]]],
    );
    r.step(msg({ type: MsgAppResp, from: 3n, to: 1n, term: r.term, index: 1 }));
    msgs = readMessages(r);
    assert.deepEqual(
      msgs.map((m) => [m.type, m.to, m.entries.map((e) => e.index)]),
      [[MsgApp, 3n, [2]]],
    );
  });
});

describe("in-flight window", () => {
  /** A leader with follower 2 in replicate state and the given window. */
  function replicating(maxInflightMsgs: number): Raft {
    const r = raftWith(1n, [1n, 2n], { electionTick: 5, maxInflightMsgs });
    becomeLeader(r);
    r.trk.progress.get(2n)!.becomeReplicate();
    return r;
  }

  test("inflights by count: once maxInflightMsgs appends are unacknowledged, new proposals are not sent", () => {
    const r = replicating(3);
    const pr = r.trk.progress.get(2n)!;
    for (let i = 0; i < 3; i++) {
      r.step(prop(1n, "somedata"));
      assert.equal(readMessages(r).length, 1, `append ${i}`);
    }
    assert.equal(pr.inflights.full(), true);
    assert.equal(pr.isPaused(), true);
    for (let i = 0; i < 10; i++) {
      r.step(prop(1n, "somedata"));
      assert.deepEqual(readMessages(r), []);
    }
  });

  test("inflights by count: each acknowledgement frees the window up to the acked index and lets more out", () => {
    const r = replicating(3);
    const pr = r.trk.progress.get(2n)!;
    // Fill the window: three appends ending at indexes 2 (with the empty entry), 3 and 4.
    for (const d of ["a", "b", "c"]) r.step(prop(1n, d));
    readMessages(r);
    assert.equal(pr.inflights.count(), 3);
    for (let tt = 2; tt < 5; tt++) {
      r.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: r.term, index: tt }));
      readMessages(r);
      r.step(prop(1n, "c"));
      const ms = readMessages(r);
      assert.equal(ms.length, 1);
      assert.equal(ms[0]!.entries[0]!.index, r.raftLog.lastIndex());
      assert.equal(pr.inflights.full(), true);
      // An ack below the window frees nothing.
      r.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: r.term, index: tt - 1 }));
      assert.equal(pr.inflights.full(), true);
    }
  });

  test("inflights by count: with a full window, each heartbeat response releases one empty append and nothing else", () => {
    const r = replicating(3);
    const pr = r.trk.progress.get(2n)!;
    for (let i = 0; i < 3; i++) r.step(prop(1n, "somedata"));
    readMessages(r);
    for (let tt = 1; tt < 5; tt++) {
      for (let i = 0; i < tt; i++) {
        assert.equal(pr.isPaused(), true);
        r.step(msg({ type: MsgHeartbeatResp, from: 2n, to: 1n, term: r.term }));
        const ms = readMessages(r);
        assert.deepEqual(
          ms.map((m) => [m.type, m.entries.length]),
          [[MsgApp, 0]],
        );
      }
      for (let i = 0; i < 10; i++) {
        assert.equal(pr.isPaused(), true);
        r.step(prop(1n, "somedata"));
        assert.deepEqual(readMessages(r), []);
      }
      r.step(msg({ type: MsgHeartbeatResp, from: 2n, to: 1n, term: r.term }));
      readMessages(r);
    }
  });

  test("inflights by bytes: the window closes when unacknowledged payload reaches maxInflightBytes", () => {
    const r = raftWith(1n, [1n, 2n], {
      electionTick: 5,
      maxInflightMsgs: 3,
      maxSizePerMsg: 2048,
      maxInflightBytes: 9000,
    });
    r.becomeCandidate();
    r.becomeLeader();
    readMessages(r);
    r.trk.progress.get(2n)!.becomeProbe();
    const blob = "a".repeat(1000);
    const large = "b".repeat(5000);
    for (let i = 0; i < 22; i++) r.step(prop(1n, i >= 10 && i < 16 ? large : blob));
    let ms = readMessages(r);
    // Probing: one append with the empty entry and the first proposal.
    assert.deepEqual(
      ms.map((m) => [m.type, m.entries.map((e) => e.data.length)]),
      [[MsgApp, [0, 1000]]],
    );
    const ackAndVerify = (index: number, ...entriesPerMsg: number[]): number => {
      r.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: r.term, index }));
      ms = readMessages(r);
      assert.deepEqual(
        ms.map((m) => [m.type, m.entries.length]),
        entriesPerMsg.map((n) => [MsgApp, n]),
        `after ack of ${index}`,
      );
      const last = ms[ms.length - 1]!.entries;
      return last.length === 0 ? index : last[last.length - 1]!.index;
    };
    let index = ackAndVerify(ms[0]!.entries[1]!.index, 2, 2, 2);
    // Acking all three: the third message holds a single large entry.
    index = ackAndVerify(index, 2, 1, 1);
    // Large entries: two messages overflow the byte budget.
    index = ackAndVerify(index, 1, 1);
    index = ackAndVerify(index, 1, 1);
    // Small entries again.
    index = ackAndVerify(index, 1, 2, 2);
    ackAndVerify(index, 2);
  });

  test("maxInflightBytes below maxSizePerMsg is a configuration error", () => {
    assert.throws(
      () => raftWith(1n, [1n], { maxSizePerMsg: 2048, maxInflightBytes: 1024 }),
      (e: unknown) => e instanceof ConfigError && e.field === "maxInflightBytes",
    );
  });

  test("inflight limits hold across a whole replication under load: the window never exceeds maxInflightMsgs", () => {
    const net = new Network({ config: { maxInflightMsgs: 4, maxSizePerMsg: 0 } });
    net.elect(1n);
    const lead = net.raft(1n);
    let maxSeen = 0;
    for (let i = 0; i < 50; i++) {
      net.propose(1n, `e${i}`);
      net.processReady(1n);
      for (const id of [2n, 3n]) maxSeen = Math.max(maxSeen, lead.trk.progress.get(id)!.inflights.count());
      if (i % 7 === 0) net.stabilize();
    }
    net.stabilize();
    assert.ok(maxSeen <= 4 && maxSeen > 1, `max inflight ${maxSeen}`);
    for (const id of [1n, 2n, 3n]) assert.equal(net.appliedData(id).length, 50);
  });
});

describe("message and proposal size limits", () => {
  test("maxSizePerMsg batches entries: each append holds as many entries as fit, at least one", () => {
    const payload = "x".repeat(100);
    const size = entrySize(new Entry(1, 10, 0, text(payload)));
    const r = raftWith(1n, [1n, 2n], { maxSizePerMsg: size * 3 });
    becomeLeader(r);
    r.trk.progress.get(2n)!.becomeReplicate();
    const ents = Array.from({ length: 10 }, () => new Entry(0, 0, 0, text(payload)));
    r.appendEntry(ents);
    r.trk.progress.get(2n)!.next = 2;
    while (r.maybeSendAppend(2n, false)) {
      // drain
    }
    const sizes = ofType(readMessages(r), MsgApp).map((m) => m.entries.length);
    assert.deepEqual(sizes, [3, 3, 3, 1]);
    const huge = raftWith(1n, [1n, 2n], { maxSizePerMsg: 1 });
    becomeLeader(huge);
    huge.trk.progress.get(2n)!.becomeReplicate();
    huge.appendEntry([new Entry(0, 0, 0, text(payload)), new Entry(0, 0, 0, text(payload))]);
    huge.trk.progress.get(2n)!.next = 2;
    huge.maybeSendAppend(2n, false);
    assert.equal(readMessages(huge)[0]!.entries.length, 1);
  });

  test("maxSizePerMsg 0 sends one entry per message and, with the default apply budget, applies entries one per Ready without panicking", () => {
    const s = newStorage([1n]);
    const rn = new RawNode({
      id: 1n,
      electionTick: 10,
      heartbeatTick: 1,
      storage: s,
      maxSizePerMsg: 0,
      random: new SeededRandom(1),
      logger: { debug() {}, info() {}, warning() {}, error() {}, fatal: fail, panic: fail },
    });
    rn.campaign();
    const applied: Entry[][] = [];
    const drain = () => {
      while (rn.hasReady()) {
        const rd = rn.ready();
        s.append(rd.entries);
        if (rd.hardState.term !== 0) s.setHardState(rd.hardState);
        if (rd.committedEntries.length > 0) applied.push(rd.committedEntries);
        rn.advance();
      }
    };
    drain();
    for (const d of ["a", "b", "c"]) rn.propose(text(d));
    drain();
    assert.deepEqual(
      applied.map((b) => b.length),
      [1, 1, 1, 1],
    );
    const net = new Network({ config: { maxSizePerMsg: 0 } });
    net.elect(1n);
    net.propose(1n, "x");
    net.propose(1n, "y");
    net.stabilize();
    for (const m of net.delivered) if (m.type === MsgApp) assert.ok(m.entries.length <= 1);
    assert.deepEqual(net.appliedData(3n), ["x", "y"]);
  });

  test("maxUncommittedEntriesSize: proposals beyond the uncommitted payload budget are dropped, empty ones never", () => {
    const maxEntries = 1024;
    const data = text("testdata");
    const r = raftWith(1n, [1n, 2n, 3n], {
      electionTick: 5,
      maxUncommittedEntriesSize: maxEntries * data.length,
      maxInflightMsgs: 2048,
    });
    r.becomeCandidate();
    r.becomeLeader();
    assert.equal(r.uncommittedSize, 0);
    r.trk.progress.get(2n)!.becomeReplicate();
    r.trk.progress.get(3n)!.becomeReplicate();
    const one = () =>
      msg({ type: MessageType.MsgProp, from: 1n, to: 1n, entries: [new Entry(0, 0, 0, data)] });
    for (let i = 0; i < maxEntries; i++) assert.equal(r.step(one()), null, `proposal ${i}`);
    assert.equal(r.step(one()), ErrProposalDropped);
    assert.equal(readMessages(r).length, maxEntries * 2);
    r.reduceUncommittedSize(maxEntries * data.length);
    assert.equal(r.uncommittedSize, 0);
    // A large proposal is accepted when nothing is uncommitted...
    const big = Array.from({ length: 2 * maxEntries }, () => new Entry(0, 0, 0, data));
    assert.equal(r.step(msg({ type: MessageType.MsgProp, from: 1n, to: 1n, entries: big })), null);
    // ...after which the budget is exceeded.
    assert.equal(r.step(one()), ErrProposalDropped);
    // Empty entries (leader no-ops, leaving joint configs) are never refused.
    assert.equal(r.step(msg({ type: MessageType.MsgProp, from: 1n, to: 1n, entries: [new Entry()] })), null);
    assert.equal(readMessages(r).length, 4);
    r.reduceUncommittedSize(2 * maxEntries * data.length);
    assert.equal(r.uncommittedSize, 0);
  });

  test("maxUncommittedEntriesSize: the budget is released as entries commit and apply", () => {
    const net = new Network({ voters: [1n, 2n, 3n], config: { maxUncommittedEntriesSize: 20 } });
    net.elect(1n);
    net.isolate(2n);
    net.isolate(3n);
    net.propose(1n, "0123456789");
    net.propose(1n, "0123456789");
    assert.throws(
      () => net.propose(1n, "x"),
      (e) => e === ErrProposalDropped,
    );
    net.heal();
    net.tickAndStabilize(1, [1n]);
    assert.equal(net.raft(1n).uncommittedSize, 0);
    net.propose(1n, "x");
    net.stabilize();
    assert.deepEqual(net.appliedData(2n), ["0123456789", "0123456789", "x"]);
  });

  test("maxCommittedSizePerReady pages committed entries across Readies", () => {
    const payload = "p".repeat(100);
    const per = entrySize(new Entry(1, 100, 0, text(payload)));
    const net = new Network({ voters: [1n], config: { maxCommittedSizePerReady: per * 3 } });
    const node = net.node(1n);
    node.recordReadies = true;
    net.elect(1n);
    const rn = node.rawNode;
    // Persist the proposals first, then commit them all at once.
    for (let i = 0; i < 10; i++) rn.propose(text(payload));
    net.stabilize();
    const sizes = node.readies
      .map((rd) => rd.committedEntries.filter((e) => e.data.length > 0).length)
      .filter((n) => n > 0);
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      10,
    );
    assert.ok(Math.max(...sizes) <= 3, `batches ${sizes}`);
    assert.ok(sizes.length >= 4, `batches ${sizes}`);
    for (const rd of node.readies) {
      const bytes = rd.committedEntries.reduce((a, e) => a + entrySize(e), 0);
      assert.ok(rd.committedEntries.length <= 1 || bytes <= per * 3, `ready of ${bytes} bytes`);
    }
    assert.equal(net.appliedData(1n).length, 10);
  });
});

describe("snapshot state", () => {
  /** A leader whose log starts after a snapshot at index 11, term 11, with 2 as a voter. */
  function leaderAfterSnapshot(): Raft {
    const r = raftWith(1n, [1n]);
    r.restore(new Snapshot(new Uint8Array(0), new SnapshotMetadata(new ConfState([1n, 2n]), 11, 11)));
    return r;
  }

  /** A new leader after the snapshot, with follower 2 waiting for that snapshot. */
  function waitingForSnapshot() {
    const r = leaderAfterSnapshot();
    r.becomeCandidate();
    r.becomeLeader();
    const pr = r.trk.progress.get(2n)!;
    pr.next = 1;
    pr.becomeSnapshot(11);
    return { r, pr };
  }

  test("a follower needing compacted entries is sent the snapshot and enters the snapshot state", () => {
    const r = leaderAfterSnapshot();
    r.becomeCandidate();
    r.becomeLeader();
    readMessages(r);
    const pr = r.trk.progress.get(2n)!;
    pr.next = r.raftLog.firstIndex();
    r.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: r.term, index: pr.next - 1, reject: true }));
    const ms = readMessages(r);
    assert.deepEqual(
      ms.map((m) => m.type),
      [MessageType.MsgSnap],
    );
    assert.equal(pr.state, StateSnapshot);
    assert.equal(pr.pendingSnapshot, 11);
    assert.equal(ms[0]!.snapshot!.metadata.index, 11);
  });

  test("no snapshot is sent to a follower that is not recently active", () => {
    const r = leaderAfterSnapshot();
    r.becomeCandidate();
    r.becomeLeader();
    readMessages(r);
    const pr = r.trk.progress.get(2n)!;
    pr.next = r.raftLog.firstIndex() - 1;
    pr.recentActive = false;
    r.step(prop(1n, "somedata"));
    assert.deepEqual(readMessages(r), []);
    assert.notEqual(pr.state, StateSnapshot);
  });

  test("while a snapshot is pending, replication to that follower pauses", () => {
    const r = leaderAfterSnapshot();
    r.becomeCandidate();
    r.becomeLeader();
    readMessages(r);
    r.trk.progress.get(2n)!.becomeSnapshot(11);
    r.step(prop(1n, "somedata"));
    assert.deepEqual(readMessages(r), []);
  });

  test("a failed snapshot report returns the follower to probing from match+1, paused until the next heartbeat", () => {
    const { r, pr } = waitingForSnapshot();
    r.step(msg({ type: MessageType.MsgSnapStatus, from: 2n, to: 1n, reject: true }));
    assert.equal(pr.pendingSnapshot, 0);
    assert.equal(pr.state, StateProbe);
    assert.equal(pr.next, 1);
    assert.equal(pr.msgAppFlowPaused, true);
  });

  test("a successful snapshot report probes from just after the snapshot, paused until the follower answers", () => {
    const { r, pr } = waitingForSnapshot();
    r.step(msg({ type: MessageType.MsgSnapStatus, from: 2n, to: 1n, reject: false }));
    assert.equal(pr.pendingSnapshot, 0);
    assert.equal(pr.state, StateProbe);
    assert.equal(pr.next, 12);
    assert.equal(pr.msgAppFlowPaused, true);
  });

  test("an acknowledgement at or past the snapshot index ends the snapshot state and resumes replication", () => {
    const { r, pr } = waitingForSnapshot();
    // The follower applied the snapshot and acks it before the report arrives.
    r.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: r.term, index: 11 }));
    assert.equal(pr.pendingSnapshot, 0);
    assert.equal(pr.state, StateReplicate);
    // The empty entry of the new term (index 12) went out at once.
    assert.equal(pr.next, 13);
    assert.equal(pr.inflights.count(), 1);
  });

  test("snapshot status reports for a follower that is not waiting for a snapshot are ignored", () => {
    const r = raftWith(1n, [1n, 2n]);
    becomeLeader(r);
    const pr = r.trk.progress.get(2n)!;
    pr.becomeReplicate();
    for (const reject of [false, true]) {
      r.step(msg({ type: MessageType.MsgSnapStatus, from: 2n, to: 1n, reject }));
      assert.equal(pr.state, StateReplicate);
    }
  });
});

function fail(m: string): never {
  throw new Error(m);
}
