// DiskStorage: a durable raft Storage. The WAL and the snapshotter hold the
// state on disk in etcd's formats (`<dir>/wal`, `<dir>/snap`, as etcd's
// member/wal and member/snap); a CompactMemoryStorage holds the same state in
// memory and serves raft's reads (MemoryStorage's behaviour, but older entries
// are packed: ~40 bytes each beyond the payload instead of ~180-280, and they
// stop pinning the WAL segment buffers they were read from). Every change goes to disk first and reaches the
// cache only once it is durable, so raft never sees state a crash could lose.
//
// The etcd Ready loop maps onto it directly:
//
//   const rd = node.ready();
//   await storage.save(rd);            // snapshot, entries, hard state; one fdatasync
//   send(rd.messages); apply(rd.committedEntries); node.advance();
//   ...
//   await storage.createSnapshot(applied, confState, data);
//   storage.compact(applied - catchUpEntries);

import { join, resolve } from "node:path";
import { type FileSystem, nodeFileSystem } from "../fileutil/index.ts";
import {
  CompactMemoryStorage,
  ErrCompacted,
  ErrSnapOutOfDate,
  ErrUnavailable,
  type Storage,
} from "../raft/index.ts";
import {
  type ConfState,
  EMPTY_BYTES,
  type Entry,
  type HardState,
  Snapshot,
  SnapshotMetadata,
} from "../raftpb/index.ts";
import { parseSnapName, SnapError, SnapErrorCode, Snapshotter, snapName } from "../snap/index.ts";
import {
  checkIndex,
  isEmptyHardState,
  isWalName,
  type ReadAllResult,
  repair,
  WAL,
  WalError,
  WalErrorCode,
  type WalOptions,
  WalSnapshot,
  walExists,
} from "../wal/index.ts";

export interface DiskStorageOptions extends WalOptions {
  /**
   * The WAL metadata (etcd: the encoded member and cluster IDs). Recorded when
   * the WAL is created; when an existing WAL is opened it must be identical,
   * else ERR_WAL_METADATA_MISMATCH (the directory belongs to another member
   * or cluster). Omit to accept whatever the WAL holds.
   */
  metadata?: Uint8Array;
  /** WAL directory (default `<dir>/wal`). */
  walDir?: string;
  /** Snapshot directory (default `<dir>/snap`). */
  snapDir?: string;
  /** Released WAL segments kept on disk (etcd's --max-wals, default 5; 0 deletes them all). */
  maxWalFiles?: number;
  /** `.snap` files kept (etcd's --max-snapshots, default 5, at least 1). */
  maxSnapFiles?: number;
}

/** What one raft Ready asks to persist (the fields of etcd's Ready that concern storage). */
export interface PersistRequest {
  hardState?: HardState | null;
  entries?: readonly Entry[];
  snapshot?: Snapshot | null;
  /** raft's Ready.mustSync; DiskStorage also syncs whenever etcd's own rule says so. */
  mustSync?: boolean;
  /** Sync on the calling thread (WalSaveOptions.inlineSync); ignored with a snapshot. */
  inlineSync?: boolean;
}

const NO_ENTRIES: readonly Entry[] = [];
const noop = (): void => {};

function isEmptySnap(s: Snapshot | null | undefined): boolean {
  return s == null || s.metadata.index === 0;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export class DiskStorage implements Storage {
  /** True if open() created a new, empty WAL. */
  readonly created: boolean;
  readonly wal: WAL;
  readonly snapshotter: Snapshotter;
  private readonly mem: CompactMemoryStorage;
  private readonly walDir: string;
  private readonly fs: FileSystem;
  private readonly maxWalFiles: number;
  private readonly maxSnapFiles: number;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    wal: WAL,
    snapshotter: Snapshotter,
    mem: CompactMemoryStorage,
    created: boolean,
    walDir: string,
    o: DiskStorageOptions,
  ) {
    this.wal = wal;
    this.snapshotter = snapshotter;
    this.mem = mem;
    this.created = created;
    this.walDir = walDir;
    this.fs = o.fs ?? nodeFileSystem;
    this.maxWalFiles = o.maxWalFiles ?? 5;
    this.maxSnapFiles = Math.max(1, o.maxSnapFiles ?? 5);
  }

  /**
   * Opens the storage in `dir`, creating it if it holds no WAL. On an existing
   * WAL it loads the newest snapshot the WAL vouches for, replays the log
   * after it, and repairs a torn last record once (as etcd does). Corruption
   * anywhere else is reported, never cut away.
   */
  static async open(dir: string, opts: DiskStorageOptions = {}): Promise<DiskStorage> {
    const fs = opts.fs ?? nodeFileSystem;
    dir = resolve(dir);
    const walDir = resolve(opts.walDir ?? join(dir, "wal"));
    const snapDir = resolve(opts.snapDir ?? join(dir, "snap"));
    for (const [what, v] of [
      ["maxWalFiles", opts.maxWalFiles],
      ["maxSnapFiles", opts.maxSnapFiles],
    ] as const) {
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
        throw new WalError(WalErrorCode.InvalidArgument, `storage: ${what} must be a non-negative integer`);
      }
    }
    try {
      fs.mkdirSync(snapDir, 0o700);
    } catch (err) {
      throw new WalError(WalErrorCode.IO, `storage: cannot create ${snapDir}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const snapshotter = new Snapshotter(snapDir, { fs, logger: opts.logger, profile: opts.profile });
    const mem = new CompactMemoryStorage();

    if (!walExists(fs, walDir)) {
      if (
        fs.isDirectory(walDir) &&
        fs.readdirSync(walDir).some((n) => n.endsWith(".broken") || isWalName(n))
      ) {
        throw new WalError(WalErrorCode.InvalidState, `storage: ${walDir} holds WAL leftovers but no WAL`);
      }
      const wal = await WAL.create(walDir, opts.metadata ?? EMPTY_BYTES, opts);
      return new DiskStorage(wal, snapshotter, mem, true, walDir, opts);
    }

    // One read of the WAL serves both what etcd reads it twice for: the
    // snapshot records (which .snap file may be loaded) and the replay after
    // the snapshot. The replay needs to know that snapshot before reading,
    // so it starts from the newest .snap file, which is the one loaded
    // unless it is broken or was written just before a crash without its
    // WAL record; then the WAL is read again from the right one.
    const guess = newestSnapFile(fs, snapDir);
    const pass = await WAL.recover(walDir, guess, opts);
    const walSnaps = pass.snapshots;
    let snap: Snapshot | null = null;
    try {
      snap = snapshotter.loadNewestAvailable(walSnaps);
    } catch (err) {
      if (!(err instanceof SnapError && err.code === SnapErrorCode.NoSnapshot)) {
        await pass.close();
        throw err;
      }
    }
    const walSnap =
      snap === null ? new WalSnapshot() : new WalSnapshot(snap.metadata.index, snap.metadata.term);
    let opened: Awaited<ReturnType<typeof openAndRead>>;
    try {
      if (pass.finish !== null && walSnap.index === guess.index && walSnap.term === guess.term) {
        opened = await finishRecovery(walDir, walSnap, pass.finish, opts);
      } else {
        // Another snapshot than the guess (or no segment held it): read again from the right one.
        await pass.close();
        opened = await openAndRead(walDir, walSnap, opts);
      }
    } catch (err) {
      // The WAL starts after a snapshot whose file is gone: say which one,
      // rather than the reader's "slice bounds out of range".
      const newest = walSnaps[walSnaps.length - 1];
      if (snap === null && newest !== undefined && newest.index > 0 && err instanceof WalError) {
        throw new WalError(
          WalErrorCode.SnapshotNotFound,
          `storage: the WAL in ${walDir} starts after the snapshot at index ${newest.index} (term ${newest.term}), ` +
            `but ${join(snapDir, snapName(newest.term, newest.index))} is missing (and no older snapshot the WAL ` +
            "records is there); restore the snapshot files or re-add this member",
          { cause: err },
        );
      }
      throw err;
    }
    const { wal, result } = opened;
    if (opts.metadata !== undefined && !bytesEqual(opts.metadata, result.metadata)) {
      await wal.close().catch(noop);
      throw new WalError(
        WalErrorCode.MetadataMismatch,
        `storage: the WAL in ${walDir} was created with other metadata (another member or cluster)`,
      );
    }
    if (snap !== null) mem.applySnapshot(snap);
    if (!isEmptyHardState(result.hardState)) mem.setHardState(result.hardState);
    mem.append(result.entries);
    return new DiskStorage(wal, snapshotter, mem, false, walDir, opts);
  }

  // ------------------------------------------------------------ raft Storage (served from memory)

  initialState(): { hardState: HardState; confState: ConfState } {
    return this.mem.initialState();
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    return this.mem.entries(lo, hi, maxSize);
  }

  term(i: number): number {
    return this.mem.term(i);
  }

  lastIndex(): number {
    return this.mem.lastIndex();
  }

  firstIndex(): number {
    return this.mem.firstIndex();
  }

  snapshot(): Snapshot {
    return this.mem.snapshot();
  }

  // ------------------------------------------------------------ persistence

  /**
   * Persists one Ready in etcd's order: a snapshot's `.snap` file, then its
   * WAL record; then the entries and hard state, with ONE fdatasync for all
   * of them. Only then is the in-memory cache updated (and, after a
   * snapshot, old WAL segments released and deleted). If anything fails the
   * cache is left as it was and the error is thrown: nothing unsaved is ever
   * visible to raft.
   */
  save(rd: PersistRequest): Promise<void> {
    return this.serial(() => this.saveNow(rd));
  }

  private async saveNow(rd: PersistRequest): Promise<void> {
    this.checkOpen();
    const hs = rd.hardState;
    const ents = rd.entries ?? NO_ENTRIES;
    const snap = rd.snapshot;
    const withSnap = !isEmptySnap(snap);
    if (withSnap) {
      const md = snap!.metadata;
      await this.snapshotter.saveSnap(snap!);
      await this.wal.saveSnapshot(new WalSnapshot(md.index, md.term, md.confState));
    }
    // After a snapshot the hard state must be durable before old segments go.
    await this.wal.save(hs, ents, rd.mustSync === true || withSnap, {
      inlineSync: rd.inlineSync === true && !withSnap,
    });
    if (withSnap) {
      this.mem.applySnapshot(snap!);
      this.release(snap!.metadata.index);
      this.snapshotter.releaseSnapDBs(snap!);
    }
    if (!isEmptyHardState(hs)) this.mem.setHardState(hs!);
    if (ents.length > 0) this.mem.append(ents);
  }

  /**
   * Makes a snapshot of the applied state at `index` (at most the last
   * index, and newer than the current snapshot): writes the `.snap` file and
   * the WAL snapshot record, then releases and deletes the WAL segments and
   * snapshot files no longer needed. Pass the ConfState in effect at
   * `index` (null keeps the current snapshot's).
   */
  async createSnapshot(index: number, confState: ConfState | null, data: Uint8Array): Promise<Snapshot> {
    const snap = await this.serial(async () => {
      this.checkOpen();
      checkIndex("snapshot index", index);
      const cur = this.mem.snapshot().metadata;
      if (index <= cur.index) throw ErrSnapOutOfDate;
      if (index > this.mem.lastIndex()) throw ErrUnavailable;
      return new Snapshot(
        data,
        new SnapshotMetadata(confState ?? cur.confState, index, this.mem.term(index)),
      );
    });
    // The .snap file may be large and does not touch the WAL: write it
    // outside the lock so that saves go on meanwhile. Only the WAL record
    // that points at it must follow it.
    await this.snapshotter.saveSnap(snap);
    return this.serial(async () => {
      this.checkOpen();
      const md = snap.metadata;
      if (md.index <= this.mem.snapshot().metadata.index) throw ErrSnapOutOfDate;
      await this.wal.saveSnapshot(new WalSnapshot(md.index, md.term, md.confState));
      const made = this.mem.createSnapshot(md.index, md.confState, data);
      this.release(md.index);
      this.snapshotter.releaseSnapDBs(snap);
      return made;
    });
  }

  /**
   * Drops entries before `index` from memory (raft's log compaction). The
   * disk side is bounded by snapshots: createSnapshot releases old segments.
   */
  compact(index: number): void {
    this.checkOpen();
    checkIndex("compact index", index);
    if (index <= this.mem.firstIndex() - 1) throw ErrCompacted;
    this.mem.compact(index);
  }

  /** Closes the WAL (syncing it). Idempotent. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.serial(async () => {
      if (this.closed) return;
      this.closed = true;
      await this.wal.close();
    });
  }

  // Releases the WAL segments before the snapshot at `index` and deletes the
  // oldest released segments and snapshot files beyond the retention limits.
  private release(index: number): void {
    this.wal.releaseLockTo(index);
    purgeSegments(this.fs, this.walDir, this.wal.lockedSegments, this.maxWalFiles);
    this.snapshotter.purge(this.maxSnapFiles);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.then(noop, noop);
    return p;
  }

  private checkOpen(): void {
    if (this.closed) throw new WalError(WalErrorCode.Closed, "storage: closed");
  }
}

/**
 * Deletes the oldest `.wal` segments of `dir` while more than `max` remain,
 * never one in `held` nor any that another process holds locked (etcd's purge
 * stops at the first locked file). Returns the names deleted.
 */
export function purgeSegments(fs: FileSystem, dir: string, held: readonly string[], max: number): string[] {
  const names = fs
    .readdirSync(dir)
    .filter((n) => isWalName(n))
    .sort();
  const removed: string[] = [];
  const heldSet = new Set(held);
  for (const name of names) {
    if (names.length - removed.length <= max || heldSet.has(name)) break;
    const path = join(dir, name);
    const fd = fs.openSync(path, "r+");
    try {
      if (!fs.tryLock(fd)) break;
      fs.unlinkSync(path);
      removed.push(name);
    } finally {
      fs.closeSync(fd);
    }
  }
  return removed;
}

// The snapshot the snapshotter will most likely load: the newest `.snap`
// file by name (term, then index), or none. Only a guess, for WAL.recover;
// listing the directory changes nothing in it.
function newestSnapFile(fs: FileSystem, snapDir: string): WalSnapshot {
  let best: string | null = null;
  let names: string[];
  try {
    names = fs.readdirSync(snapDir);
  } catch {
    return new WalSnapshot();
  }
  for (const name of names) {
    if ((best === null || name > best) && parseSnapName(name) !== undefined) best = name;
  }
  const n = best === null ? undefined : parseSnapName(best);
  return n === undefined ? new WalSnapshot() : new WalSnapshot(n.index, n.term);
}

// WAL.recover's replay, with etcd's single repair of a torn tail (after which
// the WAL is read again, as openAndRead does).
async function finishRecovery(
  walDir: string,
  snap: WalSnapshot,
  finish: () => Promise<{ wal: WAL; result: ReadAllResult }>,
  opts: WalOptions,
): Promise<{ wal: WAL; result: ReadAllResult }> {
  try {
    return await finish();
  } catch (err) {
    if (!(err instanceof WalError) || err.code !== WalErrorCode.UnexpectedEOF) throw err;
    if (!(await repair(walDir, opts))) throw err;
    const wal = await WAL.open(walDir, snap, opts);
    try {
      return { wal, result: await wal.readAll() };
    } catch (e) {
      await wal.close().catch(noop);
      throw e;
    }
  }
}

// Open + readAll, with etcd's single repair of a torn tail.
async function openAndRead(
  walDir: string,
  snap: WalSnapshot,
  opts: WalOptions,
): Promise<{ wal: WAL; result: ReadAllResult }> {
  for (let repaired = false; ; repaired = true) {
    const wal = await WAL.open(walDir, snap, opts);
    try {
      return { wal, result: await wal.readAll() };
    } catch (err) {
      await wal.close().catch(noop);
      if (repaired || !(err instanceof WalError) || err.code !== WalErrorCode.UnexpectedEOF) throw err;
      if (!(await repair(walDir, opts))) throw err;
    }
  }
}
