// The raft log: stable entries in Storage followed by the unstable tail, with
// the committed, applying and applied indexes.
//
// Layout, by index:
//
//   storage: [snapshot .. firstIndex-1] [firstIndex .. storage.lastIndex]
//   unstable:                          [unstable.offset .. lastIndex]
//
// unstable.offset is at most storage.lastIndex+1 (unless a snapshot is
// pending in the unstable part: the log then restarts after the snapshot).
// The two can overlap until the application has written the unstable
// entries: where both hold an index, the unstable entry wins (it is newer: a
// leader may have replaced the entries from that index on). Lookups
// therefore ask the unstable part first.
//
// Invariants (checked where they can break, panicking as etcd does):
//   firstIndex-1 <= applied <= applying <= committed <= lastIndex
// - committed <= lastIndex: raft only commits entries it holds (commitTo);
//   a follower clamps the leader's commit to the last entry the message
//   vouched for (maybeAppend).
// - committed never decreases, and no entry at or below it is ever replaced
//   (append refuses to truncate below it). This is raft's Log Matching and
//   Leader Completeness at work: a committed entry is in every later
//   leader's log, so no leader can ask us to overwrite it. If one does, the
//   log or the cluster is damaged, and carrying on would diverge the
//   replicas; hence the panics.
// - applying is what has been handed to the application, applied what it
//   confirmed. Both trail committed: only committed entries are applied,
//   and only once (applied never decreases).
// - The entry at firstIndex-1 is the one the last snapshot/compaction ends
//   at; its term stays known (Storage.term answers for it) so that an
//   append right after it can still be matched.

import type { Entry, Snapshot } from "../raftpb/index.ts";
import { ErrCompacted, ErrUnavailable, freshError, isError } from "./errors.ts";
import { Unstable } from "./log_unstable.ts";
import type { Logger } from "./logger.ts";
import type { Storage } from "./storage.ts";
import { entsSize, limitSize, noLimit } from "./util.ts";

export class RaftLog {
  /** The stable entries and the last snapshot, as the application persisted them. */
  storage: Storage;
  /** Entries (and possibly a snapshot) accepted but not yet confirmed durable. */
  unstable: Unstable;
  /**
   * Highest index known to be committed: stored on a quorum and safe to
   * apply. On a leader it moves when a quorum acknowledges an entry of its
   * own term (maybeCommit); on a follower it follows the leader's commit
   * index, capped at what the leader's message proves we share.
   */
  committed: number;
  /**
   * Highest index handed to the application for applying (>= applied). It
   * runs ahead of applied while entries are in an un-advanced Ready or an
   * outstanding MsgStorageApply.
   */
  applying: number;
  /** Highest index the application has applied. Invariant: applied <= applying <= committed. */
  applied: number;
  logger: Logger;
  /**
   * Limit on the bytes of committed entries in flight to the application
   * (Config.maxCommittedSizePerReady): bounds the memory a slow state
   * machine can pin.
   */
  maxApplyingEntsSize: number;
  /** Payload bytes handed out for applying and not yet confirmed applied. */
  applyingEntsSize = 0;
  /**
   * True while no more committed entries are handed out: applyingEntsSize
   * reached its limit, or the last batch was cut short by it. appliedTo
   * recomputes it.
   */
  applyingEntsPaused = false;

  constructor(storage: Storage, logger: Logger, maxApplyingEntsSize = noLimit) {
    this.storage = storage;
    this.logger = logger;
    this.maxApplyingEntsSize = maxApplyingEntsSize;
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    this.unstable = new Unstable(lastIndex + 1, logger);
    // Start at the point of the last compaction: everything up to the
    // snapshot is committed and applied by definition. The caller (Raft)
    // then raises committed to the persisted HardState's commit and applied
    // to Config.applied.
    this.committed = firstIndex - 1;
    this.applying = firstIndex - 1;
    this.applied = firstIndex - 1;
  }

  toString(): string {
    const u = this.unstable;
    return (
      `committed=${this.committed}, applied=${this.applied}, applying=${this.applying}, ` +
      `unstable.offset=${u.offset}, unstable.offsetInProgress=${u.offsetInProgress}, ` +
      `len(unstable.Entries)=${u.entries.length}`
    );
  }

  /**
   * Appends the entries following (prevIndex, prevTerm) if that entry matches,
   * resolving conflicts; returns the index of the last new entry, or
   * undefined if the log does not match at prevIndex.
   *
   * This is the follower's side of raft's Log Matching property: if two logs
   * hold an entry with the same index and term, they are identical up to it
   * (a leader creates at most one entry per index in its term, and every
   * append is checked against the entry before it, inductively). So once
   * (prevIndex, prevTerm) matches, our log equals the leader's up to
   * prevIndex, and the entries after it are the leader's to dictate:
   * - entries we already hold with the same term are skipped (a duplicate or
   *   reordered message must not truncate anything it does not replace);
   * - from the first entry that differs (findConflict) on, ours are replaced;
   *   that can only be an uncommitted tail, which is checked.
   * The commit index follows the leader's, but only up to lastnewi, the last
   * entry this message vouches for: entries of ours beyond it may still
   * differ from the leader's and must not be committed on its word.
   */
  maybeAppend(prevIndex: number, prevTerm: number, ents: Entry[], committed: number): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastnewi = prevIndex + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        this.logger.panic(`entry ${ci} conflict with committed entry [committed(${this.committed})]`);
      }
      const offset = prevIndex + 1;
      if (ci - offset > ents.length) {
        this.logger.panic(`index, ${ci - offset}, is out of range [${ents.length}]`);
      }
      this.append(ci - offset === 0 ? ents : ents.slice(ci - offset));
    }
    this.commitTo(Math.min(committed, lastnewi));
    return lastnewi;
  }

  /**
   * Appends entries to the unstable log, replacing whatever it holds from
   * the first one's index on; returns the new last index. Entries must follow
   * committed: replacing a committed entry is a broken invariant (panic).
   */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    if (after < this.committed) {
      this.logger.panic(`after(${after}) is out of range [committed(${this.committed})]`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry that conflicts with the log (same index,
   * different term) or is new; 0 if every entry is already present.
   * `ents` must have consecutive indexes. By Log Matching, the first entry
   * with a matching term proves all earlier ones match too, so the answer is
   * where the log must be cut (or extended).
   */
  findConflict(ents: readonly Entry[]): number {
    for (const ne of ents) {
      if (!this.matchTerm(ne.index, ne.term)) {
        if (ne.index <= this.lastIndex()) {
          this.logger.info(
            `found conflict at index ${ne.index} [existing term: ${this.zeroTermOnOutOfBounds(ne.index)}, conflicting term: ${ne.term}]`,
          );
        }
        return ne.index;
      }
    }
    return 0;
  }

  /**
   * The largest (index, term) with index <= `index` and term <= `term` in our
   * log; used for fast backtracking of rejected appends. An unknown term is 0:
   * when the scan reaches an index whose term is not known (compacted, or
   * beyond the log), it stops there and returns (that index, 0).
   *
   * It is a guess of where our log stops matching another log of which we
   * only know that its entry at `index` has term `term`. Terms never
   * decrease along a log, so in the other log every index <= `index` has a
   * term <= `term`; an index where our term is larger cannot match, and the
   * scan skips it. Both sides use it after a rejected MsgApp:
   *
   * - The follower (raft.ts handleAppendEntries), rejecting an append at
   *   (m.index, m.logTerm), returns findConflictByTerm(min(m.index, last),
   *   m.logTerm) as (rejectHint, logTerm): its own highest entry that can
   *   still match the leader's log.
   * - The leader (handleAppendResponse) runs it on its own log with the
   *   follower's (rejectHint, logTerm), and probes next at the result.
   *
   * A worked example. Leader L (now at term 6) and follower F:
   *
   *     index    1 2 3 4 5 6 7 8 9
   *     term L   1 1 2 2 5 5 5 5 5
   *     term F   1 1 2 4 4 4 4
   *
   * L has next = 10 for F and sends an append at (9, 5). F has no entry 9: it
   * rejects with findConflictByTerm(7, 5) on its log = (7, 4). L looks for its
   * own highest entry at or below 7 with term <= 4: terms at 7, 6, 5 are 5,
   * so it lands on (4, 2) and probes at (4, 2). F's term at 4 is 4, so it
   * rejects again with findConflictByTerm(4, 2) = (3, 2); L probes at (3, 2),
   * which matches, and F's entries 4..7 are replaced. Three round trips where
   * stepping back one index at a time would take seven (9, 8, ..., 3); in
   * general at most one probe per distinct term of the two logs' divergent
   * tails, instead of one per entry.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      const t = this.termOrError(index);
      if (t < 0) return { index, term: 0 };
      if (t <= term) return { index, term: t };
    }
    return { index: 0, term: 0 };
  }

  nextUnstableEnts(): Entry[] {
    return this.unstable.nextEntries();
  }

  hasNextUnstableEnts(): boolean {
    return this.unstable.hasNextEntries();
  }

  hasNextOrInProgressUnstableEnts(): boolean {
    return this.unstable.entries.length > 0;
  }

  /**
   * Committed entries ready to apply, limited in size. `allowUnstable` allows
   * entries not yet stable locally (synchronous Ready handling persists them
   * before applying).
   *
   * Nothing is returned while a snapshot is pending: the snapshot replaces the
   * state machine's state, and entries after it only make sense on top of it.
   * Without `allowUnstable` (asynchronous storage writes) only entries that
   * are already durable locally may be applied: a committed entry is durable
   * on a quorum, but applying one we could still lose in a crash would let
   * our state machine run ahead of our own log after a restart.
   */
  nextCommittedEnts(allowUnstable: boolean): Entry[] {
    if (this.applyingEntsPaused) return [];
    // A pending snapshot must be applied first.
    if (this.hasNextOrInProgressSnapshot()) return [];
    const lo = this.applying + 1;
    const hi = this.maxAppliableIndex(allowUnstable) + 1;
    if (lo >= hi) return [];
    const maxSize = this.maxApplyingEntsSize - this.applyingEntsSize;
    if (maxSize <= 0) {
      this.logger.panic(
        `applying entry size (${this.maxApplyingEntsSize}-${this.applyingEntsSize})=${maxSize} not positive`,
      );
    }
    return this.slice(lo, hi, maxSize);
  }

  hasNextCommittedEnts(allowUnstable: boolean): boolean {
    if (this.applyingEntsPaused) return false;
    if (this.hasNextOrInProgressSnapshot()) return false;
    return this.applying + 1 < this.maxAppliableIndex(allowUnstable) + 1;
  }

  /** committed, or with allowUnstable false, the last committed index that is also stable locally. */
  maxAppliableIndex(allowUnstable: boolean): number {
    let hi = this.committed;
    if (!allowUnstable) hi = Math.min(hi, this.unstable.offset - 1);
    return hi;
  }

  nextUnstableSnapshot(): Snapshot | null {
    return this.unstable.nextSnapshot();
  }

  hasNextUnstableSnapshot(): boolean {
    return this.unstable.nextSnapshot() !== null;
  }

  hasNextOrInProgressSnapshot(): boolean {
    return this.unstable.snapshot !== null;
  }

  /** The latest snapshot: the unstable one or Storage's (which may throw ErrSnapshotTemporarilyUnavailable). */
  snapshot(): Snapshot {
    if (this.unstable.snapshot !== null) return this.unstable.snapshot;
    return this.storage.snapshot();
  }

  /**
   * The first index held (snapshot index + 1). An unstable snapshot, not yet
   * persisted, already defines it: the log restarts there.
   */
  firstIndex(): number {
    const i = this.unstable.maybeFirstIndex();
    if (i !== undefined) return i;
    return this.storage.firstIndex();
  }

  /** The last index held: the unstable tail's, else Storage's. */
  lastIndex(): number {
    const i = this.unstable.maybeLastIndex();
    if (i !== undefined) return i;
    return this.storage.lastIndex();
  }

  /**
   * Raises committed to `tocommit` (never lowers it: a lower value is just
   * old news). Committing past the last index means the caller, or the log,
   * is broken: the leader never sends a commit index beyond what it proved
   * we hold; the panic message names a lost or truncated log as the usual
   * cause (e.g. a disk that dropped acknowledged writes).
   */
  commitTo(tocommit: number): void {
    // The commit index never decreases.
    if (this.committed < tocommit) {
      if (this.lastIndex() < tocommit) {
        this.logger.panic(
          `tocommit(${tocommit}) is out of range [lastIndex(${this.lastIndex()})]. Was the raft log corrupted, truncated, or lost?`,
        );
      }
      this.committed = tocommit;
    }
  }

  /**
   * The application has applied everything up to i (`size` bytes of payload
   * since the previous call). applied must stay within [applied, committed].
   * Frees that much of the applying budget and reconsiders the pause.
   */
  appliedTo(i: number, size: number): void {
    if (this.committed < i || i < this.applied) {
      this.logger.panic(
        `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`,
      );
    }
    this.applied = i;
    this.applying = Math.max(this.applying, i);
    this.applyingEntsSize = this.applyingEntsSize > size ? this.applyingEntsSize - size : 0;
    this.applyingEntsPaused = this.applyingEntsSize >= this.maxApplyingEntsSize;
  }

  /**
   * Entries up to i (`size` payload bytes) were handed to the application
   * (in a Ready or a MsgStorageApply); they count against the budget until
   * appliedTo confirms them.
   */
  acceptApplying(i: number, size: number, allowUnstable: boolean): void {
    if (this.committed < i) {
      this.logger.panic(
        `applying(${i}) is out of range [prevApplying(${this.applying}), committed(${this.committed})]`,
      );
    }
    this.applying = i;
    this.applyingEntsSize += size;
    // Pause when the budget is used up, or when the returned entries were cut
    // short by it (the next entry would not fit).
    this.applyingEntsPaused =
      this.applyingEntsSize >= this.maxApplyingEntsSize || i < this.maxAppliableIndex(allowUnstable);
  }

  /** The entries up to (index, term) are durable; see Unstable.stableTo for the checks. */
  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  /** The snapshot at index i is durable. */
  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** Marks the unstable entries and snapshot as handed to the application. */
  acceptUnstable(): void {
    this.unstable.acceptInProgress();
  }

  /** The term of the last entry; never unknown (the last index is always held or the snapshot's). */
  lastTerm(): number {
    const t = this.termOrError(this.lastIndex());
    if (t < 0) this.logger.panic(`unexpected error when getting the last term (${termError(t).message})`);
    return t;
  }

  /**
   * Term of entry i, or a negative code: TERM_COMPACTED / TERM_UNAVAILABLE.
   * (Returning codes instead of throwing keeps the hot path exception-free.)
   */
  termOrError(i: number): number {
    // The unstable log answers first, before touching Storage.
    const ut = this.unstable.maybeTerm(i);
    if (ut !== undefined) return ut;
    // Valid range is [firstIndex-1, lastIndex]: the term of the entry before
    // the first one is kept for matching.
    if (i + 1 < this.firstIndex()) return TERM_COMPACTED;
    if (i > this.lastIndex()) return TERM_UNAVAILABLE;
    try {
      return this.storage.term(i);
    } catch (err) {
      if (isError(err, ErrCompacted)) return TERM_COMPACTED;
      if (isError(err, ErrUnavailable)) return TERM_UNAVAILABLE;
      throw err;
    }
  }

  /** Term of entry i; throws ErrCompacted or ErrUnavailable when it is not known. */
  term(i: number): number {
    const t = this.termOrError(i);
    if (t < 0) throw termError(t);
    return t;
  }

  /** Term of entry i, or 0 if it is out of the log's bounds. */
  zeroTermOnOutOfBounds(i: number): number {
    const t = this.termOrError(i);
    return t < 0 ? 0 : t;
  }

  /** Entries from i to the end, at most maxSize bytes (at least one). */
  entries(i: number, maxSize: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxSize);
  }

  /** Every entry in the log (test helper). */
  allEntries(): Entry[] {
    for (;;) {
      try {
        return this.entries(this.firstIndex(), noLimit);
      } catch (err) {
        // Compaction raced with the read; try again.
        if (isError(err, ErrCompacted)) continue;
        throw err;
      }
    }
  }

  lastEntryID(): { index: number; term: number } {
    const index = this.lastIndex();
    const term = this.termOrError(index);
    if (term < 0)
      this.logger.panic(`unexpected error getting the last entry term: ${termError(term).message}`);
    return { index, term };
  }

  /**
   * Raft's "at least as up to date" comparison for a candidate's last entry:
   * a later last term wins; with equal last terms the longer log wins. A
   * voter only grants its vote to a candidate passing this test. Because a
   * committed entry is on a quorum and any electing quorum shares a member
   * with it, the winner's log holds every committed entry (Leader
   * Completeness): a log missing one would lose that member's comparison.
   */
  isUpToDate(index: number, term: number): boolean {
    const last = this.lastEntryID();
    return term > last.term || (term === last.term && index >= last.index);
  }

  /** Whether our entry at index has this term; false when the term is unknown (compacted or absent). */
  matchTerm(index: number, term: number): boolean {
    return this.termOrError(index) === term;
  }

  /**
   * Commits up to (index, term) if that entry is in our log at that term.
   * The leader calls it with the quorum's acknowledged index and its current
   * term: raft commits by counting replicas only for entries of the
   * current term. An entry of an earlier term can sit on a quorum and still
   * be overwritten by a later leader that never saw it (the classic figure 8
   * of the Raft paper); once an entry of the current term is on a quorum,
   * every electable log contains it, and with it every earlier entry, so all
   * of them are committed at once.
   */
  maybeCommit(index: number, term: number): boolean {
    // Term 0 never matches: leaders campaign at term >= 1.
    if (term !== 0 && index > this.committed && this.matchTerm(index, term)) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /**
   * Replaces the whole log by snapshot `s` (a follower that fell behind the
   * leader's compaction): everything up to its index counts as committed,
   * and the unstable part starts after it, holding the snapshot until it is
   * persisted. The caller has checked that the snapshot is newer than our
   * commit index.
   */
  restore(s: Snapshot): void {
    this.logger.info(
      `log [${this.toString()}] starts to restore snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`,
    );
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Calls v with pages of entries in [lo, hi); stops early when v returns true. */
  scan(lo: number, hi: number, pageSize: number, v: (ents: Entry[]) => boolean): void {
    while (lo < hi) {
      const ents = this.slice(lo, hi, pageSize);
      if (ents.length === 0) this.logger.panic(`got 0 entries in [${lo}, ${hi})`);
      if (v(ents)) return;
      lo += ents.length;
    }
  }

  /**
   * Entries [lo, hi), at most maxSize bytes (at least one). Throws ErrCompacted.
   *
   * The stable part comes from Storage, the rest from the unstable log; when
   * Storage already stopped at the size limit the unstable part is not
   * consulted. The result may be Storage's own array or a copy: callers must
   * not mutate it.
   */
  slice(lo: number, hi: number, maxSize: number): Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    if (lo === hi) return [];
    const u = this.unstable;
    if (lo >= u.offset) return limitSize(u.slice(lo, hi), maxSize);
    const cut = Math.min(hi, u.offset);
    let ents: Entry[];
    try {
      ents = this.storage.entries(lo, cut, maxSize);
    } catch (err) {
      if (isError(err, ErrCompacted)) throw err;
      if (isError(err, ErrUnavailable))
        this.logger.panic(`entries[${lo}:${cut}) is unavailable from storage`);
      throw err;
    }
    if (hi <= u.offset) return ents;
    // Storage returned fewer entries than asked: the size limit was reached.
    if (ents.length < cut - lo) return ents;
    const size = maxSize === noLimit ? 0 : entsSize(ents);
    if (size >= maxSize) return ents;
    const tail = limitSize(u.slice(u.offset, hi), maxSize - size);
    // A single unstable entry may overshoot the remaining budget; leave it out then.
    if (tail.length === 1 && maxSize !== noLimit && size + entsSize(tail) > maxSize) return ents;
    for (let i = 0; i < tail.length; i++) ents.push(tail[i]!);
    return ents;
  }

  private mustCheckOutOfBounds(lo: number, hi: number): void {
    if (lo > hi) this.logger.panic(`invalid slice ${lo} > ${hi}`);
    const fi = this.firstIndex();
    if (lo < fi) throw freshError(ErrCompacted);
    const length = this.lastIndex() + 1 - fi;
    if (hi > fi + length) this.logger.panic(`slice[${lo},${hi}) out of bound [${fi},${this.lastIndex()}]`);
  }
}

/** termOrError's answer for an index before firstIndex-1 (gone with a snapshot/compaction). */
export const TERM_COMPACTED = -1;
/** termOrError's answer for an index beyond the last one. Terms are >= 0, so both codes are distinct from any term. */
export const TERM_UNAVAILABLE = -2;

function termError(code: number): Error {
  return freshError(code === TERM_COMPACTED ? ErrCompacted : ErrUnavailable);
}
