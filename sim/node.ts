// A simulated server: durable storage that survives crashes, the raft
// RawNode and the application state machine that do not, and the
// application's half-done work (a Ready being persisted, queued storage-thread
// messages) that a crash throws away.

import {
  type Config,
  ErrSnapshotTemporarilyUnavailable,
  MemoryStorage,
  type Message,
  RawNode,
  type Ready,
  Snapshot,
  SnapshotMetadata,
} from "../src/index.ts";
import type { Raft } from "../src/internal.ts";
import type { CheckedNode } from "./checker.ts";
import { TICK } from "./scenario.ts";
import { FNV_OFFSET, StateMachine } from "./state_machine.ts";

/**
 * MemoryStorage as the durable log. Like etcd's server (and etcd's
 * interaction tests), the snapshot handed to raft for sending is made on
 * demand from the state machine at its applied index, so that a member
 * added after the last stored snapshot can still be caught up.
 */
export class SimStorage extends MemoryStorage {
  /** Set by the node: its state machine's current snapshot, or null to use the stored one. */
  onDemand: (() => Snapshot | null) | null = null;
  /** Probability of answering ErrSnapshotTemporarilyUnavailable (decided by the simulator's draw). */
  unavailable: (() => boolean) | null = null;

  override snapshot(): Snapshot {
    if (this.unavailable?.()) throw ErrSnapshotTemporarilyUnavailable;
    return this.onDemand?.() ?? super.snapshot();
  }

  /** The last snapshot written durably (ignores the on-demand one). */
  storedSnapshot(): Snapshot {
    return super.snapshot();
  }
}

export class SimNode implements CheckedNode {
  /** A raft node ID (the simulator hands out 1, 2, 3, ... and never reuses one). */
  readonly id: bigint;
  readonly async: boolean;
  /** Durable: exactly what the Ready loop persisted. */
  readonly storage = new SimStorage();
  /** Volatile from here on. */
  rn: RawNode | null = null;
  sm: StateMachine = new StateMachine();
  /** Bumped on every crash; events scheduled for an older incarnation are void. */
  inc = 0;
  /** Synchronous mode: the accepted Ready whose persistence is under way. */
  inflight: Ready | null = null;
  /** Async mode: the local storage threads' queues. */
  appendQ: Message[] = [];
  applyQ: Message[] = [];
  readyScheduled = false;
  appendScheduled = false;
  applyScheduled = false;
  touched = false;
  /** Shut down for good by the operator after its removal. */
  retired = false;
  /** Index of the last snapshot restored by this incarnation's application. */
  restoredSnapshot = 0;
  /** Has been a member of some applied configuration. */
  everMember = false;
  /** Read states waiting for the state machine to catch up: [read id, index]. */
  pendingReads: [number, number][] = [];
  /** Ticks are offset per node (different phase). */
  readonly tickPhase: number;
  /** Time units between this incarnation's ticks (TICK, or more with tick-rate drift). */
  tickPeriod = TICK;

  constructor(id: bigint, async: boolean, tickPhase: number) {
    this.id = id;
    this.async = async;
    this.tickPhase = tickPhase;
  }

  get raft(): Raft | null {
    return this.rn === null ? null : this.rn.raft;
  }

  get up(): boolean {
    return this.rn !== null;
  }

  durablyHas(index: number, term: number): boolean {
    const s = this.storage;
    // Everything up to the compaction point is inside the durable snapshot.
    if (index <= s.firstIndex() - 1) return true;
    if (index > s.lastIndex()) return false;
    return s.term(index) === term;
  }

  lastEntry(): { index: number; term: number } | null {
    if (this.retired) return null;
    if (this.rn !== null) return this.rn.raft.raftLog.lastEntryID();
    const s = this.storage;
    return { index: s.lastIndex(), term: s.term(s.lastIndex()) };
  }

  termAt(i: number): number {
    if (this.rn !== null) return this.rn.raft.raftLog.termOrError(i);
    const s = this.storage;
    if (i < s.firstIndex() - 1) return -1;
    if (i > s.lastIndex()) return -2;
    return s.term(i);
  }

  /** Starts (or restarts) raft over the durable state; the state machine comes from the durable snapshot. */
  start(config: Omit<Config, "storage" | "applied" | "id">): void {
    const snap: Snapshot = this.storage.storedSnapshot();
    if (snap.metadata.index > 0) {
      this.sm = StateMachine.decode(snap.data);
    } else {
      this.sm = new StateMachine(0, FNV_OFFSET, this.storage.initialState().confState);
    }
    this.rn = new RawNode({ ...config, id: this.id, storage: this.storage, applied: this.sm.applied });
  }

  /** A snapshot of the state machine at its applied index (for sending to a follower). */
  currentSnapshot(): Snapshot | null {
    const s = this.storage;
    const applied = this.sm.applied;
    if (this.rn === null || applied <= s.storedSnapshot().metadata.index || applied > s.lastIndex())
      return null;
    if (applied < s.firstIndex() - 1) return null;
    const cs = this.sm.confState;
    return new Snapshot(this.sm.encode(), new SnapshotMetadata(cs, applied, s.term(applied)));
  }

  /** Loses everything that is not durable. */
  crash(): void {
    this.rn = null;
    this.inflight = null;
    this.appendQ = [];
    this.applyQ = [];
    this.pendingReads = [];
    this.restoredSnapshot = 0;
    this.readyScheduled = false;
    this.appendScheduled = false;
    this.applyScheduled = false;
    this.inc++;
  }
}
