// The unstable part of the raft log: entries (and possibly a snapshot) that
// raft has accepted but the application has not yet written to Storage.
//
// Life of an unstable entry: raft appends it (truncateAndAppend); RawNode
// hands it out for persistence in a Ready or a MsgStorageAppend and marks it
// in progress (acceptInProgress); when the application reports it durable,
// stableTo drops it from here, and from then on Storage answers for it.
// The same holds for a snapshot received from the leader (restore,
// acceptInProgress, stableSnapTo).
//
// Invariants:
// - entries[i] has index offset + i; indexes are consecutive.
// - offset <= offsetInProgress <= offset + entries.length: the entries in
//   [offset, offsetInProgress) were handed out and not yet confirmed, those
//   from offsetInProgress on were not handed out yet.
// - With a snapshot, offset == snapshot index + 1: the entries here continue
//   the snapshot, and Storage's entries at or below its index are obsolete.
// - snapshotInProgress implies snapshot !== null.
// - Storage holds every index below offset that the log still needs (from
//   firstIndex-1 up to offset-1), unless a snapshot is pending here.
//
// Confirmations can arrive late, for entries that were replaced in between
// (a new leader overwrote them while the write was in flight). stableTo
// therefore only drops entries whose (index, term) still match, and every
// replacement leaves the arrays handed out untouched (they may still be in
// the application's hands): truncateAndAppend builds new arrays instead of
// writing into old ones.

import type { Entry, Snapshot } from "../raftpb/index.ts";
import type { Logger } from "./logger.ts";

/**
 * unstable.entries[i] has raft log index i + offset. `offsetInProgress`
 * marks the entries already handed to the application for persistence
 * (in-progress) but not yet confirmed stable: [offset, offsetInProgress).
 */
export class Unstable {
  /** A snapshot from the leader not yet persisted; null when none. */
  snapshot: Snapshot | null = null;
  /** The entries not yet persisted, from index `offset` on. */
  entries: Entry[] = [];
  /** Index of entries[0]; where the unstable log starts. */
  offset: number;
  /** Whether `snapshot` was handed out for persistence (and not confirmed yet). */
  snapshotInProgress = false;
  /** The first index not yet handed out for persistence; in [offset, offset + entries.length]. */
  offsetInProgress: number;
  logger: Logger;

  constructor(offset: number, logger: Logger) {
    this.offset = offset;
    this.offsetInProgress = offset;
    this.logger = logger;
  }

  /**
   * Index of the first entry possibly in the unstable log (only known with a
   * snapshot); undefined otherwise. Without a snapshot the log's first index
   * is Storage's: the unstable entries only extend it.
   */
  maybeFirstIndex(): number | undefined {
    return this.snapshot !== null ? this.snapshot.metadata.index + 1 : undefined;
  }

  /** Last index held here (entries or snapshot); undefined if none. */
  maybeLastIndex(): number | undefined {
    const l = this.entries.length;
    if (l !== 0) return this.offset + l - 1;
    if (this.snapshot !== null) return this.snapshot.metadata.index;
    return undefined;
  }

  /**
   * Term of entry i if held here; undefined otherwise. Below offset only the
   * snapshot's own index is known here (its term is in the metadata); other
   * indexes below offset are Storage's to answer.
   */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot !== null && this.snapshot.metadata.index === i) return this.snapshot.metadata.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset]!.term;
  }

  /** Entries not yet handed out for persistence: those from offsetInProgress on. */
  nextEntries(): Entry[] {
    const inProgress = this.offsetInProgress - this.offset;
    if (this.entries.length === inProgress) return [];
    return this.entries.slice(inProgress);
  }

  hasNextEntries(): boolean {
    return this.entries.length > this.offsetInProgress - this.offset;
  }

  /** The snapshot, if there is one and it was not yet handed out for persistence. */
  nextSnapshot(): Snapshot | null {
    if (this.snapshot === null || this.snapshotInProgress) return null;
    return this.snapshot;
  }

  /**
   * Marks everything currently held as handed out for persistence (called
   * when a Ready or MsgStorageAppend carrying it is accepted), so that it is
   * not handed out twice.
   */
  acceptInProgress(): void {
    if (this.entries.length > 0) this.offsetInProgress = this.entries[this.entries.length - 1]!.index + 1;
    if (this.snapshot !== null) this.snapshotInProgress = true;
  }

  /**
   * Entries up to (index, term) are now stable; drop them if they still match.
   *
   * The confirmation may be stale. If our entry at index has another term,
   * the entry written was replaced meanwhile and its replacement is not yet
   * durable: keep it. If the index is below offset, it is either already
   * dropped or is the pending snapshot's index (confirmed by stableSnapTo,
   * not here). In both cases nothing changes; that is logged, not an error.
   * offsetInProgress never falls below offset.
   */
  stableTo(index: number, term: number): void {
    const gt = this.maybeTerm(index);
    if (gt === undefined) {
      this.logger.info(`entry at index ${index} missing from unstable log; ignoring`);
      return;
    }
    if (index < this.offset) {
      this.logger.info(`entry at index ${index} matched unstable snapshot; ignoring`);
      return;
    }
    if (gt !== term) {
      this.logger.info(
        `entry at (index,term)=(${index},${term}) mismatched with entry at (${index},${gt}) in unstable log; ignoring`,
      );
      return;
    }
    const num = index + 1 - this.offset;
    this.entries = this.entries.slice(num);
    this.offset = index + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
  }

  /** The snapshot at index i is durable: forget it (Storage has it now). A stale i is ignored. */
  stableSnapTo(i: number): void {
    if (this.snapshot !== null && this.snapshot.metadata.index === i) {
      this.snapshot = null;
      this.snapshotInProgress = false;
    }
  }

  /**
   * Starts over from snapshot `s`: every unstable entry is dropped (the
   * snapshot supersedes them) and the log continues at its index + 1.
   */
  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = s;
    this.snapshotInProgress = false;
  }

  /**
   * Appends entries, replacing any held entries at or after the first one's
   * index. Three cases, by where the new entries start (fromIndex):
   * - right after the last entry: a plain append;
   * - at or before offset: everything here is replaced, and the log now
   *   starts at fromIndex (Storage's entries from fromIndex on become
   *   obsolete; they are overwritten when these are persisted). Nothing of
   *   the new array is in progress yet;
   * - inside the entries: keep those before fromIndex, replace the rest. The
   *   replaced entries may have been in progress; offsetInProgress is pulled
   *   back to fromIndex so the new ones are handed out.
   */
  truncateAndAppend(ents: readonly Entry[]): void {
    const fromIndex = ents[0]!.index;
    if (fromIndex === this.offset + this.entries.length) {
      for (let i = 0; i < ents.length; i++) this.entries.push(ents[i]!);
    } else if (fromIndex <= this.offset) {
      this.logger.info(`replace the unstable entries from index ${fromIndex}`);
      // The previous array may have been handed out (Ready.entries); never mutate it.
      this.entries = ents.slice();
      this.offset = fromIndex;
      this.offsetInProgress = this.offset;
    } else {
      this.logger.info(`truncate the unstable entries before index ${fromIndex}`);
      const keep = this.slice(this.offset, fromIndex);
      for (let i = 0; i < ents.length; i++) keep.push(ents[i]!);
      this.entries = keep;
      this.offsetInProgress = Math.min(this.offsetInProgress, fromIndex);
    }
  }

  /** A copy of entries [lo, hi); both bounds must lie within [offset, offset + entries.length]. */
  slice(lo: number, hi: number): Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }

  private mustCheckOutOfBounds(lo: number, hi: number): void {
    if (lo > hi) this.logger.panic(`invalid unstable.slice ${lo} > ${hi}`);
    const upper = this.offset + this.entries.length;
    if (lo < this.offset || hi > upper) {
      this.logger.panic(`unstable.slice[${lo},${hi}) out of bound [${this.offset},${upper}]`);
    }
  }
}
