// CompactMemoryStorage: MemoryStorage's semantics with a fraction of its
// memory for long logs. MemoryStorage keeps every entry as an Entry object
// holding a Uint8Array, which V8 makes cost 170-270 bytes beyond the payload
// bytes. Here only the most recent entries (the ones raft reads back at once,
// to apply them) stay as objects; older ones move into a cold store: their
// term, type and presence bits in typed arrays and their payload bytes copied
// into one shared buffer, about 30 bytes per entry beyond the payload. Cold
// entries are rebuilt (fresh Entry objects, views into the buffer) when read.
// Bytes handed out as views are never overwritten.

import {
  type ConfState,
  EMPTY_BYTES,
  Entry,
  type EntryType,
  entrySize,
  HardState,
  Snapshot,
  SnapshotMetadata,
} from "../raftpb/index.ts";
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable, freshError } from "./errors.ts";
import { getLogger } from "./logger.ts";
import { cloneSnapshot, firstToAppend, type Storage } from "./storage.ts";
import { noLimit } from "./util.ts";

/** Entries older than the newest `hot` ones, packed. */
class ColdLog {
  // Entry k of the log is slot head + k.
  head = 0;
  len = 0;
  terms = new Float64Array(256);
  presents = new Float64Array(256);
  types = new Uint8Array(256);
  starts = new Float64Array(256);
  lens = new Float64Array(256);
  bytes = new Uint8Array(4096);
  used = 0;

  push(e: Entry): void {
    const slot = this.head + this.len;
    if (slot === this.terms.length) this.repack(this.len + 1);
    const s = this.head + this.len;
    const n = e.data.length;
    if (this.used + n > this.bytes.length) this.repackBytes(n);
    this.bytes.set(e.data, this.used);
    this.terms[s] = e.term;
    this.presents[s] = e.present;
    this.types[s] = e.type;
    this.starts[s] = this.used;
    this.lens[s] = n;
    this.used += n;
    this.len++;
  }

  term(k: number): number {
    return this.terms[this.head + k]!;
  }

  /** Entry k, rebuilt; `index` is its log index. */
  get(k: number, index: number): Entry {
    const s = this.head + k;
    const n = this.lens[s]!;
    const start = this.starts[s]!;
    const data = n === 0 ? EMPTY_BYTES : this.bytes.subarray(start, start + n);
    const e = new Entry(this.terms[s]!, index, this.types[s] as EntryType, data);
    e.present = this.presents[s]!;
    return e;
  }

  /** Keeps the first k entries. Their bytes are not reused (views may be out). */
  truncate(k: number): void {
    this.len = k;
  }

  /** Drops the first k entries. */
  dropFront(k: number): void {
    this.head += k;
    this.len -= k;
    if (this.len === 0) {
      this.head = 0;
      this.used = 0;
      // A fresh buffer: views of the old one may still be out.
      this.bytes = new Uint8Array(4096);
    } else if (this.head > 4096 && this.head > this.len) this.repack(this.len);
  }

  // Moves the live entries to the front of new arrays sized for `need`
  // entries, and their bytes into a new buffer.
  private repack(need: number): void {
    let cap = this.terms.length;
    while (cap < need * 1.5) cap *= 2;
    if (cap > 256 && need * 4 < cap) cap = Math.max(256, need * 2);
    const h = this.head;
    const n = this.len;
    this.terms = copyFront(this.terms, new Float64Array(cap), h, n);
    this.presents = copyFront(this.presents, new Float64Array(cap), h, n);
    this.types = copyFront(this.types, new Uint8Array(cap), h, n);
    this.starts = copyFront(this.starts, new Float64Array(cap), h, n);
    this.lens = copyFront(this.lens, new Float64Array(cap), h, n);
    this.head = 0;
    this.repackBytes(0);
  }

  // Copies the live bytes into a new buffer with room for `extra` more. The
  // new buffer is at least twice what it holds, so the bytes copied by
  // repacks stay below the bytes appended (with 1.5x, a log whose front is
  // compacted away as fast as it grows copied two bytes per byte appended:
  // 2.4% of a follower's CPU under puts).
  private repackBytes(extra: number): void {
    const n = this.len;
    const first = n === 0 ? this.used : this.starts[this.head]!;
    const live = this.used - first;
    let cap = this.bytes.length;
    while (cap < (live + extra) * 2) cap *= 2;
    if (cap > 4096 && (live + extra) * 4 < cap) cap = Math.max(4096, (live + extra) * 2);
    const bytes = new Uint8Array(cap);
    bytes.set(this.bytes.subarray(first, this.used));
    for (let s = this.head; s < this.head + n; s++) this.starts[s] = this.starts[s]! - first;
    this.bytes = bytes;
    this.used = live;
  }
}

function copyFront<T extends Float64Array | Uint8Array>(from: T, to: T, head: number, n: number): T {
  to.set(from.subarray(head, head + n));
  return to;
}

export interface CompactMemoryStorageOptions {
  /** How many of the newest entries stay as objects (default 4096; at least 1). */
  hotEntries?: number;
}

/** MemoryStorage with a compact representation of older entries; see the file comment. */
export class CompactMemoryStorage implements Storage {
  private hardState: HardState = new HardState();
  private snap: Snapshot = new Snapshot();
  // The compaction point: entries after `offset` are held, cold ones first.
  private offset = 0;
  private offsetTerm = 0;
  private cold = new ColdLog();
  private hot: Entry[] = [];
  private readonly hotMax: number;

  constructor(opts: CompactMemoryStorageOptions = {}) {
    this.hotMax = Math.max(1, opts.hotEntries ?? 4096);
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(st: HardState): void {
    this.hardState = st;
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    if (lo <= this.offset) throw freshError(ErrCompacted);
    if (hi > this.lastIndex() + 1) {
      getLogger().panic(`entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`);
    }
    if (this.cold.len + this.hot.length === 0) throw freshError(ErrUnavailable);
    const out: Entry[] = [];
    let size = 0;
    const coldEnd = this.offset + this.cold.len;
    for (let i = lo; i < hi; i++) {
      const e = i <= coldEnd ? this.cold.get(i - this.offset - 1, i) : this.hot[i - coldEnd - 1]!;
      if (maxSize !== noLimit) {
        size += entrySize(e);
        // The first entry is returned whatever its size.
        if (out.length > 0 && size > maxSize) break;
      }
      out.push(e);
    }
    return out;
  }

  term(i: number): number {
    if (i < this.offset) throw freshError(ErrCompacted);
    if (i === this.offset) return this.offsetTerm;
    const k = i - this.offset - 1;
    if (k < this.cold.len) return this.cold.term(k);
    const h = k - this.cold.len;
    if (h >= this.hot.length) throw freshError(ErrUnavailable);
    return this.hot[h]!.term;
  }

  lastIndex(): number {
    return this.offset + this.cold.len + this.hot.length;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  snapshot(): Snapshot {
    return cloneSnapshot(this.snap);
  }

  /** Replaces the contents of this storage with the snapshot. */
  applySnapshot(snap: Snapshot): void {
    const msIndex = this.snap.metadata.index;
    if (msIndex !== 0 && msIndex >= snap.metadata.index) throw freshError(ErrSnapOutOfDate);
    this.snap = cloneSnapshot(snap);
    this.offset = snap.metadata.index;
    this.offsetTerm = snap.metadata.term;
    this.cold = new ColdLog();
    this.hot = [];
  }

  /** Makes a snapshot at index i (see MemoryStorage.createSnapshot). */
  createSnapshot(i: number, cs: ConfState | null, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) throw freshError(ErrSnapOutOfDate);
    if (i > this.lastIndex())
      getLogger().panic(`snapshot ${i} is out of bound lastindex(${this.lastIndex()})`);
    const md = this.snap.metadata;
    const s = new Snapshot(data, new SnapshotMetadata(cs ?? md.confState, i, this.term(i)));
    this.snap = cloneSnapshot(s);
    return cloneSnapshot(this.snap);
  }

  /** Discards entries before compactIndex; compactIndex becomes the compaction point. */
  compact(compactIndex: number): void {
    if (compactIndex <= this.offset) throw freshError(ErrCompacted);
    if (compactIndex > this.lastIndex()) {
      getLogger().panic(`compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`);
    }
    const term = this.term(compactIndex);
    const n = compactIndex - this.offset;
    const fromCold = Math.min(n, this.cold.len);
    this.cold.dropFront(fromCold);
    if (n > fromCold) this.hot = this.hot.slice(n - fromCold);
    this.offset = compactIndex;
    this.offsetTerm = term;
  }

  /** Appends entries, overwriting any conflicting suffix. */
  append(entries: readonly Entry[]): void {
    const from = firstToAppend(entries, this.firstIndex());
    if (from === undefined) return;
    const start = entries[from]!.index;
    const keep = start - this.offset - 1; // entries kept before `start`
    const held = this.cold.len + this.hot.length;
    if (keep < held) {
      // Replace, never mutate, entries that may be referenced from outside.
      if (keep <= this.cold.len) {
        this.cold.truncate(keep);
        this.hot = [];
      } else {
        this.hot = this.hot.slice(0, keep - this.cold.len);
      }
    } else if (keep !== held) {
      getLogger().panic(`missing log entry [last: ${this.lastIndex()}, append at: ${start}]`);
    }
    for (let j = from; j < entries.length; j++) this.hot.push(entries[j]!);
    if (this.hot.length > 2 * this.hotMax) {
      const move = this.hot.length - this.hotMax;
      for (let j = 0; j < move; j++) this.cold.push(this.hot[j]!);
      this.hot = this.hot.slice(move);
    }
  }
}
