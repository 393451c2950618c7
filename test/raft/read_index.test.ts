// Linearizable reads without log writes (thesis §6.4): ReadIndex with a
// quorum heartbeat round (ReadOnlySafe) or the leader lease
// (ReadOnlyLeaseBased), served by the leader or forwarded by followers.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Entry, HardState, MessageType, ReadOnlyOption, type ReadState, StateType } from "../../src/index.ts";
import { utf8 } from "../../src/internal.ts";
import { decodeUtf8, Network } from "../../src/rafttest/index.ts";
import {
  becomeLeader,
  MsgApp,
  MsgHeartbeat,
  MsgHeartbeatResp,
  MsgReadIndex,
  msg,
  newRaft,
  raftWith,
  readMessages,
  storageWithTerms,
} from "../support/raft.ts";

const ctxOf = (rs: ReadState) => decodeUtf8(rs.requestCtx);

function proposeEmpty(net: Network, n: number): void {
  for (let i = 0; i < n; i++) net.node(1n).rawNode.propose(new Uint8Array(0));
  net.stabilize();
}

describe("ReadIndex", () => {
  for (const option of [ReadOnlyOption.ReadOnlySafe, ReadOnlyOption.ReadOnlyLeaseBased]) {
    const name = option === ReadOnlyOption.ReadOnlySafe ? "safe" : "lease-based";
    test(`ReadIndex (${name}): a read requested at any node returns the leader's commit index at request time (§6.4)`, () => {
      const net = new Network({ config: { readOnlyOption: option, checkQuorum: true } });
      net.elect(1n);
      let want = 1;
      let k = 0;
      for (const id of [1n, 2n, 3n, 1n, 2n, 3n]) {
        proposeEmpty(net, 10);
        want += 10;
        const ctx = `ctx${++k}`;
        net.node(id).rawNode.readIndex(utf8(ctx));
        net.stabilize();
        const rs = net.node(id).readStates;
        assert.equal(rs.length, 1, `read at ${id}`);
        assert.equal(rs[0]!.index, want);
        assert.equal(ctxOf(rs[0]!), ctx);
        net.node(id).readStates = [];
      }
    });
  }

  test("ReadIndex (safe): the leader answers only after a quorum acknowledges a heartbeat carrying the request context (§6.4)", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    becomeLeader(r);
    r.raftLog.commitTo(r.raftLog.lastIndex());
    const ctx = utf8("ctx");
    r.step(msg({ type: MsgReadIndex, from: 1n, to: 1n, entries: [new Entry(0, 0, 0, ctx)] }));
    const hbs = readMessages(r);
    assert.deepEqual(
      hbs.map((m) => [m.type, m.to, decodeUtf8(m.context)]),
      [
        [MsgHeartbeat, 2n, "ctx"],
        [MsgHeartbeat, 3n, "ctx"],
      ],
    );
    assert.equal(r.readStates.length, 0);
    assert.equal(r.readOnly.pendingCount(), 1);
    // An ack without the context does not count.
    r.step(msg({ type: MsgHeartbeatResp, from: 2n, to: 1n, term: r.term }));
    assert.equal(r.readStates.length, 0);
    r.step(msg({ type: MsgHeartbeatResp, from: 2n, to: 1n, term: r.term, context: ctx }));
    assert.equal(r.readStates.length, 1);
    assert.equal(r.readStates[0]!.index, 1);
    // The request is forgotten once answered.
    assert.equal(r.readOnly.pendingCount(), 0);
    r.step(msg({ type: MsgHeartbeatResp, from: 3n, to: 1n, term: r.term, context: ctx }));
    assert.equal(r.readStates.length, 1);
  });

  test("ReadIndex (safe): an ack for a later request also answers every earlier pending one, in order", () => {
    const r = raftWith(1n, [1n, 2n, 3n]);
    becomeLeader(r);
    r.raftLog.commitTo(r.raftLog.lastIndex());
    for (const c of ["a", "b", "c"])
      r.step(msg({ type: MsgReadIndex, from: 1n, to: 1n, entries: [new Entry(0, 0, 0, utf8(c))] }));
    readMessages(r);
    r.step(msg({ type: MsgHeartbeatResp, from: 3n, to: 1n, term: r.term, context: utf8("b") }));
    assert.deepEqual(r.readStates.map(ctxOf), ["a", "b"]);
    assert.equal(r.readOnly.pendingCount(), 1);
  });

  test("ReadIndex (safe): a leader cut off from the quorum never answers", () => {
    const net = new Network();
    net.elect(1n);
    net.isolate(1n);
    net.node(1n).rawNode.readIndex(utf8("x"));
    net.tickAndStabilize(5, [1n]);
    assert.deepEqual(net.node(1n).readStates, []);
  });

  test("ReadIndex (lease-based): the leader answers at once, without a heartbeat round", () => {
    const r = raftWith(1n, [1n, 2n, 3n], {
      readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased,
      checkQuorum: true,
    });
    becomeLeader(r);
    r.bcastAppend();
    readMessages(r);
    r.raftLog.commitTo(1);
    r.step(msg({ type: MsgReadIndex, from: 1n, to: 1n, entries: [new Entry(0, 0, 0, utf8("x"))] }));
    assert.equal(r.readStates.length, 1);
    assert.equal(r.readStates[0]!.index, 1);
    assert.deepEqual(readMessages(r), []);
  });

  // After MsgTimeoutNow the transferee campaigns with a forced vote that
  // ignores every follower's lease, so the old leader's lease means nothing
  // for the rest of its term (etcd keeps serving lease reads: etcd-io/raft#99).
  test("ReadIndex (lease-based): after sending MsgTimeoutNow the leader confirms reads with a quorum round", () => {
    const net = new Network({
      config: { readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased, checkQuorum: true },
    });
    net.elect(1n);
    proposeEmpty(net, 1);
    const leader = net.node(1n).rawNode;
    // Node 3 cannot hear anyone: the transfer to it never completes, so node 1
    // stays leader of its term after sending MsgTimeoutNow.
    net.isolate(3n);
    // Before the transfer a lease read is answered at once.
    leader.readIndex(utf8("before"));
    assert.deepEqual(leader.raft.readStates.map(ctxOf), ["before"]);
    net.stabilize();
    net.node(1n).readStates = [];
    leader.transferLeader(3n);
    net.stabilize();
    assert.equal(leader.raft.leadTransferee, 3n);
    assert.equal(leader.raft.leaseRevoked, true);
    leader.readIndex(utf8("after"));
    // No answer before a quorum acknowledged a heartbeat carrying the context...
    assert.deepEqual(leader.raft.readStates, []);
    assert.deepEqual(
      leader.raft.msgs
        .filter((m) => m.type === MessageType.MsgHeartbeat)
        .map((m) => [m.to, decodeUtf8(m.context)]),
      [
        [2n, "after"],
        [3n, "after"],
      ],
    );
    // ...and one once node 2 acknowledged it.
    net.stabilize();
    assert.deepEqual(net.node(1n).readStates.map(ctxOf), ["after"]);
  });

  test("ReadIndex: a single-voter leader answers at once", () => {
    const net = new Network({ voters: [1n] });
    net.elect(1n);
    net.propose(1n, "a");
    net.stabilize();
    net.node(1n).rawNode.readIndex(utf8("x"));
    assert.equal(net.node(1n).rawNode.hasReady(), true);
    net.stabilize();
    assert.deepEqual(
      net.node(1n).readStates.map((r) => r.index),
      [2],
    );
  });

  test("ReadIndex: a learner's read is forwarded to the leader and answered", () => {
    const net = new Network({ voters: [1n], learners: [2n] });
    net.elect(1n);
    proposeEmpty(net, 10);
    net.node(2n).rawNode.readIndex(utf8("ctx"));
    net.stabilize();
    assert.deepEqual(
      net.node(2n).readStates.map((r) => [r.index, ctxOf(r)]),
      [[11, "ctx"]],
    );
  });

  test("ReadIndex: a follower without a leader drops the request", () => {
    const net = new Network();
    net.node(2n).rawNode.readIndex(utf8("x"));
    assert.equal(net.node(2n).rawNode.hasReady(), false);
    net.stabilize();
    assert.deepEqual(net.node(2n).readStates, []);
  });

  test("ReadIndex: a new leader defers reads until it commits an entry of its own term, then answers at that commit index", () => {
    const net = new Network({ voters: [] });
    const configs: Array<[bigint, number, number, number]> = [
      [1n, 1, 1, 0],
      [2n, 2, 2, 2],
      [3n, 2, 2, 2],
    ];
    for (const [id, committed, applied, compact] of configs) {
      const s = storageWithTerms([1n, 2n, 3n], 1, 1);
      s.setHardState(new HardState(1, 0n, committed));
      if (compact !== 0) s.compact(compact);
      net.addNodeWithStorage(id, s, { applied });
    }
    net.filter((m) => m.type === MsgApp);
    net.campaign(1n);
    const lead = net.raft(1n);
    assert.equal(lead.state, StateType.StateLeader);
    net.node(1n).rawNode.readIndex(utf8("ctx"));
    net.stabilize();
    assert.deepEqual(net.node(1n).readStates, []);
    assert.equal(lead.pendingReadIndexMessages.length, 1);
    net.heal();
    // The next heartbeat gets the leader's empty entry (index 3, term 2) committed.
    net.tickAndStabilize(1, [1n]);
    assert.equal(lead.raftLog.committed, 3);
    assert.equal(lead.raftLog.term(3), lead.term);
    assert.deepEqual(
      net.node(1n).readStates.map((r) => [r.index, ctxOf(r)]),
      [[3, "ctx"]],
    );
    // From then on reads are served right away, at the current commit index.
    net.propose(1n, "");
    net.stabilize();
    net.node(1n).rawNode.readIndex(utf8("ctx2"));
    net.stabilize();
    assert.deepEqual(
      net.node(1n).readStates.map((r) => [r.index, ctxOf(r)]),
      [
        [3, "ctx"],
        [4, "ctx2"],
      ],
    );
  });

  test("ReadIndex: a follower's request is answered to the follower with the same context", () => {
    const r = newRaft(1n, storageWithTerms([1n, 2n], 1));
    r.becomeCandidate();
    r.becomeLeader();
    readMessages(r);
    r.raftLog.commitTo(2);
    r.trk.progress.get(2n)!.match = 2;
    r.step(msg({ type: MsgReadIndex, from: 2n, to: 1n, entries: [new Entry(0, 0, 0, utf8("f"))] }));
    readMessages(r);
    r.step(msg({ type: MsgHeartbeatResp, from: 2n, to: 1n, term: r.term, context: utf8("f") }));
    const resp = readMessages(r).filter((m) => m.type === MessageType.MsgReadIndexResp);
    assert.deepEqual(
      resp.map((m) => [m.to, m.index, decodeUtf8(m.entries[0]!.data)]),
      [[2n, 2, "f"]],
    );
  });
});
