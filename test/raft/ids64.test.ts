// A raft cluster whose node IDs look like etcd's: SHA-1-derived, all >= 2^63
// (a 10-byte varint, beyond what a JS number holds exactly). It must elect,
// replicate, change membership (V1 and joint V2), transfer leadership, carry
// etcd's 64-bit ConfChange request IDs, and print IDs the way etcd does: hex
// for node IDs in logs, status and message targets; decimal where etcd's
// describe functions use %d (votes, ConfState lists, conf-change text).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfChange,
  ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  ConfChangeV2,
  ConfState,
  describeConfState,
  describeEntry,
  describeHardState,
  describeMessage,
  Entry,
  EntryType,
  HardState,
  LocalAppendThread,
  LocalApplyThread,
  type Logger,
  Message,
  MessageType,
  None,
  RaftPanicError,
  Snapshot,
  SnapshotMetadata,
  statusToJSON,
} from "../../src/index.ts";
import { getStatus } from "../../src/internal.ts";
import { Network } from "../../src/rafttest/index.ts";
import { decodeConfChange, encodeConfChange, encodeConfChangeV2 } from "../../src/wire.ts";

// Hash-like member IDs (as etcd derives them from peer URLs), every one >= 2^63.
const A = 0x8e9e05c52164694dn; // 10276657743932975437
const B = 0xfd422379fda50e48n; // 18249187646912138824
const C = 0xc3bd5dc21f5b6ef1n; // 14104532696325385969
const D = 0x9a4b81f1f6e6b2e0n; // 11118122981323616992
const E = 0xe0f1a2b3c4d5e6f7n;

class Lines implements Logger {
  readonly lines: string[] = [];
  debug(m: string) {
    this.lines.push(m);
  }
  info(m: string) {
    this.lines.push(m);
  }
  warning(m: string) {
    this.lines.push(m);
  }
  error(m: string) {
    this.lines.push(m);
  }
  fatal(m: string): never {
    throw new RaftPanicError(m);
  }
  panic(m: string): never {
    throw new RaftPanicError(m);
  }
}

describe("a cluster of hash-like 64-bit node IDs", () => {
  test("IDs are above 2^63 (not representable as numbers)", () => {
    for (const id of [A, B, C, D, E]) {
      assert.ok(id >= 2n ** 63n);
      assert.notEqual(BigInt(Number(id)), id);
    }
  });

  test("elects, replicates, and prints node IDs in hex in logs and status", () => {
    const log = new Lines();
    const net = new Network({ voters: [A, B, C], config: { logger: log } });
    net.elect(A);
    assert.equal(net.leader(), A);
    for (const id of [B, C]) assert.equal(net.raft(id).lead, A);
    for (let i = 0; i < 5; i++) {
      // Through the leader and forwarded by a follower, alternately.
      net.propose(i % 2 === 0 ? A : B, `v${i}`);
      net.stabilize();
    }
    for (const id of [A, B, C]) assert.deepEqual(net.appliedData(id), ["v0", "v1", "v2", "v3", "v4"]);
    // Votes are recorded with the full ID.
    assert.equal(net.raft(B).vote, A);
    assert.deepEqual(net.raft(A).hardState(), new HardState(1, A, 6));

    assert.ok(log.lines.includes("8e9e05c52164694d became leader at term 1"), log.lines.join("\n"));
    assert.ok(
      log.lines.some((l) =>
        l.startsWith("fd422379fda50e48 [logterm: 0, index: 0, vote: 0] cast MsgVote for 8e9e05c52164694d"),
      ),
      log.lines.join("\n"),
    );
    const st = getStatus(net.raft(A));
    assert.equal(st.id, A);
    assert.deepEqual([...st.progress!.keys()].sort(), [A, B, C].sort());
    const json = statusToJSON(st);
    assert.match(
      json,
      /^\{"id":"8e9e05c52164694d","term":1,"vote":"8e9e05c52164694d","commit":6,"lead":"8e9e05c52164694d",/,
    );
    for (const h of ["8e9e05c52164694d", "fd422379fda50e48", "c3bd5dc21f5b6ef1"]) {
      assert.match(json, new RegExp(`"${h}":\\{"match":6,"next":7,"state":"StateReplicate"\\}`));
    }
    assert.doesNotThrow(() => JSON.parse(json));
  });

  test("adds a voter (V1, with etcd's 64-bit request ID), removes one, and a joint V2 change swaps two", () => {
    const net = new Network({ voters: [A, B, C] });
    net.elect(A);
    net.propose(A, "before");
    net.stabilize();

    // Add D (etcd's ConfChange.ID is its 64-bit request ID), then start it
    // empty: the leader, whose log is compacted, catches it up with a snapshot.
    const requestId = 0x12340000abcd0001n;
    net
      .node(A)
      .rawNode.proposeConfChange(new ConfChange(ConfChangeType.ConfChangeAddNode, D, undefined, requestId));
    net.stabilize();
    net.compact(A);
    net.addNode(D, null);
    net.tickAndStabilize(1, [A]);
    for (const id of [A, B, C, D]) assert.deepEqual(net.node(id).confState.voters, [A, B, C, D].sort(cmp));
    const ccEntry = net.node(B).appliedEntries.find((e) => e.type === EntryType.EntryConfChange)!;
    const cc = decodeConfChange(ccEntry.data);
    assert.equal(cc.id, requestId);
    assert.equal(cc.nodeId, D);
    assert.deepEqual(net.appliedData(D), ["before"]);
    assert.deepEqual(net.node(D).restoredSnapshots[0]!.metadata.confState.voters, [A, B, C, D].sort(cmp));
    assert.ok(net.delivered.some((m) => m.type === MessageType.MsgSnap && m.from === A && m.to === D));

    // Remove B.
    net.node(A).rawNode.proposeConfChange(new ConfChange(ConfChangeType.ConfChangeRemoveNode, B));
    net.stabilize();
    assert.deepEqual(net.node(A).confState.voters, [A, C, D].sort(cmp));
    assert.equal(net.raft(A).trk.progress.has(B), false);

    // Joint change: replace C by E, leaving the joint configuration explicitly.
    net
      .node(A)
      .rawNode.proposeConfChange(
        new ConfChangeV2(
          [
            new ConfChangeSingle(ConfChangeType.ConfChangeRemoveNode, C),
            new ConfChangeSingle(ConfChangeType.ConfChangeAddNode, E),
          ],
          ConfChangeTransition.ConfChangeTransitionJointExplicit,
        ),
      );
    net.stabilize();
    net.compact(A);
    net.addNode(E, null);
    net.tickAndStabilize(1, [A]);
    const joint = net.node(E).confState;
    assert.deepEqual(joint.voters, [A, D, E].sort(cmp));
    assert.deepEqual(joint.votersOutgoing, [A, C, D].sort(cmp));
    net.node(A).rawNode.proposeConfChange(new ConfChangeV2());
    net.stabilize();
    for (const id of [A, D, E]) {
      const cs = net.node(id).confState;
      assert.deepEqual([cs.voters, cs.votersOutgoing], [[A, D, E].sort(cmp), []]);
    }
    net.propose(A, "after");
    net.stabilize();
    for (const id of [A, D, E]) assert.deepEqual(net.appliedData(id), ["before", "after"]);
  });

  test("transfers leadership to a 64-bit ID and keeps working", () => {
    const net = new Network({ voters: [A, B, C] });
    net.elect(A);
    net.node(A).rawNode.transferLeader(C);
    net.stabilize();
    assert.equal(net.leader(), C);
    assert.equal(net.raft(A).lead, C);
    net.propose(C, "from C");
    net.stabilize();
    for (const id of [A, B, C]) assert.deepEqual(net.appliedData(id), ["from C"]);
  });

  test("an ID at 2^64 - 1 and 2^64 - 2 is refused: those are the local storage threads", () => {
    assert.throws(() => new Network({ voters: [LocalAppendThread] }), { code: "ERR_INVALID_CONFIG" });
    assert.throws(() => new Network({ voters: [LocalApplyThread] }), { code: "ERR_INVALID_CONFIG" });
  });
});

describe("describe functions with 64-bit IDs, as etcd prints them", () => {
  test("message targets in hex; votes in decimal (%d); local threads by name", () => {
    const m = Message.create({
      type: MessageType.MsgVote,
      from: A,
      to: B,
      term: 3,
      logTerm: 2,
      index: 9,
      vote: A,
    });
    assert.equal(
      describeMessage(m),
      "8e9e05c52164694d->fd422379fda50e48 MsgVote Term:3 Log:2/9 Vote:10276657743932975437",
    );
    const app = Message.create({
      type: MessageType.MsgStorageAppend,
      from: A,
      to: LocalAppendThread,
      term: 3,
      vote: B,
      commit: 4,
      responses: [Message.create({ type: MessageType.MsgStorageAppendResp, from: LocalAppendThread, to: A })],
    });
    assert.equal(
      describeMessage(app),
      "8e9e05c52164694d->AppendThread MsgStorageAppend Term:3 Log:0/0 Commit:4 Vote:18249187646912138824 Responses:[\n" +
        "  AppendThread->8e9e05c52164694d MsgStorageAppendResp Term:0 Log:0/0\n]",
    );
    assert.equal(
      describeMessage(Message.create({ type: MessageType.MsgApp, from: LocalApplyThread, to: None })),
      "ApplyThread->None MsgApp Term:0 Log:0/0",
    );
  });

  test("HardState, ConfState, snapshots and conf-change entries print IDs in decimal", () => {
    assert.equal(describeHardState(new HardState(5, C, 7)), "Term:5 Vote:14104532696325385969 Commit:7");
    assert.equal(
      describeConfState(new ConfState([A, B], [D], [A], [], false)),
      "Voters:[10276657743932975437 18249187646912138824] VotersOutgoing:[10276657743932975437] " +
        "Learners:[11118122981323616992] LearnersNext:[] AutoLeave:false",
    );
    const cc = new Entry(
      2,
      8,
      EntryType.EntryConfChange,
      encodeConfChange(new ConfChange(ConfChangeType.ConfChangeAddLearnerNode, D)),
    );
    assert.equal(describeEntry(cc), "2/8 EntryConfChange l11118122981323616992");
    const cc2 = new Entry(
      2,
      9,
      EntryType.EntryConfChangeV2,
      encodeConfChangeV2(
        new ConfChangeV2([
          new ConfChangeSingle(ConfChangeType.ConfChangeAddNode, 2n ** 64n - 3n),
          new ConfChangeSingle(ConfChangeType.ConfChangeRemoveNode, A),
        ]),
      ),
    );
    assert.equal(describeEntry(cc2), "2/9 EntryConfChangeV2 v18446744073709551613 r10276657743932975437");
    const snap = Message.create({
      type: MessageType.MsgSnap,
      from: A,
      to: E,
      term: 2,
      snapshot: new Snapshot(new Uint8Array(0), new SnapshotMetadata(new ConfState([A, E]), 11, 2)),
    });
    assert.equal(
      describeMessage(snap),
      "8e9e05c52164694d->e0f1a2b3c4d5e6f7 MsgSnap Term:2 Log:0/0\n" +
        "  Snapshot: Index:11 Term:2 ConfState:Voters:[10276657743932975437 16208915426868324087] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false",
    );
  });
});

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// IDs that any lossy conversion would merge. P and S differ by 1: Number()
// rounds both to the same double (doubles above 2^63 are 2,048 apart). P and
// Q differ only in bit 53: their low 53 bits are equal, so truncating to a
// safe integer (or masking to 53 bits) gives both the value R, which is itself
// a member. Three of the four are >= 2^63. A core that keyed a map, compared a
// vote or addressed a message through a number would confuse two members.
const P = 0xc3bd5dc21f5b6ef1n;
const Q = P + (1n << 53n);
const R = P & ((1n << 53n) - 1n);
const S = P + 1n;

describe("a cluster whose IDs collide under any conversion to number", () => {
  test("the IDs are as described (the premise of the test)", () => {
    assert.ok(P >= 2n ** 63n && Q >= 2n ** 63n && S >= 2n ** 63n);
    assert.ok(R < 2n ** 53n);
    assert.equal(Number(P), Number(S));
    assert.equal(P & ((1n << 53n) - 1n), Q & ((1n << 53n) - 1n));
    assert.equal(Q & ((1n << 53n) - 1n), R);
    assert.equal(new Set([P, Q, R, S]).size, 4);
  });

  test("elect, commit, a joint change, a removal, a snapshot to a lagging member and a transfer keep every ID exact", () => {
    const net = new Network({ voters: [P, Q, R] });
    net.elect(P);
    assert.equal(net.leader(), P);
    for (const id of [Q, R]) {
      assert.equal(net.raft(id).lead, P);
      assert.equal(net.raft(id).vote, P);
    }
    net.propose(P, "one");
    net.propose(R, "two"); // forwarded by the small-ID follower to P
    net.stabilize();
    for (const id of [P, Q, R]) assert.deepEqual(net.appliedData(id), ["one", "two"]);

    // Status: the leader's progress map has exactly the three keys, each with its own match.
    const st = getStatus(net.raft(P));
    assert.equal(st.id, P);
    assert.equal(st.softState.lead, P);
    assert.equal(st.hardState.vote, P);
    assert.deepEqual([...st.progress!.keys()].sort(cmp), [R, P, Q]);
    const commit = net.raft(P).raftLog.committed;
    for (const id of [P, Q, R]) assert.equal(st.progress!.get(id)!.match, commit);
    assert.deepEqual(st.config.voters.incoming.slice(), [R, P, Q]);

    // Every message went between two of the members, and each follower got its own appends.
    const members = new Set([P, Q, R]);
    for (const m of net.delivered) {
      assert.ok(members.has(m.from) && members.has(m.to), `${m.from} -> ${m.to}`);
    }
    for (const id of [Q, R]) {
      assert.ok(net.delivered.some((m) => m.type === MessageType.MsgApp && m.from === P && m.to === id));
      assert.ok(net.delivered.some((m) => m.type === MessageType.MsgAppResp && m.from === id && m.to === P));
    }

    // Joint change, left automatically: S (Number(S) === Number(P)) replaces R.
    net
      .node(P)
      .rawNode.proposeConfChange(
        new ConfChangeV2([
          new ConfChangeSingle(ConfChangeType.ConfChangeAddNode, S),
          new ConfChangeSingle(ConfChangeType.ConfChangeRemoveNode, R),
        ]),
      );
    // P and Q are a majority of both halves, so the change commits and is left
    // without S; S then starts empty and is caught up by a snapshot.
    net.stabilize();
    net.compact(P);
    net.addNode(S, null);
    net.tickAndStabilize(1, [P]);
    for (const id of [P, Q, S]) {
      const cs = net.node(id).confState;
      assert.deepEqual(cs.voters, [P, Q, S].sort(cmp), `voters at ${id}`);
      assert.deepEqual(cs.votersOutgoing, [], `left the joint config at ${id}`);
    }
    // Two V2 entries were applied: the change entering the joint config and the leader's empty auto-leave.
    const v2 = net.node(Q).appliedEntries.filter((e) => e.type === EntryType.EntryConfChangeV2);
    assert.equal(v2.length, 2);
    assert.equal(v2[1]!.data.length, 0);
    assert.ok(net.delivered.some((m) => m.type === MessageType.MsgSnap && m.from === P && m.to === S));
    assert.equal(net.raft(P).trk.progress.has(R), false);
    assert.equal(net.raft(P).trk.progress.has(S), true);
    assert.deepEqual(net.appliedData(S), ["one", "two"]);

    // Q lags: cut off while entries commit on P and S, then P's log is compacted past it.
    net.isolate(Q);
    for (let i = 0; i < 5; i++) net.propose(P, `lag${i}`);
    net.stabilize();
    const snap = net.compact(P);
    net.heal();
    const snapsBefore = net.node(Q).restoredSnapshots.length;
    net.tickAndStabilize(3, [P]);
    const toQ = net.delivered.filter((m) => m.type === MessageType.MsgSnap && m.to === Q);
    assert.ok(toQ.length > 0, "Q was sent a snapshot");
    for (const m of toQ) {
      assert.equal(m.from, P);
      assert.deepEqual(m.snapshot!.metadata.confState.voters, [P, Q, S].sort(cmp));
    }
    assert.equal(net.node(Q).restoredSnapshots.length, snapsBefore + 1);
    assert.equal(net.node(Q).restoredSnapshots.at(-1)!.metadata.index, snap.metadata.index);
    assert.deepEqual(net.appliedData(Q), net.appliedData(P));
    assert.equal(getStatus(net.raft(P)).progress!.get(Q)!.match, net.raft(P).raftLog.lastIndex());

    // Leader transfer to Q (>= 2^63, sharing its low 53 bits with R).
    net.node(P).rawNode.transferLeader(Q);
    net.stabilize();
    assert.equal(net.leader(), Q);
    for (const id of [P, S]) assert.equal(net.raft(id).lead, Q);
    assert.ok(net.delivered.some((m) => m.type === MessageType.MsgTimeoutNow && m.from === P && m.to === Q));

    // V1 removal of P (the old leader, Number(P) === Number(S)): S must stay.
    net.node(Q).rawNode.proposeConfChange(new ConfChange(ConfChangeType.ConfChangeRemoveNode, P));
    net.stabilize();
    for (const id of [Q, S]) assert.deepEqual(net.node(id).confState.voters, [Q, S].sort(cmp));
    assert.deepEqual([...getStatus(net.raft(Q)).progress!.keys()].sort(cmp), [Q, S].sort(cmp));
    net.propose(S, "end");
    net.stabilize();
    for (const id of [Q, S]) assert.equal(net.appliedData(id).at(-1), "end");
    // S voted for P in no election (it joined after); it voted Q's transfer campaign.
    assert.equal(net.raft(S).hardState().vote, Q);
  });
});
