// The Storage interface raft reads its persisted log and state through, and
// MemoryStorage, the in-memory implementation (also the cache behind
// tsraft's durable storage).

import { ConfState, Entry, HardState, Snapshot, SnapshotMetadata } from "../raftpb/index.ts";
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable, freshError } from "./errors.ts";
import { getLogger } from "./logger.ts";
import { limitSize } from "./util.ts";

/**
 * What raft needs from the application's persistent storage. Methods throw
 * StorageErrors with the codes of errors.ts (ErrCompacted, ErrUnavailable,
 * ErrSnapshotTemporarilyUnavailable; the shared instances or fresh ones,
 * raft compares codes); any other error makes raft stop.
 *
 * Raft only reads through this interface: the application writes what each
 * Ready (or MsgStorageAppend) asks it to, and this view must reflect those
 * writes once they are acknowledged. The contract raft relies on:
 * - The storage holds a contiguous run of entries [firstIndex, lastIndex]
 *   following a snapshot at firstIndex-1 (index 0 with term 0 when there is
 *   none), and knows the term of firstIndex-1, so that an append right after
 *   the compaction point can still be matched.
 * - Everything it returns is durable: after a crash, what raft read must
 *   still be there (raft has already told others about it).
 * - The application may compact the log (drop entries up to an index it
 *   has applied and snapshotted) at any time; raft then gets ErrCompacted
 *   for those indexes and falls back to the snapshot when a follower needs
 *   them.
 * - The HardState and the entries are consistent: HardState.commit never
 *   exceeds lastIndex.
 */
export interface Storage {
  /**
   * The saved HardState and ConfState (for MemoryStorage: the latest
   * snapshot's). Raft builds its configuration from this ConfState, and the
   * conf changes in entries after Config.applied reach the application (and
   * applyConfChange) again; so it must be the configuration in effect at
   * Config.applied.
   */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in [lo, hi), at most maxSize bytes (but at least one entry). The
   * caller owns the returned array; the entries themselves must not be mutated.
   */
  entries(lo: number, hi: number, maxSize: number): Entry[];
  /**
   * Term of entry i, for i in [firstIndex()-1, lastIndex()]; ErrCompacted
   * below that range, ErrUnavailable above it.
   */
  term(i: number): number;
  /** Index of the last entry (the snapshot's index when there are no entries after it). */
  lastIndex(): number;
  /** Index of the first entry possibly available through entries(). */
  firstIndex(): number;
  /**
   * The most recent snapshot; ErrSnapshotTemporarilyUnavailable if it is
   * being built (raft asks again later). Raft sends it to followers that
   * need compacted entries, so its index should be at least firstIndex-1:
   * create the snapshot before compacting the log up to it.
   */
  snapshot(): Snapshot;
}

function cloneConfState(cs: ConfState): ConfState {
  return new ConfState(
    [...cs.voters],
    [...cs.learners],
    [...cs.votersOutgoing],
    [...cs.learnersNext],
    cs.autoLeave,
  );
}

export function cloneSnapshot(s: Snapshot): Snapshot {
  const md = s.metadata;
  return new Snapshot(s.data, new SnapshotMetadata(cloneConfState(md.confState), md.index, md.term));
}

/** Storage backed by an in-memory array. */
export class MemoryStorage implements Storage {
  private hardState: HardState = new HardState();
  private snap: Snapshot = new Snapshot();
  // ents[i] has raft log index i + snap.metadata.index; ents[0] is a dummy
  // carrying the index and term of the compaction point.
  private ents: Entry[] = [new Entry()];

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(st: HardState): void {
    this.hardState = st;
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw freshError(ErrCompacted);
    if (hi > this.lastIndex() + 1) {
      getLogger().panic(`entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`);
    }
    if (this.ents.length === 1) throw freshError(ErrUnavailable);
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxSize);
  }

  term(i: number): number {
    const offset = this.ents[0]!.index;
    if (i < offset) throw freshError(ErrCompacted);
    if (i - offset >= this.ents.length) throw freshError(ErrUnavailable);
    return this.ents[i - offset]!.term;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  snapshot(): Snapshot {
    return cloneSnapshot(this.snap);
  }

  /** Replaces the contents of this storage with the snapshot. */
  applySnapshot(snap: Snapshot): void {
    const msIndex = this.snap.metadata.index;
    // During bootstrap only the ConfState may be set, with index and term 0.
    if (msIndex !== 0 && msIndex >= snap.metadata.index) throw freshError(ErrSnapOutOfDate);
    this.snap = cloneSnapshot(snap);
    this.ents = [new Entry(snap.metadata.term, snap.metadata.index)];
  }

  /**
   * Makes a snapshot at index i (retrievable with snapshot()). Pass the
   * ConfState from the last applyConfChange if membership changed since the
   * previous snapshot.
   */
  createSnapshot(i: number, cs: ConfState | null, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) throw freshError(ErrSnapOutOfDate);
    const offset = this.ents[0]!.index;
    if (i > this.lastIndex())
      getLogger().panic(`snapshot ${i} is out of bound lastindex(${this.lastIndex()})`);
    const md = this.snap.metadata;
    this.snap = new Snapshot(
      data,
      new SnapshotMetadata(cs !== null ? cloneConfState(cs) : md.confState, i, this.ents[i - offset]!.term),
    );
    return cloneSnapshot(this.snap);
  }

  /** Discards entries before compactIndex; compactIndex becomes the dummy entry. */
  compact(compactIndex: number): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset) throw freshError(ErrCompacted);
    if (compactIndex > this.lastIndex()) {
      getLogger().panic(`compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`);
    }
    const i = compactIndex - offset;
    const first = this.ents[i]!;
    const ents = this.ents.slice(i);
    ents[0] = new Entry(first.term, first.index);
    this.ents = ents;
  }

  /** Appends entries, overwriting any conflicting suffix. */
  append(entries: readonly Entry[]): void {
    const from = firstToAppend(entries, this.firstIndex());
    if (from === undefined) return;
    const start = entries[from]!.index;
    const offset = start - this.ents[0]!.index;
    if (this.ents.length > offset) {
      // Entries at offset and beyond may be referenced from outside; replace,
      // never mutate them.
      this.ents.length = offset;
    } else if (this.ents.length !== offset) {
      getLogger().panic(`missing log entry [last: ${this.lastIndex()}, append at: ${start}]`);
    }
    for (let j = from; j < entries.length; j++) this.ents.push(entries[j]!);
  }
}

/**
 * Where appending `entries` to a storage whose first index is `firstIndex`
 * starts: the position of the first entry not already compacted away, or
 * undefined if there is none (every entry predates the storage's snapshot).
 */
export function firstToAppend(entries: readonly Entry[], firstIndex: number): number | undefined {
  if (entries.length === 0) return undefined;
  const lo = entries[0]!.index;
  if (lo + entries.length - 1 < firstIndex) return undefined;
  return firstIndex > lo ? firstIndex - lo : 0;
}
