// RawNode: the Ready/advance contract, message refusal, status, bootstrap,
// restarts, and asynchronous storage writes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfChange,
  ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  ConfChangeV2,
  type Config,
  ConfState,
  discardLogger,
  Entry,
  EntryType,
  ErrInvalidMessage,
  ErrProposalDropped,
  ErrStepLocalMsg,
  ErrStepPeerNotFound,
  HardState,
  isEmptyHardState,
  LocalAppendThread,
  LocalApplyThread,
  MemoryStorage,
  Message,
  MessageType,
  mustSync,
  ProgressType,
  RaftError,
  RaftPanicError,
  RawNode,
  type Ready,
  SeededRandom,
  Snapshot,
  SnapshotMetadata,
  StateType,
} from "../../src/index.ts";
import { utf8 } from "../../src/internal.ts";
import { isError } from "../../src/raft/errors.ts";
import { Network } from "../../src/rafttest/index.ts";
import { decodeConfChange, decodeConfChangeV2 } from "../../src/wire.ts";
import { newStorage } from "../support/raft.ts";

function rawNode(storage: MemoryStorage, extra: Partial<Config> = {}): RawNode {
  return new RawNode({
    id: 1n,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    logger: discardLogger,
    random: new SeededRandom(1),
    ...extra,
  });
}

/** Handles one Ready synchronously: persist, collect, advance. */
function handle(rn: RawNode, s: MemoryStorage): Ready {
  const rd = rn.ready();
  if (rd.snapshot !== null && rd.snapshot.metadata.index > 0) s.applySnapshot(rd.snapshot);
  s.append(rd.entries);
  if (!isEmptyHardState(rd.hardState)) s.setHardState(rd.hardState);
  rn.advance();
  return rd;
}

function drain(rn: RawNode, s: MemoryStorage): Ready[] {
  const out: Ready[] = [];
  while (rn.hasReady()) out.push(handle(rn, s));
  return out;
}

describe("RawNode step", () => {
  const localTypes = [
    MessageType.MsgHup,
    MessageType.MsgBeat,
    MessageType.MsgUnreachable,
    MessageType.MsgSnapStatus,
    MessageType.MsgCheckQuorum,
    MessageType.MsgStorageAppend,
    MessageType.MsgStorageAppendResp,
    MessageType.MsgStorageApply,
    MessageType.MsgStorageApplyResp,
  ];
  test("local message types from the network are refused with ErrStepLocalMsg", () => {
    const rn = rawNode(newStorage([1n, 2n]));
    for (const type of localTypes) {
      assert.throws(
        () => rn.step(Message.create({ type, from: 2n, to: 1n, term: 1 })),
        (e) => isError(e, ErrStepLocalMsg),
        `type ${type}`,
      );
    }
    assert.equal(rn.raft.term, 0);
    assert.equal(rn.hasReady(), false);
  });

  test("responses from a node without progress are refused with ErrStepPeerNotFound", () => {
    const rn = rawNode(newStorage([1n, 2n]));
    for (const type of [MessageType.MsgAppResp, MessageType.MsgVoteResp, MessageType.MsgHeartbeatResp]) {
      assert.throws(
        () => rn.step(Message.create({ type, from: 3n, to: 1n, term: 1 })),
        (e) => isError(e, ErrStepPeerNotFound),
      );
    }
    // The same from a member goes through.
    rn.step(Message.create({ type: MessageType.MsgHeartbeatResp, from: 2n, to: 1n, term: 1 }));
    assert.equal(rn.raft.term, 1);
  });

  test("malformed messages are refused with ErrInvalidMessage", () => {
    const rn = rawNode(newStorage([1n, 2n]));
    assert.throws(
      () => rn.step(Message.create({ type: MessageType.MsgProp, from: 2n, to: 1n })),
      (e) => isError(e, ErrInvalidMessage),
    );
    assert.throws(
      () => rn.step(Message.create({ type: MessageType.MsgReadIndex, from: 2n, to: 1n })),
      (e) => isError(e, ErrInvalidMessage),
    );
    assert.throws(
      () =>
        rn.step(
          Message.create({
            type: MessageType.MsgReadIndexResp,
            from: 2n,
            to: 1n,
            entries: [new Entry(), new Entry()],
          }),
        ),
      (e) => isError(e, ErrInvalidMessage),
    );
  });

  test("refusals are fresh RaftErrors with the sentinel's code, class and message (a stack of their own)", () => {
    const rn = rawNode(newStorage([1n, 2n]));
    const thrown: unknown[] = [];
    for (let i = 0; i < 2; i++) {
      try {
        rn.step(Message.create({ type: MessageType.MsgHup, from: 2n, to: 1n }));
      } catch (e) {
        thrown.push(e);
      }
    }
    assert.equal(thrown.length, 2);
    const [a, b] = thrown as RaftError[];
    assert.notEqual(a, ErrStepLocalMsg);
    assert.notEqual(a, b);
    for (const e of [a!, b!]) {
      assert.ok(e instanceof RaftError);
      assert.equal(e.code, "ERR_STEP_LOCAL_MSG");
      assert.equal(e.message, ErrStepLocalMsg.message);
      assert.match(e.stack ?? "", /rawnode\.ts/);
    }
  });

  test("propose throws ErrProposalDropped when there is no leader; errors are RaftErrors with codes", () => {
    const rn = rawNode(newStorage([1n, 2n]));
    assert.throws(
      () => rn.propose(utf8("x")),
      (e) => e === ErrProposalDropped && e instanceof RaftError && e.code === "ERR_PROPOSAL_DROPPED",
    );
  });
});

describe("Ready / advance contract", () => {
  test("a campaign hands out the new term and vote to sync first; leadership, the empty entry and its commit follow after advance", () => {
    const s = newStorage([1n]);
    const rn = rawNode(s);
    assert.equal(rn.hasReady(), false);
    rn.campaign();
    const readies = drain(rn, s);
    const [first, second] = readies;
    // The self-vote only counts once the vote is durable, i.e. after advance.
    assert.deepEqual([first!.softState!.lead, first!.softState!.raftState], [0n, StateType.StateCandidate]);
    assert.deepEqual([first!.hardState.term, first!.hardState.vote], [1, 1n]);
    assert.equal(first!.mustSync, true);
    assert.deepEqual(first!.entries, []);
    assert.deepEqual([second!.softState!.lead, second!.softState!.raftState], [1n, StateType.StateLeader]);
    assert.deepEqual(
      second!.entries.map((e) => [e.term, e.index]),
      [[1, 1]],
    );
    assert.equal(second!.mustSync, true);
    assert.deepEqual(
      readies.flatMap((r) => r.committedEntries).map((e) => e.index),
      [1],
    );
    assert.equal(rn.hasReady(), false);
    assert.deepEqual(s.initialState().hardState, new HardState(1, 1n, 1));
  });

  test("mustSync is set only for new entries or a term/vote change, never for a commit-only change", () => {
    const base = new HardState(1, 1n, 3);
    assert.equal(mustSync(new HardState(1, 1n, 3), base, 0), false);
    assert.equal(mustSync(new HardState(1, 1n, 4), base, 0), false);
    assert.equal(mustSync(new HardState(1, 2n, 3), base, 0), true);
    assert.equal(mustSync(new HardState(2, 1n, 3), base, 0), true);
    assert.equal(mustSync(new HardState(1, 1n, 3), base, 1), true);
  });

  test("a follower's commit-only Ready does not need a sync", () => {
    const net = new Network();
    net.elect(1n);
    net.node(2n).recordReadies = true;
    net.propose(1n, "x");
    net.stabilize();
    const readies = net.node(2n).readies;
    const withEntries = readies.filter((r) => r.entries.length > 0);
    const commitOnly = readies.filter((r) => r.entries.length === 0 && !isEmptyHardState(r.hardState));
    assert.ok(withEntries.length > 0 && commitOnly.length > 0);
    assert.ok(withEntries.every((r) => r.mustSync));
    assert.ok(commitOnly.every((r) => !r.mustSync));
  });

  test("nothing is handed out twice: after advance, hasReady is false until something changes", () => {
    const s = newStorage([1n]);
    const rn = rawNode(s);
    rn.campaign();
    drain(rn, s);
    rn.propose(utf8("a"));
    assert.equal(rn.hasReady(), true);
    const rd = handle(rn, s);
    assert.deepEqual(
      rd.entries.map((e) => e.index),
      [2],
    );
    const rest = drain(rn, s);
    assert.deepEqual(
      rest.flatMap((r) => r.committedEntries).map((e) => e.index),
      [2],
    );
    assert.equal(rn.hasReady(), false);
  });

  test("accepting a second Ready before advance is a programming error", () => {
    const s = newStorage([1n, 2n]);
    const rn = rawNode(s);
    rn.campaign();
    rn.ready();
    rn.step(Message.create({ type: MessageType.MsgVoteResp, from: 2n, to: 1n, term: 1 }));
    assert.throws(() => rn.ready(), RaftPanicError);
  });

  test("status: leaders report every member's progress, followers none; basicStatus matches", () => {
    const net = new Network();
    net.elect(1n);
    const st = net.node(1n).rawNode.status();
    assert.equal(st.id, 1n);
    assert.deepEqual([st.hardState.term, st.hardState.vote, st.hardState.commit], [1, 1n, 1]);
    assert.deepEqual([st.softState.lead, st.softState.raftState], [1n, StateType.StateLeader]);
    assert.deepEqual([...st.progress!.keys()].sort(), [1n, 2n, 3n]);
    assert.equal(st.progress!.get(2n)!.match, 1);
    assert.deepEqual(st.config.voters.incoming.slice(), [1n, 2n, 3n]);
    // The status is a copy.
    st.progress!.get(2n)!.match = 99;
    assert.equal(net.raft(1n).trk.progress.get(2n)!.match, 1);
    const fst = net.node(2n).rawNode.status();
    assert.equal(fst.progress, null);
    const bs = net.node(2n).rawNode.basicStatus();
    assert.deepEqual(
      [bs.id, bs.softState.lead, bs.applied, bs.leadTransferee],
      [2n, 1n, net.raft(2n).raftLog.applied, 0n],
    );
  });

  test("withProgress visits each member with its type", () => {
    const net = new Network({ voters: [1n, 2n], learners: [3n] });
    const seen: Array<[bigint, number]> = [];
    net.node(1n).rawNode.withProgress((id, type) => seen.push([id, type]));
    assert.deepEqual(seen, [
      [1n, ProgressType.Peer],
      [2n, ProgressType.Peer],
      [3n, ProgressType.Learner],
    ]);
  });

  test("tickQuiesced advances the election clock without campaigning", () => {
    const rn = rawNode(newStorage([1n, 2n, 3n]));
    for (let i = 0; i < 100; i++) rn.tickQuiesced();
    assert.equal(rn.raft.state, StateType.StateFollower);
    assert.equal(rn.raft.electionElapsed, 100);
    rn.tick();
    assert.equal(rn.raft.state, StateType.StateCandidate);
  });

  test("proposing and applying a conf change through RawNode returns the new ConfState", () => {
    const s = newStorage([1n]);
    const rn = rawNode(s);
    rn.campaign();
    drain(rn, s);
    rn.proposeConfChange(
      new ConfChangeV2(
        [new ConfChangeSingle(ConfChangeType.ConfChangeAddLearnerNode, 2n)],
        ConfChangeTransition.ConfChangeTransitionAuto,
      ),
    );
    let cs: ConfState | null = null;
    while (rn.hasReady()) {
      const rd = rn.ready();
      s.append(rd.entries);
      for (const e of rd.committedEntries) {
        if (e.type === EntryType.EntryConfChangeV2) {
          cs = rn.applyConfChange(decodeConfChangeV2(e.data));
        }
      }
      rn.advance();
    }
    assert.deepEqual(cs!.learners, [2n]);
    assert.deepEqual(rn.raft.trk.learnerNodes(), [2n]);
  });
});

describe("bootstrap and restart", () => {
  test("bootstrap writes one AddNode entry per peer at term 1 and makes the node able to campaign at once", () => {
    const s = new MemoryStorage();
    const rn = rawNode(s);
    rn.bootstrap([{ id: 1n }, { id: 2n }]);
    const rd = handle(rn, s);
    assert.deepEqual([rd.hardState.term, rd.hardState.commit], [1, 2]);
    assert.deepEqual(
      rd.entries.map((e) => [e.term, e.index, e.type]),
      [
        [1, 1, EntryType.EntryConfChange],
        [1, 2, EntryType.EntryConfChange],
      ],
    );
    assert.equal(rd.committedEntries.length, 2);
    assert.deepEqual(rn.raft.trk.voterNodes(), [1n, 2n]);
    rn.campaign();
    assert.equal(rn.raft.state, StateType.StateCandidate);
  });

  test("bootstrap refuses an empty peer list and a non-empty storage", () => {
    assert.throws(() => rawNode(new MemoryStorage()).bootstrap([]), RaftError);
    const s = new MemoryStorage();
    s.append([new Entry(1, 1)]);
    assert.throws(() => rawNode(s).bootstrap([{ id: 1n }]), RaftError);
  });

  test("a restarted node hands out committed entries after its applied index, and no HardState until it changes", () => {
    const s = newStorage([1n]);
    s.append([new Entry(1, 1), new Entry(1, 2, 0, utf8("foo"))]);
    s.setHardState(new HardState(1, 0n, 1));
    const rn = rawNode(s);
    const rd = handle(rn, s);
    assert.equal(isEmptyHardState(rd.hardState), true);
    assert.deepEqual(
      rd.committedEntries.map((e) => e.index),
      [1],
    );
    assert.equal(rn.hasReady(), false);
    const applied = rawNode(s, { applied: 1 });
    assert.equal(applied.hasReady(), false);
  });

  test("a node restarted from a snapshot resumes after it", () => {
    const s = new MemoryStorage();
    s.applySnapshot(new Snapshot(new Uint8Array(0), new SnapshotMetadata(new ConfState([1n, 2n]), 2, 1)));
    s.append([new Entry(1, 3, 0, utf8("foo"))]);
    s.setHardState(new HardState(1, 0n, 3));
    const rn = rawNode(s, { applied: 2 });
    const rd = handle(rn, s);
    assert.deepEqual(
      rd.committedEntries.map((e) => e.index),
      [3],
    );
    assert.equal(rn.raft.raftLog.firstIndex(), 3);
  });
});

describe("asynchronous storage writes", () => {
  test("storage work is handed out as messages to the local append and apply threads, with the responses to deliver after", () => {
    const s = newStorage([1n]);
    const rn = rawNode(s, { asyncStorageWrites: true });
    rn.campaign();
    const rd = rn.ready();
    const append = rd.messages.filter((m) => m.to === LocalAppendThread);
    assert.equal(append.length, 1);
    const m = append[0]!;
    assert.equal(m.type, MessageType.MsgStorageAppend);
    assert.deepEqual([m.term, m.vote], [1, 1n]);
    // The self-vote only counts after the append: it travels in the responses.
    assert.ok(m.responses.some((r) => r.type === MessageType.MsgVoteResp && r.to === 1n));
    assert.equal(rn.raft.state, StateType.StateCandidate);
    assert.throws(() => rn.advance(), RaftPanicError);
    s.setHardState(new HardState(m.term, m.vote, m.commit));
    for (const r of m.responses) rn.step(r);
    assert.equal(rn.raft.state, StateType.StateLeader);
  });

  test("committed entries are applied through MsgStorageApply, and only once they are stable", () => {
    const s = newStorage([1n]);
    const rn = rawNode(s, { asyncStorageWrites: true });
    rn.campaign();
    const appendWork: Message[] = [];
    const applied: number[] = [];
    for (let round = 0; round < 20 && rn.hasReady(); round++) {
      const rd = rn.ready();
      for (const m of rd.messages) {
        if (m.to === LocalAppendThread) appendWork.push(m);
        if (m.to === LocalApplyThread) {
          for (const e of m.entries) {
            assert.ok(e.index <= s.lastIndex(), `entry ${e.index} applied before it was stored`);
            applied.push(e.index);
          }
          for (const r of m.responses) rn.step(r);
        }
      }
      // Persist only after looking at the Ready: application waits for it.
      for (const w of appendWork.splice(0)) {
        s.append(w.entries);
        if (w.term !== 0) s.setHardState(new HardState(w.term, w.vote, w.commit));
        for (const r of w.responses) if (r.to === 1n || r.from === LocalAppendThread) rn.step(r);
      }
    }
    assert.deepEqual(applied, [1]);
    assert.equal(rn.raft.raftLog.applied, 1);
  });

  test("a cluster with asynchronous storage writes elects, replicates and applies like a synchronous one", () => {
    for (const seed of [1, 2, 3]) {
      const net = new Network({ seed, config: { asyncStorageWrites: true } });
      net.reorder = true;
      net.elect(1n);
      for (let i = 0; i < 20; i++) net.propose(1n + BigInt(i % 3), `e${i}`);
      net.stabilize();
      const want = net.appliedData(1n);
      assert.equal(want.length, 20);
      for (const id of [2n, 3n]) assert.deepEqual(net.appliedData(id), want);
    }
  });

  test("with asynchronous writes, a follower's acknowledgement is not sent before its append is persisted", () => {
    const net = new Network({ config: { asyncStorageWrites: true } });
    net.elect(1n);
    net.node(2n).recordReadies = true;
    net.propose(1n, "x");
    net.stabilize();
    for (const rd of net.node(2n).readies) {
      // Acks to the leader never ride on the Ready itself.
      assert.ok(!rd.messages.some((m) => m.type === MessageType.MsgAppResp && m.to === 1n));
    }
    assert.deepEqual(net.appliedData(2n), ["x"]);
  });

  test("a mixed cluster (some nodes async, some not) works", () => {
    const net = new Network({ config: (id) => ({ asyncStorageWrites: id !== 2n }) });
    net.elect(2n);
    net.propose(3n, "x");
    net.stabilize();
    for (const id of [1n, 2n, 3n]) assert.deepEqual(net.appliedData(id), ["x"]);
  });
});

test("ConfChange V1 proposals through RawNode are applied as V1 entries", () => {
  const net = new Network();
  net.elect(1n);
  net.node(1n).rawNode.proposeConfChange(new ConfChange(ConfChangeType.ConfChangeAddLearnerNode, 4n));
  net.stabilize();
  const e = net.node(2n).appliedEntries.find((x) => x.type === EntryType.EntryConfChange)!;
  assert.equal(decodeConfChange(e.data).nodeId, 4n);
  assert.deepEqual(net.node(2n).confState.learners, [4n]);
});
