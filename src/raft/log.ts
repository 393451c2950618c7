// The raft log: stable entries in Storage followed by the unstable tail, with
// the committed, applying and applied indexes.

import type { Entry, Snapshot } from "../raftpb/index.ts";
import { ErrCompacted, ErrUnavailable, freshError, isError } from "./errors.ts";
import { Unstable } from "./log_unstable.ts";
import type { Logger } from "./logger.ts";
import type { Storage } from "./storage.ts";
import { entsSize, limitSize, noLimit } from "./util.ts";

export class RaftLog {
  storage: Storage;
  unstable: Unstable;
  /** Highest index known to be committed by a quorum. */
  committed: number;
  /** Highest index handed to the application for applying (>= applied). */
  applying: number;
  /** Highest index the application has applied. Invariant: applied <= applying <= committed. */
  applied: number;
  logger: Logger;
  /** Limit on the bytes of entries being applied at once (MaxCommittedSizePerReady). */
  maxApplyingEntsSize: number;
  applyingEntsSize = 0;
  /** True while application is paused because applyingEntsSize reached its limit. */
  applyingEntsPaused = false;

  constructor(storage: Storage, logger: Logger, maxApplyingEntsSize = noLimit) {
    this.storage = storage;
    this.logger = logger;
    this.maxApplyingEntsSize = maxApplyingEntsSize;
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    this.unstable = new Unstable(lastIndex + 1, logger);
    // Start at the point of the last compaction.
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
   * log; used for fast backtracking of rejected appends. An unknown term is 0.
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

  firstIndex(): number {
    const i = this.unstable.maybeFirstIndex();
    if (i !== undefined) return i;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    const i = this.unstable.maybeLastIndex();
    if (i !== undefined) return i;
    return this.storage.lastIndex();
  }

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

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** Marks the unstable entries and snapshot as handed to the application. */
  acceptUnstable(): void {
    this.unstable.acceptInProgress();
  }

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

  /** Raft's "at least as up to date" comparison for a candidate's last entry. */
  isUpToDate(index: number, term: number): boolean {
    const last = this.lastEntryID();
    return term > last.term || (term === last.term && index >= last.index);
  }

  matchTerm(index: number, term: number): boolean {
    return this.termOrError(index) === term;
  }

  /** Commits up to (index, term) if that entry is in our log at that term. */
  maybeCommit(index: number, term: number): boolean {
    // Term 0 never matches: leaders campaign at term >= 1.
    if (term !== 0 && index > this.committed && this.matchTerm(index, term)) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

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

  /** Entries [lo, hi), at most maxSize bytes (at least one). Throws ErrCompacted. */
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

export const TERM_COMPACTED = -1;
export const TERM_UNAVAILABLE = -2;

function termError(code: number): Error {
  return freshError(code === TERM_COMPACTED ? ErrCompacted : ErrUnavailable);
}
