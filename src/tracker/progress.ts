// A follower's replication progress as the leader sees it, and the flow
// control state machine around it (probe, replicate, snapshot).

import { sortIds } from "../raftpb/ids.ts";
import { TrackerInvariantError } from "./errors.ts";
import type { Inflights } from "./inflights.ts";

export const ProgressStateType = { StateProbe: 0, StateReplicate: 1, StateSnapshot: 2 } as const;
export type ProgressStateType = (typeof ProgressStateType)[keyof typeof ProgressStateType];
export const progressStateNames: readonly string[] = ["StateProbe", "StateReplicate", "StateSnapshot"];

export class Progress {
  /** Highest index known to match the leader's log. */
  match: number;
  /** Next index to send; entries in (match, next) are in flight. */
  next: number;
  state: ProgressStateType;
  /** In StateSnapshot: the leader's index when the snapshot became necessary. */
  pendingSnapshot: number;
  /** True if the follower was heard from recently (reset every election timeout by CheckQuorum). */
  recentActive: boolean;
  /**
   * True while the MsgApp flow to this follower is throttled (in StateProbe
   * after a probe, in StateReplicate with a full window); cleared by a
   * heartbeat response or progress.
   */
  msgAppFlowPaused: boolean;
  inflights: Inflights;
  isLearner: boolean;
  /**
   * The highest commit index sent to the follower. Mostly monotonic; it
   * regresses with next when probing restarts. In StateSnapshot it equals
   * pendingSnapshot (== next-1).
   */
  sentCommit: number;

  constructor(next: number, inflights: Inflights, isLearner = false, recentActive = false) {
    this.match = 0;
    this.next = next;
    this.state = ProgressStateType.StateProbe;
    this.pendingSnapshot = 0;
    this.recentActive = recentActive;
    this.msgAppFlowPaused = false;
    this.inflights = inflights;
    this.isLearner = isLearner;
    this.sentCommit = 0;
  }

  /** A copy that shares the inflights window (enough for configuration changes). */
  shallowCopy(): Progress {
    const p = new Progress(this.next, this.inflights, this.isLearner, this.recentActive);
    p.match = this.match;
    p.state = this.state;
    p.pendingSnapshot = this.pendingSnapshot;
    p.msgAppFlowPaused = this.msgAppFlowPaused;
    p.sentCommit = this.sentCommit;
    return p;
  }

  resetState(state: ProgressStateType): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** Probe from match+1 (or past a snapshot that was just sent). */
  becomeProbe(): void {
    if (this.state === ProgressStateType.StateSnapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressStateType.StateProbe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressStateType.StateProbe);
      this.next = this.match + 1;
    }
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
  }

  becomeReplicate(): void {
    this.resetState(ProgressStateType.StateReplicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressStateType.StateSnapshot);
    this.pendingSnapshot = snapshotIndex;
    // The snapshot carries committed state up to its index.
    this.next = snapshotIndex + 1;
    this.sentCommit = snapshotIndex;
  }

  /** Updates flow control after sending `entries` entries (`bytes` of payload) at next. */
  sentEntries(entries: number, bytes: number): void {
    switch (this.state) {
      case ProgressStateType.StateReplicate:
        if (entries > 0) {
          this.next += entries;
          this.inflights.add(this.next - 1, bytes);
        }
        // A message that fills the window counts as a probe: pause the flow.
        this.msgAppFlowPaused = this.inflights.full();
        break;
      case ProgressStateType.StateProbe:
        if (entries > 0) this.msgAppFlowPaused = true;
        break;
      default:
        throw new TrackerInvariantError(
          `sending append in unhandled state ${progressStateNames[this.state]}`,
        );
    }
  }

  /**
   * Whether sending commit index `index` could advance the follower's commit:
   * it must be newer than what was sent, and what was sent must not already
   * cover everything the follower has (next-1).
   */
  canBumpCommit(index: number): boolean {
    return index > this.sentCommit && this.sentCommit < this.next - 1;
  }

  sentCommitIndex(commit: number): void {
    this.sentCommit = commit;
  }

  /** Handles an acknowledgement of index n; false if it is stale. */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false;
    this.match = n;
    this.next = Math.max(this.next, n + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * Handles a rejection of the append at `rejected`, with the follower's hint.
   * Returns false for stale rejections (reordered or duplicated messages).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressStateType.StateReplicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      // The commit index sent beyond the new next was likely not applied.
      this.sentCommit = Math.min(this.sentCommit, this.next - 1);
      return true;
    }
    // Probes go one message at a time, so only a rejection of next-1 is current.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** Whether sending entries to this follower is currently throttled. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressStateType.StateProbe:
      case ProgressStateType.StateReplicate:
        return this.msgAppFlowPaused;
      default:
        return true;
    }
  }

  toString(): string {
    let out = `${progressStateNames[this.state]} match=${this.match} next=${this.next}`;
    if (this.isLearner) out += " learner";
    if (this.isPaused()) out += " paused";
    if (this.pendingSnapshot > 0) out += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) out += " inactive";
    const n = this.inflights.count();
    if (n > 0) {
      out += ` inflight=${n}`;
      if (this.inflights.full()) out += "[full]";
    }
    return out;
  }
}

/** Up to this many members, get() scans the sorted IDs instead of hashing the BigInt key. */
const SCAN_MAX = 8;

/**
 * Progress by node ID; iteration helpers keep etcd's ascending-ID order.
 *
 * Looking a Progress up by its bigint ID hashes the BigInt every time (a
 * Map of bigints is several times slower than one of small integers), so the
 * leader's per-message loops walk the cached sorted arrays instead of
 * calling get() per follower, and get() remembers its last answer: a
 * message from a peer is looked up by RawNode.step (has) and again by the
 * leader's step (get). `version` changes with every set, delete and clear,
 * so that caches built from the map (here and in ProgressTracker) notice any
 * change.
 */
export class ProgressMap extends Map<bigint, Progress> {
  /** Bumped by every set, delete and clear. */
  version = 0;
  private sorted: bigint[] | null = null;
  private sortedPrs: Progress[] | null = null;
  /** The ID of the last get(), undefined when nothing is remembered. */
  private lastId: bigint | undefined = undefined;
  private lastPr: Progress | undefined = undefined;

  override get(id: bigint): Progress | undefined {
    if (id === this.lastId) return this.lastPr;
    let pr: Progress | undefined;
    if (this.size <= SCAN_MAX) {
      // A few BigInt comparisons cost less than hashing the BigInt.
      const ids = this.sortedIds();
      const prs = this.sortedProgress();
      for (let i = 0; i < ids.length; i++) {
        if (ids[i] === id) {
          pr = prs[i];
          break;
        }
      }
    } else {
      pr = super.get(id);
    }
    this.lastId = id;
    this.lastPr = pr;
    return pr;
  }

  override has(id: bigint): boolean {
    return this.get(id) !== undefined;
  }

  override set(id: bigint, pr: Progress): this {
    this.changed();
    if (!super.has(id)) this.sorted = null;
    return super.set(id, pr);
  }

  override delete(id: bigint): boolean {
    this.changed();
    this.sorted = null;
    return super.delete(id);
  }

  override clear(): void {
    this.changed();
    this.sorted = null;
    super.clear();
  }

  private changed(): void {
    this.version++;
    this.sortedPrs = null;
    this.lastId = undefined;
    this.lastPr = undefined;
  }

  /** IDs in ascending order (cached until the key set changes). Do not mutate. */
  sortedIds(): readonly bigint[] {
    if (this.sorted === null) this.sorted = sortIds(this.keys());
    return this.sorted;
  }

  /** The Progress of each ID of sortedIds(), at the same positions (cached until the map changes). Do not mutate. */
  sortedProgress(): readonly Progress[] {
    if (this.sortedPrs === null) {
      const ids = this.sortedIds();
      const prs: Progress[] = new Array(ids.length);
      for (let i = 0; i < ids.length; i++) prs[i] = super.get(ids[i]!)!;
      this.sortedPrs = prs;
    }
    return this.sortedPrs;
  }

  override toString(): string {
    let out = "";
    for (const id of this.sortedIds()) out += `${id}: ${this.get(id)!.toString()}\n`;
    return out;
  }
}
