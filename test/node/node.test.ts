// The Node API's behaviours, after etcd's node_test.go: proposals, blocking
// while leaderless, stop and abort, conf changes, read index, restart, and the
// event-loop discipline (bounded turns, no unhandled rejections).
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import {
  AbortError,
  ConfChange,
  ConfChangeType,
  ConfState,
  Entry,
  EntryType,
  ErrAdvanceAsync,
  ErrInvalidMessage,
  ErrProposalDropped,
  ErrReadyBusy,
  ErrStepLocalMsg,
  ErrStopped,
  ErrUnavailable,
  HardState,
  LocalAppendThread,
  MemoryStorage,
  Message,
  MessageType,
  RaftPanicError,
  restartNode,
  Snapshot,
  SnapshotMetadata,
  StateType,
  startNode,
} from "../../src/index.ts";
import { decodeConfChange, encodeConfChange } from "../../src/wire.ts";
import { flush, persist, Reader, state, storageWithPeers, testConfig, watchUnhandled } from "./helpers.ts";

const unhandled = watchUnhandled();
after(() => assert.deepEqual(unhandled, [], "no unhandled rejections"));

const enc = (s: string) => new TextEncoder().encode(s);

/** A single-voter node that campaigned and became leader (its Readys handled). */
async function singleLeader(extra = {}) {
  const s = storageWithPeers(1n);
  const node = restartNode(testConfig(1n, s, extra));
  const r = new Reader(node);
  await node.campaign();
  for (;;) {
    const rd = await r.next();
    persist(s, rd);
    node.advance();
    if (rd.softState?.lead === 1n && rd.softState.raftState === StateType.StateLeader) break;
  }
  // Apply the leader's empty entry.
  for (;;) {
    const rd = await r.next();
    persist(s, rd);
    node.advance();
    if (rd.committedEntries.length > 0) break;
  }
  return { s, node, r };
}

describe("Node", () => {
  test("propose: the entry reaches the log and commits", async () => {
    const { s, node, r } = await singleLeader();
    await node.propose(enc("somedata"));
    const rd = await r.next();
    assert.equal(rd.entries.length, 1);
    assert.deepEqual(rd.entries[0]!.data, enc("somedata"));
    assert.equal(rd.mustSync, true);
    persist(s, rd);
    node.advance();
    const rd2 = await r.next();
    assert.deepEqual(
      rd2.committedEntries.map((e) => e.data),
      [enc("somedata")],
    );
    node.advance();
    await node.stop();
  });

  test("proposals wait while there is no leader, then go through", async () => {
    const s = storageWithPeers(1n);
    const node = restartNode(testConfig(1n, s));
    const r = new Reader(node);
    const p = node.propose(enc("somedata"));
    assert.equal(await state(p), "pending");
    await flush();
    assert.equal(await state(p), "pending");
    await node.campaign();
    const rd = await r.next();
    persist(s, rd);
    node.advance();
    assert.equal(await state(p), "resolved");
    // It was appended after the leader's empty entry.
    const rd2 = await r.next();
    assert.deepEqual(
      rd2.entries.map((e) => [e.index, e.data.length]),
      [
        [1, 0],
        [2, 8],
      ],
    );
    node.advance();
    await node.stop();
  });

  test("a proposal raft drops rejects with ErrProposalDropped", async () => {
    // A follower that knows its leader but must not forward proposals.
    const s = storageWithPeers(1n, 2n, 3n);
    const node = restartNode(testConfig(1n, s, { disableProposalForwarding: true }));
    await node.step(Message.create({ type: MessageType.MsgHeartbeat, from: 2n, to: 1n, term: 1 }));
    await flush();
    assert.equal(node.status().softState.lead, 2n);
    await assert.rejects(node.propose(enc("x")), ErrProposalDropped);
    await node.stop();
  });

  test("a proposal beyond maxUncommittedEntriesSize is dropped", async () => {
    const s = storageWithPeers(1n, 2n);
    const node = restartNode(testConfig(1n, s, { maxUncommittedEntriesSize: 100 }));
    const r = new Reader(node);
    await node.campaign();
    // Node 2 grants the vote; the leader now has an unacknowledged tail.
    persist(s, await r.next());
    node.advance();
    await node.step(Message.create({ type: MessageType.MsgVoteResp, from: 2n, to: 1n, term: 1 }));
    await node.propose(new Uint8Array(60));
    await assert.rejects(node.propose(new Uint8Array(60)), ErrProposalDropped);
    await node.stop();
  });

  test("stop() rejects a blocked propose, later calls reject with ErrStopped, ready() ends", async () => {
    const s = storageWithPeers(1n);
    const node = restartNode(testConfig(1n, s));
    const it = node.ready()[Symbol.asyncIterator]();
    const pending = it.next();
    const p = node.propose(enc("blocked"));
    await flush();
    await node.stop();
    await assert.rejects(p, ErrStopped);
    assert.deepEqual(await pending, { done: true, value: undefined });
    await assert.rejects(node.propose(enc("late")), ErrStopped);
    await assert.rejects(node.campaign(), ErrStopped);
    await assert.rejects(node.step(Message.create({ type: MessageType.MsgHeartbeat, from: 2n })), ErrStopped);
    await assert.rejects(node.readIndex(enc("ctx")), ErrStopped);
    await assert.rejects(node.forgetLeader(), ErrStopped);
    assert.throws(() => node.applyConfChange(new ConfChange()), ErrStopped);
    assert.deepEqual(await it.next(), { done: true, value: undefined });
    // Idempotent, and the fire-and-forget calls are no-ops.
    await node.stop();
    node.tick();
    node.reportUnreachable(2n);
    node.advance();
    assert.equal(node.status().id, 1n);
  });

  test("an aborted proposal rejects with the signal's reason and is never proposed", async () => {
    const s = storageWithPeers(1n);
    const node = restartNode(testConfig(1n, s));
    const r = new Reader(node);
    const ac = new AbortController();
    const p = node.propose(enc("aborted"), ac.signal);
    const kept = node.propose(enc("kept"));
    ac.abort();
    await assert.rejects(p, { name: "AbortError" });
    // An already aborted signal rejects at once; a custom reason is passed through.
    await assert.rejects(node.propose(enc("x"), AbortSignal.abort()), { name: "AbortError" });
    const reason = new Error("deadline");
    await assert.rejects(node.campaign(AbortSignal.abort(reason)), reason);
    await node.campaign();
    persist(s, await r.next());
    node.advance();
    await kept;
    const rd = await r.next();
    assert.deepEqual(
      rd.entries.filter((e) => e.data.length > 0).map((e) => new TextDecoder().decode(e.data)),
      ["kept"],
    );
    node.advance();
    await node.stop();
  });

  test("proposals aborted while leaderless are dropped from the queue, the rest keep their order", async () => {
    const s = storageWithPeers(1n);
    const node = restartNode(testConfig(1n, s));
    const r = new Reader(node);
    const kept: Promise<void>[] = [];
    const aborted: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) {
      const ac = new AbortController();
      const p = node.propose(enc(`p${i}`), ac.signal);
      if (i % 3 === 0) kept.push(p);
      else {
        aborted.push(p);
        ac.abort();
      }
    }
    for (const p of aborted) await assert.rejects(p, { name: "AbortError" });
    await node.campaign();
    persist(s, await r.next());
    node.advance();
    await Promise.all(kept);
    const rd = await r.next();
    const want = Array.from({ length: 100 }, (_, i) => `p${i * 3}`);
    assert.deepEqual(
      rd.entries.filter((e) => e.data.length > 0).map((e) => new TextDecoder().decode(e.data)),
      want,
    );
    node.advance();
    await node.stop();
  });

  test("a signal without a reason rejects with AbortError", async () => {
    const node = restartNode(testConfig(1n, storageWithPeers(1n)));
    const listeners: { handleEvent(e: unknown): void }[] = [];
    const signal = {
      aborted: false,
      addEventListener: (_: "abort", l: { handleEvent(e: unknown): void }) => listeners.push(l),
      removeEventListener: (_: "abort", l: { handleEvent(e: unknown): void }) =>
        listeners.splice(listeners.indexOf(l), 1),
    };
    const p = node.propose(enc("x"), signal);
    assert.equal(listeners.length, 1);
    signal.aborted = true;
    for (const l of listeners.slice()) l.handleEvent({});
    await assert.rejects(p, AbortError);
    assert.equal(listeners.length, 0, "the listener is removed once settled");
    await node.stop();
  });

  test("step refuses local message types and malformed messages", async () => {
    const node = restartNode(testConfig(1n, storageWithPeers(1n, 2n)));
    for (const t of [MessageType.MsgHup, MessageType.MsgBeat, MessageType.MsgStorageAppend]) {
      await assert.rejects(node.step(Message.create({ type: t, from: 2n })), ErrStepLocalMsg);
    }
    await assert.rejects(
      node.step(Message.create({ type: MessageType.MsgProp, from: 2n })),
      ErrInvalidMessage,
    );
    await assert.rejects(
      node.step(Message.create({ type: MessageType.MsgReadIndex, from: 2n })),
      ErrInvalidMessage,
    );
    // A MsgApp unlike any leader's (a gap after index) and a MsgSnap without
    // a snapshot never reach raft (which would panic and stop the node).
    await assert.rejects(
      node.step(
        Message.create({ type: MessageType.MsgApp, from: 2n, term: 3, index: 0, entries: [new Entry(3, 7)] }),
      ),
      ErrInvalidMessage,
    );
    await assert.rejects(
      node.step(Message.create({ type: MessageType.MsgSnap, from: 2n, term: 3 })),
      ErrInvalidMessage,
    );
    await flush();
    assert.equal(node.status().hardState.term, 0, "nothing was stepped");
    // Responses from non-members are dropped quietly.
    await node.step(Message.create({ type: MessageType.MsgAppResp, from: 9n, term: 1 }));
    await flush();
    assert.equal(node.status().hardState.term, 0);
    await node.stop();
  });

  test("tick advances the election clock: enough ticks elect a single voter", async () => {
    const s = storageWithPeers(1n);
    const node = restartNode(testConfig(1n, s));
    const r = new Reader(node);
    for (let i = 0; i < 20; i++) node.tick();
    const rd = await r.next();
    assert.equal(rd.softState?.raftState, StateType.StateCandidate);
    persist(s, rd);
    node.advance();
    const rd2 = await r.next();
    assert.equal(rd2.softState?.raftState, StateType.StateLeader);
    node.advance();
    await node.stop();
  });

  test("startNode bootstraps: the Readys of etcd's TestNodeStart", async () => {
    const storage = new MemoryStorage();
    const node = startNode(testConfig(1n, storage), [{ id: 1n }]);
    const r = new Reader(node);
    const ccdata = encodeConfChange(new ConfChange(ConfChangeType.ConfChangeAddNode, 1n));
    let rd = await r.next();
    assert.deepEqual(rd.hardState, new HardState(1, 0n, 1));
    assert.deepEqual(rd.entries, [new Entry(1, 1, EntryType.EntryConfChange, ccdata)]);
    assert.deepEqual(rd.committedEntries, [new Entry(1, 1, EntryType.EntryConfChange, ccdata)]);
    assert.equal(rd.mustSync, true);
    persist(storage, rd);
    node.advance();
    await node.campaign();
    persist(storage, await r.next()); // the vote
    node.advance();
    persist(storage, await r.next()); // the empty entry
    node.advance();
    await node.propose(enc("foo"));
    rd = await r.next();
    assert.deepEqual(rd.hardState, new HardState(2, 1n, 2));
    assert.deepEqual(rd.entries, [new Entry(2, 3, EntryType.EntryNormal, enc("foo"))]);
    assert.deepEqual(rd.committedEntries, [new Entry(2, 2)]);
    assert.equal(rd.mustSync, true);
    persist(storage, rd);
    node.advance();
    rd = await r.next();
    assert.deepEqual(rd.hardState, new HardState(2, 1n, 3));
    assert.deepEqual(rd.entries, []);
    assert.deepEqual(rd.committedEntries, [new Entry(2, 3, EntryType.EntryNormal, enc("foo"))]);
    assert.equal(rd.mustSync, false);
    node.advance();
    assert.equal(await r.hasReady(), false);
    await node.stop();
  });

  test("startNode on a non-empty storage resumes it (as etcd, with a warning)", async () => {
    const storage = new MemoryStorage();
    storage.append([new Entry(1, 1)]);
    storage.setHardState(new HardState(1, 0n, 1));
    const node = startNode(testConfig(1n, storage), [{ id: 1n }]);
    assert.equal(node.status().hardState.commit, 1);
    await node.stop();
  });

  test("restartNode resumes at the same term and commit (etcd's TestNodeRestart)", async () => {
    const storage = new MemoryStorage();
    const entries = [new Entry(1, 1), new Entry(1, 2, EntryType.EntryNormal, enc("foo"))];
    storage.setHardState(new HardState(1, 0n, 1));
    storage.append(entries);
    const node = restartNode(testConfig(1n, storage));
    const st = node.status();
    assert.equal(st.hardState.term, 1);
    assert.equal(st.hardState.commit, 1);
    const r = new Reader(node);
    const rd = await r.next();
    assert.deepEqual(rd.hardState, new HardState(0, 0n, 0), "no HardState: nothing changed");
    assert.deepEqual(rd.committedEntries, entries.slice(0, 1));
    assert.equal(rd.mustSync, false);
    node.advance();
    assert.equal(await r.hasReady(), false);
    await node.stop();
  });

  test("restartNode from a snapshot (etcd's TestNodeRestartFromSnapshot)", async () => {
    const s = new MemoryStorage();
    s.setHardState(new HardState(1, 0n, 3));
    s.applySnapshot(new Snapshot(new Uint8Array(), new SnapshotMetadata(new ConfState([1n, 2n]), 2, 1)));
    const entries = [new Entry(1, 3, EntryType.EntryNormal, enc("foo"))];
    s.append(entries);
    const node = restartNode(testConfig(1n, s));
    const r = new Reader(node);
    const rd = await r.next();
    assert.deepEqual(rd.hardState, new HardState(0, 0n, 0));
    assert.deepEqual(rd.committedEntries, entries);
    assert.equal(rd.mustSync, false);
    node.advance();
    assert.equal(await r.hasReady(), false);
    await node.stop();
  });

  test("conf change round trip: propose, commit, apply", async () => {
    const { s, node, r } = await singleLeader();
    const cc = new ConfChange(ConfChangeType.ConfChangeAddNode, 2n);
    await node.proposeConfChange(cc);
    let cs = null;
    for (let i = 0; i < 5 && cs === null; i++) {
      const rd = await r.next();
      persist(s, rd);
      for (const e of rd.committedEntries) {
        if (e.type === EntryType.EntryConfChange) cs = node.applyConfChange(decodeConfChange(e.data));
      }
      node.advance();
    }
    assert.ok(cs !== null, "the conf change was committed");
    assert.deepEqual(cs.voters, [1n, 2n]);
    assert.deepEqual([...node.status().config.voters.incoming.ids].sort(), [1n, 2n]);
    // A learner too (etcd's TestNodeProposeAddLearnerNode), now with a 2-voter quorum.
    await node.proposeConfChange(new ConfChange(ConfChangeType.ConfChangeAddLearnerNode, 3n));
    const rd = await r.next();
    assert.equal(rd.entries.at(-1)?.type, EntryType.EntryConfChange);
    node.advance();
    await node.stop();
  });

  test("adding the same node twice does not block a later conf change (etcd's TestNodeProposeAddDuplicateNode)", async () => {
    const { s, node, r } = await singleLeader();
    const committed: Entry[] = [];
    const proposeAndApply = async (cc: ConfChange) => {
      await node.proposeConfChange(cc);
      for (let applied = false; !applied; ) {
        const rd = await r.next();
        persist(s, rd);
        for (const e of rd.committedEntries) {
          committed.push(e);
          if (e.type === EntryType.EntryConfChange) {
            node.applyConfChange(decodeConfChange(e.data));
            applied = true;
          }
        }
        node.advance();
      }
    };
    const add1 = new ConfChange(ConfChangeType.ConfChangeAddNode, 1n);
    const add2 = new ConfChange(ConfChangeType.ConfChangeAddNode, 2n);
    await proposeAndApply(add1);
    await proposeAndApply(add1);
    await proposeAndApply(add2);
    assert.deepEqual(
      committed.map((e) => e.data),
      [encodeConfChange(add1), encodeConfChange(add1), encodeConfChange(add2)],
    );
    assert.deepEqual(node.status().config.voters.incoming.slice(), [1n, 2n]);
    await node.stop();
  });

  test("committed entries come in pages of maxCommittedSizePerReady (etcd's TestCommitPagination)", async () => {
    const { s, node, r } = await singleLeader({ maxCommittedSizePerReady: 2048 });
    const blob = new Uint8Array(1000).fill(0x61);
    for (let i = 0; i < 3; i++) await node.propose(blob);
    let rd = await r.next();
    assert.equal(rd.entries.length, 3);
    persist(s, rd);
    node.advance();
    rd = await r.next();
    assert.equal(rd.committedEntries.length, 2);
    persist(s, rd);
    node.advance();
    rd = await r.next();
    assert.equal(rd.committedEntries.length, 1);
    node.advance();
    await node.stop();
  });

  test("readIndex round trip", async () => {
    const { s, node, r } = await singleLeader();
    await node.readIndex(enc("ctx1"));
    const rd = await r.next();
    assert.equal(rd.readStates.length, 1);
    assert.deepEqual(rd.readStates[0]!.requestCtx, enc("ctx1"));
    assert.equal(rd.readStates[0]!.index, node.status().hardState.commit);
    persist(s, rd);
    node.advance();
    await node.stop();
  });

  test("forgetLeader makes a follower leaderless", async () => {
    const node = restartNode(testConfig(1n, storageWithPeers(1n, 2n, 3n)));
    await node.step(Message.create({ type: MessageType.MsgHeartbeat, from: 2n, to: 1n, term: 1 }));
    await flush();
    assert.equal(node.status().softState.lead, 2n);
    await node.forgetLeader();
    assert.equal(node.status().softState.lead, 0n);
    await node.stop();
  });

  test("the next Ready waits for advance(); a second consumer is refused", async () => {
    const s = storageWithPeers(1n);
    const node = restartNode(testConfig(1n, s));
    const r = new Reader(node);
    await node.campaign();
    persist(s, await r.next());
    // Not advanced: raft has more to say (it became leader) but must wait.
    const it2 = node.ready()[Symbol.asyncIterator]();
    const waiting = it2.next();
    await assert.rejects(it2.next(), ErrReadyBusy);
    assert.equal(await state(waiting), "pending");
    node.advance();
    const res = await waiting;
    assert.equal(res.done, false);
    assert.equal(res.value.softState?.raftState, StateType.StateLeader);
    node.advance();
    await node.stop();
  });

  test("asyncStorageWrites: storage work arrives as messages; advance() is refused", async () => {
    const s = storageWithPeers(1n);
    const node = restartNode(testConfig(1n, s, { asyncStorageWrites: true }));
    const r = new Reader(node);
    assert.throws(() => node.advance(), ErrAdvanceAsync);
    await node.campaign();
    let applied = 0;
    for (let i = 0; i < 6 && applied < 2; i++) {
      const rd = await r.next();
      for (const m of rd.messages) {
        if (m.type === MessageType.MsgStorageAppend) {
          assert.equal(m.to, LocalAppendThread);
          if (m.term !== 0) s.setHardState(new HardState(m.term, m.vote, m.commit));
          s.append(m.entries);
          for (const resp of m.responses) await node.step(resp);
        } else if (m.type === MessageType.MsgStorageApply) {
          applied = m.entries.at(-1)!.index;
          for (const resp of m.responses) await node.step(resp);
        }
      }
      if (i === 2) await node.propose(enc("x"));
    }
    assert.equal(applied, 2);
    assert.equal(node.status().softState.raftState, StateType.StateLeader);
    await node.stop();
  });

  test("a raft panic fails the node: waits reject with it, ready() throws it", async () => {
    // A storage that lost entries it had made durable and committed: raft
    // panics when it reads them to apply (as etcd's does). (A heartbeat
    // committing beyond the log used to be the trigger; raft now ignores it.)
    class LostEntries extends MemoryStorage {
      override entries(): Entry[] {
        throw ErrUnavailable;
      }
    }
    const s = new LostEntries();
    s.applySnapshot(new Snapshot(new Uint8Array(), new SnapshotMetadata(new ConfState([1n, 2n]), 0, 0)));
    s.append([new Entry(1, 1), new Entry(1, 2)]);
    s.setHardState(new HardState(1, 0n, 2));
    const node = restartNode(testConfig(1n, s));
    const it = node.ready()[Symbol.asyncIterator]();
    await assert.rejects(it.next(), RaftPanicError);
    await assert.rejects(node.propose(enc("x")), RaftPanicError);
    await node.stop();
  });

  test("a busy proposer does not starve timers: the loop yields to the macrotask queue", async () => {
    const { s, node, r } = await singleLeader();
    let immediateRan = false;
    let proposedBefore = -1;
    setImmediate(() => {
      immediateRan = true;
    });
    let done = 0;
    // Consume Readys concurrently.
    const consumer = (async () => {
      while (done < 5000) {
        const rd = await r.next(1000);
        persist(s, rd);
        node.advance();
      }
    })();
    for (let i = 0; i < 5000; i++) {
      await node.propose(enc("p"));
      done++;
      if (immediateRan && proposedBefore < 0) proposedBefore = done;
    }
    assert.ok(proposedBefore > 0 && proposedBefore < 5000, `yielded after ${proposedBefore} proposals`);
    await node.stop();
    await consumer.catch(() => {});
  });

  test("stop() cancels a pending macrotask turn: no handle outlives the node", async () => {
    const { node } = await singleLeader();
    const immediates = () => process.getActiveResourcesInfo().filter((x) => x === "Immediate").length;
    const base = immediates();
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 10000; i++) ps.push(node.propose(enc("flood")).catch(() => {}));
    // Let the microtask turns run until the loop yields to the macrotask queue.
    for (let i = 0; i < 100; i++) await Promise.resolve();
    assert.equal(immediates(), base + 1, "the loop continues in a macrotask");
    await node.stop();
    assert.equal(immediates(), base, "stop() cancelled it");
    await Promise.all(ps);
  });

  test("many queued messages are processed over several turns", async () => {
    const node = restartNode(testConfig(1n, storageWithPeers(1n, 2n, 3n)));
    const hb = Message.create({ type: MessageType.MsgHeartbeat, from: 2n, to: 1n, term: 1 });
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 10000; i++) ps.push(node.step(hb));
    // Beyond the inbox's high-water mark, step() waits for the loop.
    assert.equal(await state(ps[0]!), "resolved");
    await Promise.all(ps);
    assert.equal(node.status().softState.lead, 2n);
    await node.stop();
  });
});
