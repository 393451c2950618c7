// The in-memory MVCC key-value store: etcd 3.4's revision model (spec §3.2).
//
// Invariants:
// - `currentRev` starts at 1 (an empty store) and grows by exactly one per
//   write transaction that changed at least one key; every change of that
//   transaction carries main = currentRev and sub = 0, 1, 2... in order.
// - `revLog[r - logBase]` lists the changes of revision r for every r in
//   [logBase, currentRev]; watchers replay history from it. Compaction at C
//   trims it to revisions >= C.
// - Every KeyRev is immutable; key histories only grow at the end (writes)
//   or shrink at the front (compaction), so a snapshot or a watcher can hold
//   references while writes go on.
// - Within one write transaction a key changes at most once (the txn
//   duplicate-key rule guarantees it; a second delete of the same key finds
//   it already deleted), so "the version before revision r" is well defined.
//
// Everything here is synchronous and deterministic: the same calls in the
// same order give the same state on every member.

import { crc32c } from "./crc32c.ts";
import { MvccError, MvccErrorCode } from "./errors.ts";
import { KeyIndex, KeyRev } from "./key_index.ts";
import { SortedKeys } from "./sorted_keys.ts";

/** Keeps the lessor's key sets in step with puts and deletes. */
export interface LeaseAttacher {
  /** `key` was put with `lease`. */
  attach(lease: bigint, key: string): void;
  /** `key` left `lease` (deleted, or put with another lease). */
  detach(lease: bigint, key: string): void;
}

/** A committed write transaction, as the watcher hub sees it. */
export type ChangeListener = (rev: number, changes: readonly KeyRev[]) => void;

/** What a range read returns. */
export interface RangeResult {
  /** The versions read, ascending by key (at most `limit`; empty with countOnly). */
  kvs: KeyRev[];
  /** Keys in the range at the read revision (before any limit). */
  count: number;
}

/** Read access at a revision; what the applier and the watcher hub need from a store. */
export interface MvccReader {
  /** The current revision (1 for an empty store). */
  readonly rev: number;
  /** The revision compacted up to (-1: never compacted). */
  readonly compactRev: number;
  /**
   * Live keys in [key, end) at `atRev` (<= 0: current), ascending by key.
   * end undefined = the single key, null = no upper bound. limit <= 0 = all.
   * Throws FutureRev / Compacted as etcd does.
   */
  range(
    key: string,
    end: string | null | undefined,
    atRev: number,
    limit: number,
    countOnly: boolean,
  ): RangeResult;
  /** The version of `key` live just before revision `rev` (for prev_kv), if it is still held. */
  versionBefore(key: string, rev: number): KeyRev | undefined;
}

/**
 * The store behind an interface that an on-disk backend (e.g. LMDB keyed by
 * revision, with the key index in memory as etcd does) can implement.
 */
export interface MvccStore extends MvccReader {
  /** Starts the one write transaction allowed at a time (a second one throws until end()). */
  beginWrite(): WriteTxn;
  /** Compacts history at `rev` (spec §3.7). */
  compact(rev: number): void;
  /** Changes of revisions [from, to], oldest first; from must be >= logStart. */
  changesBetween(from: number, to: number, fn: (rev: number, changes: readonly KeyRev[]) => void): void;
  /** The oldest revision whose changes are still held for replay. */
  readonly logStart: number;
  /** CRC-32C over history up to `rev`, computed as etcd hashes its key bucket (spec §3.11). */
  hashKV(rev: number): number;
  /** Every version held, for snapshots: key histories plus the tombstones at the compaction revision. */
  captureRecords(): KeyRev[];
  /** Approximate bytes held (keys + values of every version). */
  readonly bytesInUse: number;
  /** Keys with a live version now. */
  readonly keyCount: number;
  /** Registers a listener called after each write transaction that changed something. */
  onChange(l: ChangeListener): void;
  /**
   * Replaces the whole state (snapshot restore) with `records` (any order)
   * at revision `rev` with compaction revision `compactRev`. Throws
   * SnapshotCorrupt, leaving the store as it was, if they are not a valid history.
   */
  load(rev: number, compactRev: number, records: KeyRev[]): void;
  /** Every live key's current version (to rebuild lease attachments after a restore). */
  forEachLive(fn: (kr: KeyRev) => void): void;
}

/**
 * One write transaction: all its changes share one new revision (if it
 * changes anything). Reads through it see its own writes. Nothing else
 * may write until end().
 */
export interface WriteTxn {
  /** The store's revision when the txn began. */
  readonly beginRev: number;
  /** The versions (puts and tombstones) written so far, in order. */
  readonly changes: readonly KeyRev[];
  /** beginRev, or beginRev + 1 once the txn changed something. */
  readonly rev: number;
  /** As MvccReader.range, at the txn's own view (it sees the txn's writes). */
  range(
    key: string,
    end: string | null | undefined,
    atRev: number,
    limit: number,
    countOnly: boolean,
  ): RangeResult;
  /** Puts a new version of `key` (binary string and its bytes; the value is copied); returns it. */
  put(key: string, keyBytes: Uint8Array, value: Uint8Array, lease: bigint): KeyRev;
  /** Deletes the live keys of the range; returns the versions deleted (their prev_kv). */
  deleteRange(key: string, end: string | null | undefined): KeyRev[];
  /** Commits: the revision advances if anything changed, and listeners see the changes. */
  end(): number;
}

class MemoryWriteTxn implements WriteTxn {
  readonly changes: KeyRev[] = [];
  private ended = false;
  constructor(
    private readonly store: MemoryMvccStore,
    readonly beginRev: number,
  ) {}

  /** The revision reads inside this txn see: beginRev, or beginRev+1 once it changed something. */
  get rev(): number {
    return this.changes.length > 0 ? this.beginRev + 1 : this.beginRev;
  }

  /** A read that sees this txn's own writes (read-your-writes inside a txn). */
  range(
    key: string,
    end: string | null | undefined,
    atRev: number,
    limit: number,
    countOnly: boolean,
  ): RangeResult {
    return this.store.rangeAt(key, end, atRev, limit, countOnly, this.rev);
  }

  put(key: string, keyBytes: Uint8Array, value: Uint8Array, lease: bigint): KeyRev {
    return this.store.putIn(this, key, keyBytes, value, lease);
  }

  /** Deletes the live keys of the range; returns the versions deleted (their prev_kv). */
  deleteRange(key: string, end: string | null | undefined): KeyRev[] {
    return this.store.deleteIn(this, key, end);
  }

  /** Commits: the revision advances if anything changed, and listeners see the changes. */
  end(): number {
    if (this.ended) throw new Error("mvcc: write txn ended twice");
    this.ended = true;
    return this.store.commit(this);
  }
}

/** The in-memory MvccStore: key histories in a Map plus a sorted key list, changes kept for watch replay. */
export class MemoryMvccStore implements MvccStore {
  private readonly index = new Map<string, KeyIndex>();
  private keys = new SortedKeys();
  private currentRev = 1;
  private compactMainRev = -1;
  private revLog: KeyRev[][] = [];
  private logBase = 2;
  private listeners: ChangeListener[] = [];
  private inWrite = false;
  private bytes = 0;

  constructor(private readonly leases: LeaseAttacher) {}

  get rev(): number {
    return this.currentRev;
  }
  get compactRev(): number {
    return this.compactMainRev;
  }
  get logStart(): number {
    return this.logBase;
  }
  get bytesInUse(): number {
    return this.bytes;
  }
  get keyCount(): number {
    return this.keys.size;
  }

  onChange(l: ChangeListener): void {
    this.listeners.push(l);
  }

  beginWrite(): WriteTxn {
    if (this.inWrite) throw new Error("mvcc: nested write txn");
    this.inWrite = true;
    return new MemoryWriteTxn(this, this.currentRev);
  }

  range(
    key: string,
    end: string | null | undefined,
    atRev: number,
    limit: number,
    countOnly: boolean,
  ): RangeResult {
    return this.rangeAt(key, end, atRev, limit, countOnly);
  }

  /** etcd's rangeKeys: future and compacted revisions are errors; <= 0 reads the current one. */
  rangeAt(
    key: string,
    end: string | null | undefined,
    atRev: number,
    limit: number,
    countOnly: boolean,
    curRev = this.currentRev,
  ): RangeResult {
    if (atRev > curRev) throw new MvccError(MvccErrorCode.FutureRev);
    const rev = atRev <= 0 ? curRev : atRev;
    if (rev < this.compactMainRev) throw new MvccError(MvccErrorCode.Compacted);
    const kvs: KeyRev[] = [];
    let count = 0;
    if (end === undefined) {
      const kr = this.index.get(key)?.at(rev);
      if (kr !== undefined) {
        count = 1;
        if (!countOnly) kvs.push(kr);
      }
      return { kvs, count };
    }
    if (end !== null && end <= key) return { kvs, count };
    const want = countOnly ? 0 : limit > 0 ? limit : Number.MAX_SAFE_INTEGER;
    this.keys.forEachInRange(key, end, (k) => {
      const kr = this.index.get(k)!.at(rev);
      if (kr !== undefined) {
        count++;
        if (kvs.length < want) kvs.push(kr);
      }
      return true;
    });
    return { kvs, count };
  }

  versionBefore(key: string, rev: number): KeyRev | undefined {
    if (rev - 1 < this.compactMainRev) return undefined;
    return this.index.get(key)?.at(rev - 1);
  }

  /** The put of a write txn of this store (called through WriteTxn.put). */
  putIn(txn: MemoryWriteTxn, key: string, keyBytes: Uint8Array, value: Uint8Array, lease: bigint): KeyRev {
    const main = txn.beginRev + 1;
    let ki = this.index.get(key);
    const prev = ki?.latest();
    // Values are copied so that the store never aliases a raft entry or request buffer.
    const kr =
      prev === undefined
        ? new KeyRev(
            key,
            ki?.keyBytes ?? keyBytes.slice(),
            main,
            txn.changes.length,
            main,
            1,
            value.slice(),
            lease,
            false,
          )
        : new KeyRev(
            key,
            ki!.keyBytes,
            main,
            txn.changes.length,
            prev.createRevision,
            prev.version + 1,
            value.slice(),
            lease,
            false,
          );
    if (ki === undefined) {
      ki = new KeyIndex(key, kr.keyBytes);
      this.index.set(key, ki);
      this.keys.insert(key);
    }
    ki.revs.push(kr);
    txn.changes.push(kr);
    this.bytes += key.length + value.length;
    if (prev !== undefined && prev.lease !== 0n) this.leases.detach(prev.lease, key);
    if (lease !== 0n) this.leases.attach(lease, key);
    return kr;
  }

  /** The deleteRange of a write txn of this store (called through WriteTxn.deleteRange). */
  deleteIn(txn: MemoryWriteTxn, key: string, end: string | null | undefined): KeyRev[] {
    const { kvs } = this.rangeAt(key, end, 0, 0, false, txn.rev);
    const main = txn.beginRev + 1;
    for (const prev of kvs) {
      const ki = this.index.get(prev.key)!;
      const t = KeyRev.tombstoneOf(prev.key, ki.keyBytes, main, txn.changes.length);
      ki.revs.push(t);
      txn.changes.push(t);
      this.bytes += prev.key.length;
      if (prev.lease !== 0n) this.leases.detach(prev.lease, prev.key);
    }
    return kvs;
  }

  /** Ends a write txn of this store (called through WriteTxn.end); returns the revision. */
  commit(txn: MemoryWriteTxn): number {
    this.inWrite = false;
    if (txn.changes.length === 0) return this.currentRev;
    this.currentRev = txn.beginRev + 1;
    this.revLog.push(txn.changes);
    for (const l of this.listeners) l(this.currentRev, txn.changes);
    return this.currentRev;
  }

  compact(rev: number): void {
    if (rev <= this.compactMainRev) throw new MvccError(MvccErrorCode.Compacted);
    if (rev > this.currentRev) throw new MvccError(MvccErrorCode.FutureRev);
    this.compactMainRev = rev;
    const empty: string[] = [];
    for (const ki of this.index.values()) if (ki.compact(rev)) empty.push(ki.key);
    for (const k of empty) {
      this.index.delete(k);
      this.keys.remove(k);
    }
    if (rev > this.logBase) {
      this.revLog = this.revLog.slice(rev - this.logBase);
      this.logBase = rev;
    }
    this.recountBytes();
  }

  private recountBytes(): void {
    let b = 0;
    for (const ki of this.index.values()) for (const r of ki.revs) b += r.key.length + r.value.length;
    this.bytes = b;
  }

  changesBetween(from: number, to: number, fn: (rev: number, changes: readonly KeyRev[]) => void): void {
    if (from < this.logBase) throw new MvccError(MvccErrorCode.Compacted);
    const last = Math.min(to, this.currentRev);
    for (let r = from; r <= last; r++) fn(r, this.revLog[r - this.logBase]!);
  }

  hashKV(rev: number): number {
    // etcd 3.4's HashByRev: every version with compactRev < main <= rev, plus
    // the versions at or below the compaction revision that are in
    // Keep(rev) (each key's newest version <= rev, unless it is a tombstone)
    // - or all of them if that set is empty. Same bytes, same order
    // (revision order), same polynomial: the hash equals etcd's.
    const compact = this.compactMainRev;
    const recs: KeyRev[] = [];
    const old: KeyRev[] = [];
    let keepEmpty = true;
    for (const ki of this.index.values()) {
      const newest = ki.at(rev);
      if (newest !== undefined) keepEmpty = false;
      for (const r of ki.revs) {
        if (r.main > rev) break;
        if (r.main > compact) recs.push(r);
        else if (r === newest) recs.push(r);
        else old.push(r);
      }
    }
    if (keepEmpty) recs.push(...old);
    recs.sort(byRevision);
    let h = crc32c(0, KEY_BUCKET);
    for (const r of recs) {
      h = crc32c(h, revisionKey(r));
      h = crc32c(h, encodeBackendKeyValue(r));
    }
    return h;
  }

  captureRecords(): KeyRev[] {
    const out: KeyRev[] = [];
    this.keys.forEachInRange("", null, (k) => {
      for (const r of this.index.get(k)!.revs) out.push(r);
      return true;
    });
    // Tombstones at exactly the compaction revision are gone from the key
    // histories but still replayable from the revision log.
    if (this.compactMainRev >= this.logBase) {
      for (const r of this.revLog[this.compactMainRev - this.logBase] ?? []) if (r.tombstone) out.push(r);
    }
    return out;
  }

  /**
   * Replaces the whole state (snapshot restore). `records` may come in any
   * order; versions are re-sorted by revision. Throws a SnapshotCorrupt
   * error (leaving the store as it was) if they do not form a valid history.
   */
  load(rev: number, compactRev: number, records: KeyRev[]): void {
    const sorted = records.slice().sort(byRevision);
    const index = new Map<string, KeyIndex>();
    const keys: string[] = [];
    const logBase = compactRev >= 2 ? compactRev : 2;
    // Every revision in [logBase, rev] holds at least one change (one of these records),
    // so a revision beyond that is damage - and must not size an allocation.
    if (rev - logBase + 1 > records.length + 1)
      throw new MvccError(
        MvccErrorCode.SnapshotCorrupt,
        `revision ${rev} with only ${records.length} versions`,
      );
    const revLog: KeyRev[][] = [];
    for (let i = 0; i < rev - logBase + 1; i++) revLog.push([]);
    let prevMain = 0;
    let prevSub = -1;
    for (const r of sorted) {
      if (r.main > rev || r.main < 2 || (r.main === prevMain && r.sub <= prevSub))
        throw new MvccError(
          MvccErrorCode.SnapshotCorrupt,
          `version at revision ${r.main}/${r.sub} out of place`,
        );
      prevMain = r.main;
      prevSub = r.sub;
      if (r.main >= logBase) revLog[r.main - logBase]!.push(r);
      if (r.tombstone && r.main <= compactRev) continue;
      let ki = index.get(r.key);
      if (ki === undefined) {
        ki = new KeyIndex(r.key, r.keyBytes);
        index.set(r.key, ki);
        keys.push(r.key);
      }
      ki.revs.push(r);
    }
    for (let r = logBase + (compactRev >= logBase ? 1 : 0); r <= rev; r++)
      if (revLog[r - logBase]!.length === 0)
        throw new MvccError(MvccErrorCode.SnapshotCorrupt, `no change recorded at revision ${r}`);
    keys.sort();
    this.index.clear();
    for (const [k, v] of index) this.index.set(k, v);
    this.keys = new SortedKeys();
    for (const k of keys) this.keys.insert(k);
    this.currentRev = rev;
    this.compactMainRev = compactRev;
    this.logBase = logBase;
    this.revLog = revLog;
    this.recountBytes();
  }

  /** Live keys and their current versions, for rebuilding lease attachments after a restore. */
  forEachLive(fn: (kr: KeyRev) => void): void {
    for (const ki of this.index.values()) {
      const l = ki.latest();
      if (l !== undefined) fn(l);
    }
  }
}

function byRevision(a: KeyRev, b: KeyRev): number {
  return a.main - b.main || a.sub - b.sub;
}

const KEY_BUCKET = new Uint8Array([0x6b, 0x65, 0x79]); // "key"

/** etcd's backend key of a version: 8-byte BE main, '_', 8-byte BE sub, plus 't' for a tombstone. */
function revisionKey(r: KeyRev): Uint8Array {
  const b = new Uint8Array(r.tombstone ? 18 : 17);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, BigInt(r.main));
  b[8] = 0x5f;
  dv.setBigUint64(9, BigInt(r.sub));
  if (r.tombstone) b[17] = 0x74;
  return b;
}

/** mvccpb.KeyValue as etcd stores it in its key bucket (a tombstone holds only the key). */
export function encodeBackendKeyValue(r: KeyRev): Uint8Array {
  const w = new ByteWriter(r.keyBytes.length + r.value.length + 48);
  w.bytesField(1, r.keyBytes);
  if (!r.tombstone) {
    w.intField(2, BigInt(r.createRevision));
    w.intField(3, BigInt(r.main));
    w.intField(4, BigInt(r.version));
    if (r.value.length > 0) w.bytesField(5, r.value);
    w.intField(6, r.lease);
  }
  return w.finish();
}

/** A minimal protobuf writer for the few encodings the engine needs itself. */
class ByteWriter {
  private buf: Uint8Array;
  private pos = 0;
  constructor(cap: number) {
    this.buf = new Uint8Array(cap);
  }
  private varint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
  }
  intField(field: number, v: bigint): void {
    if (v === 0n) return;
    this.varint(BigInt(field << 3));
    this.varint(v);
  }
  bytesField(field: number, b: Uint8Array): void {
    this.varint(BigInt((field << 3) | 2));
    this.varint(BigInt(b.length));
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}
