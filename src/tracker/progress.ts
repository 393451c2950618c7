// A follower's replication progress as the leader sees it, and the flow
// control state machine around it (probe, replicate, snapshot).
//
// The leader keeps one Progress per member, itself included (its own entry
// is acknowledged through the local MsgAppResp that follows each append, see
// raft.ts). The fields are only meaningful on the leader: a new leader
// re-creates every Progress in reset() with match 0 and next = its last
// index + 1, and learns the truth from the followers' responses.
//
// Most transitions are driven from raft.ts (handleAppendResponse,
// maybeSendAppend, the MsgSnapStatus/MsgUnreachable cases of stepLeader);
// this file holds the state and the rules each transition must follow.

import { sortIds } from "../raftpb/index.ts";
import { TrackerInvariantError } from "./errors.ts";
import type { Inflights } from "./inflights.ts";

/**
 * How the leader sends to a follower.
 *
 * - StateProbe: the leader does not know where the follower's log diverges
 *   from its own. It sends one MsgApp at a time (at next-1/next) and waits for
 *   the answer or the next heartbeat response before sending another; each
 *   rejection moves next down (maybeDecrTo). Every Progress starts here.
 * - StateReplicate: the follower's log is known to match up to match, so the
 *   leader streams entries optimistically: next advances as soon as a MsgApp
 *   is sent, bounded by the Inflights window. A rejection or an unreachable
 *   report sends the follower back to probing from match+1.
 * - StateSnapshot: the entries the follower needs are compacted away; a
 *   snapshot is on its way and nothing else is sent until the follower
 *   acknowledges an index the log can continue from, or the transport
 *   reports the snapshot's fate (MsgSnapStatus), which returns it to probe.
 */
export const ProgressStateType = { StateProbe: 0, StateReplicate: 1, StateSnapshot: 2 } as const;
export type ProgressStateType = (typeof ProgressStateType)[keyof typeof ProgressStateType];
export const progressStateNames: readonly string[] = ["StateProbe", "StateReplicate", "StateSnapshot"];

/**
 * One follower's replication state, as the leader sees it.
 *
 * Invariant: 0 <= match < next, hence next >= 1. Every method keeps it:
 * maybeUpdate raises next together with match, maybeDecrTo and the
 * become* transitions never set next below match+1, and becomeSnapshot is
 * only called with an index at or above the follower's next-1 (the entries
 * from next on are gone, so the snapshot index is at least next-1 >= match).
 * raft.ts writes the fields directly in two places only: reset() at a new
 * term (match 0, next = last index + 1; the leader's own match = last index)
 * and a failed MsgSnapStatus, which clears pendingSnapshot before
 * becomeProbe so that the next probe does not start past a snapshot that
 * never arrived.
 */
export class Progress {
  /**
   * The highest index up to which the follower's log is known to equal the
   * leader's. Only acknowledgements raise it (maybeUpdate); it never moves
   * down while this leader's term lasts, because an acknowledged entry is
   * durable on the follower and, once the leader's, can no longer differ.
   */
  match: number;
  /**
   * The index of the next entry to send. Entries in (match, next) have been
   * sent and not yet acknowledged: in StateReplicate they are the messages
   * recorded in `inflights`; in StateProbe next-1 is the one index probed.
   */
  next: number;
  /** See ProgressStateType; changed only by resetState and the become* methods. */
  state: ProgressStateType;
  /**
   * In StateSnapshot: the index of the snapshot the leader decided to send
   * (the MsgSnap's metadata index); 0 in every other state (resetState clears
   * it). On entering StateSnapshot next == pendingSnapshot + 1. Nothing is
   * sent in that state, so next then only moves through responses to
   * messages sent before: a late acknowledgement above it raises next
   * (maybeUpdate), and a late rejection of exactly index pendingSnapshot may
   * lower it (maybeDecrTo's probe rule). Neither outlives the state, because
   * every way out goes through becomeProbe, which recomputes next from match
   * and pendingSnapshot (or through reset() at a new term, which sets every
   * field anew).
   *
   * The snapshot the follower finally applies need not be this one (an
   * application may ship snapshots from elsewhere): the follower leaves
   * StateSnapshot as soon as it acknowledges an index from which the log
   * can continue (match + 1 >= firstIndex), whatever the snapshot was.
   */
  pendingSnapshot: number;
  /**
   * Whether the follower was heard from since the last CheckQuorum round
   * (any response from it sets it; the leader clears it every election
   * timeout when CheckQuorum is on). The leader's own entry stays true. Also
   * gates snapshots: a leader does not send one to an inactive follower.
   */
  recentActive: boolean;
  /**
   * True while the MsgApp flow to this follower is throttled: in StateProbe
   * after a probe was sent, in StateReplicate after the window filled. In
   * both the leader must still send now and then (a lost message would
   * otherwise stall the follower for good), which it does when a heartbeat
   * response clears the flag; any acknowledgement that moves match clears it
   * too. See isPaused.
   */
  msgAppFlowPaused: boolean;
  /**
   * The messages in flight in StateReplicate, by the index of their last
   * entry. Add in index order when sending; free up to an acknowledged
   * index. Empty in the other states (resetState empties it).
   */
  inflights: Inflights;
  /** Whether this member is a learner: it receives entries but never votes or counts for commit. */
  isLearner: boolean;
  /**
   * The highest commit index the leader has sent to the follower (in a
   * MsgApp or a snapshot). It lets the leader skip sending a commit index the
   * follower already has (canBumpCommit). Mostly monotonic, it goes down with
   * next when the leader must resend from an earlier index (becomeProbe,
   * maybeDecrTo), since whatever was sent beyond next-1 may not have been
   * applied. Invariant: sentCommit <= next-1 wherever next is lowered; in
   * StateSnapshot it equals pendingSnapshot (the snapshot carries its own
   * index as committed).
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

  /**
   * A copy that shares the inflights window: enough for a configuration
   * change, which keeps the Progress of every member that stays and only
   * flips isLearner (see confchange).
   */
  shallowCopy(): Progress {
    const p = new Progress(this.next, this.inflights, this.isLearner, this.recentActive);
    p.match = this.match;
    p.state = this.state;
    p.pendingSnapshot = this.pendingSnapshot;
    p.msgAppFlowPaused = this.msgAppFlowPaused;
    p.sentCommit = this.sentCommit;
    return p;
  }

  /**
   * Moves to `state` with an unpaused flow, no pending snapshot and an empty
   * window: what was in flight is forgotten and will be resent if needed.
   * next and match are left to the caller.
   */
  resetState(state: ProgressStateType): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /**
   * Starts probing from match+1. Coming from StateSnapshot, the snapshot is
   * assumed delivered (the caller clears pendingSnapshot first when it
   * failed), so the probe starts past it: next = max(match+1,
   * pendingSnapshot+1). sentCommit is capped at next-1 because a commit index
   * sent beyond that point travelled with entries that may be resent.
   */
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

  /**
   * Starts streaming from match+1: called once an acknowledgement shows where
   * the logs agree (from probe, or from snapshot through probe).
   */
  becomeReplicate(): void {
    this.resetState(ProgressStateType.StateReplicate);
    this.next = this.match + 1;
  }

  /**
   * Waits for the snapshot at `snapshotIndex` to reach the follower; nothing
   * else is sent meanwhile (isPaused is always true here).
   */
  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressStateType.StateSnapshot);
    this.pendingSnapshot = snapshotIndex;
    // The snapshot carries committed state up to its index.
    this.next = snapshotIndex + 1;
    this.sentCommit = snapshotIndex;
  }

  /**
   * Updates flow control after a MsgApp carrying `entries` entries (`bytes` of
   * payload) starting at next. In StateReplicate next moves past them at once
   * and the message is recorded in the window; in StateProbe next stays (the
   * probe may be rejected) and the flow pauses until an answer or heartbeat
   * response. Calling it in StateSnapshot is a bug of the caller:
   * TrackerInvariantError.
   */
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
   * cover everything the follower has (next-1). A follower never commits
   * beyond the entries it holds from this leader, so once sentCommit reaches
   * next-1 a newer commit index only helps after more entries are sent.
   */
  canBumpCommit(index: number): boolean {
    return index > this.sentCommit && this.sentCommit < this.next - 1;
  }

  /**
   * Records that `commit` was sent: the commit index of a MsgApp, or of a
   * heartbeat (which carries min(match, committed), never more than the
   * follower is known to hold).
   */
  sentCommitIndex(commit: number): void {
    this.sentCommit = commit;
  }

  /**
   * Handles an acknowledgement that the follower's log matches up to n.
   * Returns false if it tells nothing new (n <= match: a duplicate or a
   * reordered older response). Otherwise raises match, raises next to at
   * least n+1 (in StateReplicate next is usually already beyond), and
   * unpauses the flow: the follower is evidently receiving.
   */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false;
    this.match = n;
    this.next = Math.max(this.next, n + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * Handles a rejection of the MsgApp whose prevIndex was `rejected`;
   * `matchHint` is the leader's best guess of the last index where the logs
   * may agree (computed in raft.ts from the follower's reject hint and term,
   * see RaftLog.findConflictByTerm). Returns false for stale rejections
   * (reordered or duplicated messages), which change nothing.
   *
   * In StateReplicate a rejection at or below match is stale (that index was
   * acknowledged since); otherwise the leader restarts from match+1 and the
   * caller moves the follower to StateProbe. In StateProbe (and
   * StateSnapshot) only one message is outstanding, at next-1, so any other
   * index is stale; next then drops to the hint, never below match+1 (which
   * is known to be good) and never above `rejected` (which is known bad).
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

  /**
   * Whether the leader must hold back MsgApps to this follower: in probe and
   * replicate when the flow is paused (one probe outstanding, or a full
   * window), always in StateSnapshot. Heartbeats are sent regardless, and a
   * heartbeat response lets one message through (see msgAppFlowPaused).
   */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressStateType.StateProbe:
      case ProgressStateType.StateReplicate:
        return this.msgAppFlowPaused;
      default:
        return true;
    }
  }

  /** The form etcd's data-driven tests print, e.g. "StateReplicate match=5 next=6 inflight=1". */
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
