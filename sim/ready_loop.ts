// The application's Ready loop, as a server built on RawNode runs it, in
// both of raft's storage modes:
//   - synchronous: take a Ready, persist its hard state, entries and
//     snapshot in one atomic write (after a disk latency), apply the
//     committed entries, send the messages, advance;
//   - asynchronous (asyncStorageWrites): messages to LocalAppendThread and
//     LocalApplyThread go to two storage "threads", each draining its queue
//     in one batch (group commit) and only then delivering the responses.
// Applying an entry updates the member's state machine and tells the checker,
// the workload (a write acknowledged) and the step loop (a marker committed).
//
// Invariants:
//   - a member has at most one Ready in flight (sync) and each storage thread
//     at most one pending batch; a crash discards them (SimNode.crash);
//   - nothing becomes durable before its Ready's persist step, and responses
//     that promise durability leave only after it;
//   - entries are applied in index order, each exactly once per incarnation
//     (async mode may see apply work that a restored snapshot already
//     covers, which is skipped); an applied index is never overwritten in the
//     durable log by a different term.

import {
  type Entry,
  EntryType,
  HardState,
  isEmptyHardState,
  isEmptySnap,
  LocalAppendThread,
  LocalApplyThread,
  type Message,
  type Ready,
  type Snapshot,
} from "../src/index.ts";
import { decodeConfChange, decodeConfChangeV2 } from "../src/wire.ts";
import { InvariantViolation } from "./checker.ts";
import type { Cluster } from "./cluster.ts";
import { describeReady } from "./describe.ts";
import { EV_APPEND, EV_APPLY, EV_PERSIST } from "./events.ts";
import { checkSnapshotState } from "./invariants.ts";
import type { Network } from "./network.ts";
import type { SimNode } from "./node.ts";
import { chainHash, contentHash, decodeOp, KIND_MARKER, KIND_WRITE, StateMachine } from "./state_machine.ts";
import type { Workload } from "./workload.ts";

export class ReadyLoop {
  constructor(
    private readonly c: Cluster,
    private readonly net: Network,
    private readonly work: Workload,
    /** A liveness marker (proposed after a heal) was applied by some member. */
    private readonly onMarkerApplied: (id: number) => void,
  ) {}

  handleReadySync(n: SimNode): void {
    if (n.inflight !== null || !n.rn!.hasReady()) return;
    const rd = this.takeReady(n);
    n.inflight = rd;
    this.c.schedule(EV_PERSIST, this.diskLatency(), n);
  }

  private takeReady(n: SimNode): Ready {
    this.c.touch(n);
    const rd = n.rn!.ready();
    this.noteReadyEntries(n, rd.entries);
    if (this.c.trace !== null) {
      this.c.log(
        `n${n.id} ready ${describeReady(rd.hardState, rd.entries, rd.snapshot, rd.committedEntries, rd.messages)}`,
      );
    }
    return rd;
  }

  handlePersist(n: SimNode): void {
    const rd = n.inflight!;
    n.inflight = null;
    this.c.touch(n);
    this.persist(n, rd.hardState, rd.entries, rd.snapshot);
    for (const rs of rd.readStates) this.work.onReadState(n, rs);
    this.applyEntries(n, rd.committedEntries);
    for (const m of rd.messages) this.net.send(n, m);
    n.rn!.advance();
  }

  handleReadyAsync(n: SimNode): void {
    if (!n.rn!.hasReady()) return;
    const rd = this.takeReady(n);
    for (const rs of rd.readStates) this.work.onReadState(n, rs);
    for (const m of rd.messages) {
      if (m.to === LocalAppendThread) n.appendQ.push(m);
      else if (m.to === LocalApplyThread) n.applyQ.push(m);
      else this.net.send(n, m);
    }
    this.kickStorageThreads(n);
  }

  private kickStorageThreads(n: SimNode): void {
    if (!n.appendScheduled && n.appendQ.length > 0) {
      n.appendScheduled = true;
      this.c.schedule(EV_APPEND, this.diskLatency(), n);
    }
    if (!n.applyScheduled && n.applyQ.length > 0) {
      n.applyScheduled = true;
      this.c.schedule(EV_APPLY, this.c.rng.intn(3), n);
    }
  }

  // The append thread writes everything queued so far in one durable write
  // (group commit), then delivers the responses in order.
  handleAppendThread(n: SimNode): void {
    n.appendScheduled = false;
    const batch = n.appendQ;
    n.appendQ = [];
    this.c.touch(n);
    let ents = 0;
    for (const m of batch) {
      this.persist(n, new HardState(m.term, m.vote, m.commit), m.entries, m.snapshot);
      ents += m.entries.length;
    }
    if (this.c.trace !== null)
      this.c.log(`n${n.id} append-thread persisted ${batch.length} writes, ${ents} entries`);
    for (const m of batch) for (const r of m.responses) this.sendOrStep(n, r);
    this.kickStorageThreads(n);
  }

  handleApplyThread(n: SimNode): void {
    n.applyScheduled = false;
    const batch = n.applyQ;
    n.applyQ = [];
    this.c.touch(n);
    for (const m of batch) {
      // A crash (or a failure) while applying stops the thread.
      if (n.rn === null) return;
      this.applyEntries(n, m.entries);
      for (const r of m.responses) this.sendOrStep(n, r);
    }
    this.kickStorageThreads(n);
  }

  private sendOrStep(n: SimNode, m: Message): void {
    if (m.to === n.id) {
      this.c.noteOutgoing(n, m);
      this.c.stepNode(n, m);
    } else {
      this.net.send(n, m);
    }
  }

  private noteReadyEntries(n: SimNode, ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const r = n.raft!;
    this.c.checker.onAppendEntries(n, r, ents, r.raftLog.termOrError(ents[0]!.index - 1));
  }

  /** Makes hard state, snapshot and entries durable, in one atomic write. */
  private persist(n: SimNode, hs: HardState, ents: readonly Entry[], snap: Snapshot | null): void {
    const s = n.storage;
    if (!isEmptySnap(snap)) {
      s.applySnapshot(snap!);
      n.sm = StateMachine.decode(snap!.data);
      checkSnapshotState(n, snap!);
      this.c.checker.onState(n, n.sm.applied, n.sm.hash, "restoring a snapshot");
      n.pendingReads = n.pendingReads.filter(([rid, idx]) => !this.work.maybeServe(n, rid, idx));
      this.c.stats.snapshotsRestored++;
      n.restoredSnapshot = snap!.metadata.index;
    }
    if (ents.length > 0) {
      const first = ents[0]!.index;
      if (first <= n.sm.applied && s.lastIndex() >= first && s.firstIndex() <= first) {
        const t = s.term(first);
        if (t !== ents[0]!.term) {
          throw new InvariantViolation(
            "state-machine-safety",
            `node ${n.id} is told to overwrite applied index ${first} (term ${t} -> ${ents[0]!.term})`,
          );
        }
      }
      s.append(ents);
    }
    if (!isEmptyHardState(hs)) {
      s.setHardState(hs);
      this.c.checker.onDurableHardState(n, hs);
    }
  }

  private applyEntries(n: SimNode, ents: readonly Entry[]): void {
    const sm = n.sm;
    for (const e of ents) {
      if (e.index <= sm.applied) {
        // Only legitimate for async storage: apply work queued before a
        // snapshot (restored since) that covers it.
        if (!n.async || e.index > n.restoredSnapshot) {
          throw new InvariantViolation(
            "apply",
            `node ${n.id} got index ${e.index} again (applied ${sm.applied})`,
          );
        }
        continue;
      }
      if (e.index !== sm.applied + 1) {
        throw new InvariantViolation(
          "apply",
          `node ${n.id} got index ${e.index} after applying ${sm.applied}`,
        );
      }
      const content = contentHash(e);
      const hashAfter = chainHash(sm.hash, e, content);
      this.c.checker.onApply(n, e, content, hashAfter);
      if (e.type === EntryType.EntryConfChange || e.type === EntryType.EntryConfChangeV2) {
        const cc =
          e.type === EntryType.EntryConfChange ? decodeConfChange(e.data) : decodeConfChangeV2(e.data);
        const cs = n.rn!.applyConfChange(cc);
        sm.setConfState(cs);
        for (const id of [...cs.voters, ...cs.learners]) {
          const member = this.c.nodes.get(id);
          if (member !== undefined) member.everMember = true;
        }
        this.c.stats.confChangesApplied++;
        if (this.c.trace !== null)
          this.c.log(
            `n${n.id} applied conf change at ${e.index}: voters=${cs.voters} learners=${cs.learners} outgoing=${cs.votersOutgoing} next=${cs.learnersNext}${cs.autoLeave ? " auto" : ""}`,
          );
      } else if (e.data.length > 0) {
        const op = decodeOp(e.data);
        if (op === null) throw new InvariantViolation("apply", `node ${n.id} applied garbage at ${e.index}`);
        if (op.kind === KIND_WRITE) {
          sm.kv.set(op.key, op.id);
          this.work.onWriteApplied(op.id, e.index);
        } else if (op.kind === KIND_MARKER) {
          this.onMarkerApplied(op.id);
        }
      }
      sm.hash = hashAfter;
      sm.applied = e.index;
    }
    if (n.pendingReads.length > 0) {
      n.pendingReads = n.pendingReads.filter(([rid, idx]) => !this.work.maybeServe(n, rid, idx));
    }
  }

  private diskLatency(): number {
    const [lo, hi] = this.c.scenario.diskLatency;
    return this.c.rng.range(lo, hi);
  }
}
