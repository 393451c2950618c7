// etcd's snapshotter: raft snapshots as `%016x-%016x.snap` (term-index)
// files, each one snappb envelope {crc32c(data), data = raftpb.Snapshot};
// and application ("v3 backend") snapshots streamed to `%016x.snap.db`.

import { randomInt } from "node:crypto";
import { join, resolve } from "node:path";
import {
  crc32cUpdate,
  type FileSystem,
  fsyncDir,
  hex16,
  nodeFileSystem,
  readWhole,
  writeAll,
} from "../fileutil/index.ts";
import { getLogger, type Logger } from "../raft/index.ts";
import { decodeSnapshot, type Profile, type Snapshot } from "../raftpb/index.ts";
import { SnapError, SnapErrorCode } from "./errors.ts";
import { decodeSnapFile, snapFilePieces } from "./snappb.ts";

const WRITE_CHUNK = 1 << 20;
const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Where a snapshot sits in the log: what the WAL's snapshot records (tsraft/wal's
 * WalSnapshot) say. Only the two numbers matter here, so the snapshotter takes
 * this shape rather than the WAL's record type and does not depend on the WAL.
 */
export interface SnapshotPosition {
  /** Log index of the snapshot's last entry. */
  readonly index: number;
  /** Term of that entry. */
  readonly term: number;
}

/** Suffix of raft snapshot files (`%016x-%016x.snap`, term-index). */
export const SNAP_SUFFIX = ".snap";
/** Suffix of application ("v3 backend") snapshot files (`%016x.snap.db`, index). */
export const DB_SUFFIX = ".snap.db";
/** Appended to a `.snap` file the owning member found unreadable (etcd renames it the same way). */
export const BROKEN_SUFFIX = ".broken";

/** Options of a Snapshotter. */
export interface SnapshotterOptions {
  /** File-system calls go through this (tests inject faults); default node:fs. */
  fs?: FileSystem;
  /** Warnings (broken or unexpected files) go here; default raft's global logger. */
  logger?: Logger;
  /** Encoding of the raft snapshot inside the file: "P37" (default) or "G36". */
  profile?: Profile;
  /**
   * Inspection mode: nothing in the directory is ever written, renamed or
   * deleted. A `.snap` file that load() or loadNewestAvailable() would have
   * to use but cannot read is thrown as its SnapError (which names the file)
   * instead of being renamed `.broken` and skipped; leftover `db.tmp*` files
   * stay; the writing methods throw ERR_SNAP_READ_ONLY. Without it the
   * Snapshotter acts as the owning member's, as etcd's does when a member
   * recovers its own directory: broken files are renamed and skipped.
   */
  readOnly?: boolean;
}

/** One `.snap` file as inspect() found it: its snapshot, or why it cannot be read. */
export interface SnapFileStatus {
  /** The file name. */
  name: string;
  /** The file's absolute path. */
  path: string;
  /** Term and index from the file name (undefined if the name is not `%016x-%016x.snap`). */
  term: number | undefined;
  /** See `term`. */
  index: number | undefined;
  /** The decoded snapshot (null when it cannot be read). */
  snapshot: Snapshot | null;
  /** Why the file cannot be read (null when it can). */
  error: SnapError | null;
}

const SNAP_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

/** Term and index of a `<term>-<index>.snap` name; undefined if it is not one (or not safe integers). */
export function parseSnapName(name: string): { term: number; index: number } | undefined {
  const m = SNAP_NAME.exec(name);
  if (m === null) return undefined;
  const term = Number.parseInt(m[1]!, 16);
  const index = Number.parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(term) || !Number.isSafeInteger(index)) return undefined;
  return { term, index };
}

/** `<term>-<index>.snap`, 16 lowercase hex digits each. */
export function snapName(term: number, index: number): string {
  return `${hex16(term)}-${hex16(index)}${SNAP_SUFFIX}`;
}

/** `<index>.snap.db`. */
export function dbName(index: number): string {
  return `${hex16(index)}${DB_SUFFIX}`;
}

function ioError(what: string, cause: unknown, file?: string): SnapError {
  const msg = (cause as Error)?.message ?? String(cause);
  return new SnapError(SnapErrorCode.IO, `snap: ${what}: ${msg}`, { file, cause });
}

function checkIndex(what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new SnapError(SnapErrorCode.InvalidArgument, `snap: ${what} must be a safe non-negative integer`);
  }
}

// Closes (if open) and removes a file whose writing failed; errors here would
// only hide the original one.
function discard(fs: FileSystem, fd: number, path: string): void {
  try {
    if (fd >= 0) fs.closeSync(fd);
  } catch {}
  try {
    fs.unlinkSync(path);
  } catch {}
}

/** Reads and checks one `.snap` file. */
export function readSnapFile(path: string, fs: FileSystem = nodeFileSystem): Snapshot {
  let buf: Uint8Array;
  try {
    const fd = fs.openSync(path, "r");
    try {
      buf = readWhole(fs, fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    throw ioError(`read ${path}`, err, path);
  }
  if (buf.length === 0)
    throw new SnapError(SnapErrorCode.EmptySnapshot, "snap: empty snapshot", { file: path });
  let env: { crc: number; data: Uint8Array | null };
  try {
    env = decodeSnapFile(buf);
  } catch (err) {
    throw new SnapError(SnapErrorCode.Decode, `snap: cannot decode ${path}: ${(err as Error).message}`, {
      file: path,
      cause: err,
    });
  }
  if (env.data === null || env.data.length === 0 || env.crc === 0) {
    throw new SnapError(SnapErrorCode.EmptySnapshot, "snap: empty snapshot", { file: path });
  }
  if (crc32cUpdate(0, env.data) !== env.crc) {
    throw new SnapError(SnapErrorCode.CRCMismatch, `snap: crc mismatch: ${path}`, { file: path });
  }
  try {
    return decodeSnapshot(env.data);
  } catch (err) {
    throw new SnapError(
      SnapErrorCode.Decode,
      `snap: cannot decode snapshot in ${path}: ${(err as Error).message}`,
      {
        file: path,
        cause: err,
      },
    );
  }
}

/**
 * etcd's snapshotter for one directory (a member's `member/snap`): saves raft
 * snapshots as `.snap` files and application snapshots as `.snap.db`, loads
 * the newest usable one, and purges old files; file formats and names are
 * etcd's. Failures are SnapErrors.
 */
export class Snapshotter {
  /** The directory, resolved to an absolute path. */
  readonly dir: string;
  private readonly fs: FileSystem;
  private readonly logger: Logger;
  private readonly profile: Profile;
  /** See SnapshotterOptions.readOnly. */
  readonly readOnly: boolean;

  constructor(dir: string, opts?: SnapshotterOptions) {
    this.dir = resolve(dir);
    this.fs = opts?.fs ?? nodeFileSystem;
    this.logger = opts?.logger ?? getLogger();
    this.profile = opts?.profile ?? "P37";
    this.readOnly = opts?.readOnly === true;
  }

  private checkWritable(what: string): void {
    if (this.readOnly) {
      throw new SnapError(
        SnapErrorCode.ReadOnly,
        `snap: ${what}: the snapshotter of ${this.dir} is read-only`,
      );
    }
  }

  /**
   * Writes the snapshot to `<term>-<index>.snap` and fsyncs it and the
   * directory. An empty snapshot (index 0) is not written. On failure the
   * partial file is removed.
   */
  async saveSnap(snap: Snapshot): Promise<void> {
    this.checkWritable("save");
    const md = snap.metadata;
    checkIndex("snapshot index", md.index);
    checkIndex("snapshot term", md.term);
    if (md.index === 0) return;
    // Written piece by piece, yielding between chunks: a snapshot may be
    // large, and neither a copy of it nor a long synchronous write should
    // stall the process.
    const pieces = snapFilePieces(snap, this.profile, crc32cUpdate);
    const path = join(this.dir, snapName(md.term, md.index));
    const fs = this.fs;
    let fd = -1;
    try {
      fd = fs.openSync(path, "w", 0o666);
      let pos = 0;
      for (const piece of pieces) {
        for (let off = 0; off < piece.length; off += WRITE_CHUNK) {
          const n = Math.min(WRITE_CHUNK, piece.length - off);
          writeAll(fs, fd, piece, off, n, pos);
          pos += n;
          if (piece.length > WRITE_CHUNK) await yieldToEventLoop();
        }
      }
      await fs.fsync(fd);
      fs.closeSync(fd);
      fd = -1;
      // etcd stops at the file fsync; syncing the directory too makes the
      // new name as durable as the WAL record that will point at it.
      await fsyncDir(fs, this.dir);
    } catch (err) {
      discard(fs, fd, path);
      throw ioError(`save ${path}`, err, path);
    }
  }

  /**
   * The newest readable snapshot. Owner mode: unreadable files are renamed
   * `.broken` and skipped. Read-only mode: an unreadable newest file is
   * thrown (its SnapError names it), never skipped.
   */
  load(): Snapshot {
    return this.loadMatching(
      () => true,
      () => true,
    );
  }

  /**
   * The newest readable snapshot that the WAL also records (same term and
   * index), e.g. from WAL.validSnapshotEntries: a `.snap` file written just
   * before a crash, without its WAL record, is skipped. Read-only mode does
   * not even read a file whose name matches no WAL record (it could never be
   * the answer) and throws the error of the first candidate it cannot read.
   */
  loadNewestAvailable(walSnaps: readonly SnapshotPosition[]): Snapshot {
    const inWal = (term: number, index: number): boolean =>
      walSnaps.some((w) => w.index === index && w.term === term);
    return this.loadMatching(
      (s) => inWal(s.metadata.term, s.metadata.index),
      (name) => {
        const n = parseSnapName(name);
        return n === undefined || inWal(n.term, n.index);
      },
    );
  }

  /**
   * Reads every `.snap` file, newest first, and reports each one's snapshot
   * or error. Never changes the directory, whatever the mode: for tools that
   * show what is there and choose for themselves.
   */
  inspect(): SnapFileStatus[] {
    return this.listSnaps(false).map((name) => {
      const path = join(this.dir, name);
      const n = parseSnapName(name);
      const status: SnapFileStatus = {
        name,
        path,
        term: n?.term,
        index: n?.index,
        snapshot: null,
        error: null,
      };
      try {
        status.snapshot = readSnapFile(path, this.fs);
      } catch (err) {
        status.error =
          err instanceof SnapError
            ? err
            : new SnapError(SnapErrorCode.IO, String(err), { file: path, cause: err });
      }
      return status;
    });
  }

  private loadMatching(pred: (s: Snapshot) => boolean, candidate: (name: string) => boolean): Snapshot {
    for (const name of this.snapNames()) {
      const path = join(this.dir, name);
      if (this.readOnly && !candidate(name)) continue;
      let snap: Snapshot;
      try {
        snap = readSnapFile(path, this.fs);
      } catch (err) {
        if (err instanceof SnapError && err.code === SnapErrorCode.IO) throw err;
        // Only the owning member, recovering its own directory, may set a
        // damaged file aside; anyone else must hear about it.
        if (this.readOnly) throw err;
        this.logger.warning(`snap: failed to read snapshot file ${path}: ${(err as Error).message}`);
        try {
          this.fs.renameSync(path, path + BROKEN_SUFFIX);
        } catch (e) {
          this.logger.warning(`snap: failed to rename broken snapshot file ${path}: ${(e as Error).message}`);
        }
        continue;
      }
      if (pred(snap)) return snap;
    }
    throw new SnapError(SnapErrorCode.NoSnapshot, "snap: no available snapshot");
  }

  /**
   * The `.snap` file names, newest first. Leftover `db.tmp*` files from an
   * interrupted defragmentation are deleted on the way, as etcd does (not in
   * read-only mode).
   */
  snapNames(): string[] {
    return this.listSnaps(!this.readOnly);
  }

  private listSnaps(removeLeftovers: boolean): string[] {
    let names: string[];
    try {
      names = this.fs.readdirSync(this.dir);
    } catch (err) {
      throw ioError(`list ${this.dir}`, err);
    }
    const snaps: string[] = [];
    for (const name of names) {
      if (name.startsWith("db.tmp")) {
        if (!removeLeftovers) continue;
        try {
          this.fs.unlinkSync(join(this.dir, name));
        } catch (err) {
          if ((err as { code?: string }).code !== "ENOENT") {
            throw ioError(`failed to remove orphaned .snap.db file ${name}`, err);
          }
        }
      } else if (name.endsWith(SNAP_SUFFIX)) {
        snaps.push(name);
      } else if (name !== "db" && !name.endsWith(DB_SUFFIX) && !name.endsWith(BROKEN_SUFFIX)) {
        this.logger.warning(`snap: found unexpected non-snap file; skipping: ${name}`);
      }
    }
    return snaps.sort().reverse();
  }

  /**
   * Streams an application snapshot into `<index>.snap.db` (through a temp
   * file, fsynced, then renamed). If that file already exists it is kept and
   * the new copy discarded. Returns the number of bytes read.
   */
  async saveDBFrom(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, index: number): Promise<number> {
    this.checkWritable("save db snapshot");
    checkIndex("index", index);
    const fs = this.fs;
    const tmp = join(this.dir, `tmp${randomInt(0, 2 ** 47)}`);
    let fd = -1;
    let n = 0;
    try {
      fd = fs.openSync(tmp, "w", 0o600);
      for await (const chunk of source) {
        writeAll(fs, fd, chunk, 0, chunk.length, n);
        n += chunk.length;
      }
      await fs.fsync(fd);
      fs.closeSync(fd);
      fd = -1;
      const target = join(this.dir, dbName(index));
      if (fs.existsSync(target)) {
        fs.unlinkSync(tmp);
        return n;
      }
      fs.renameSync(tmp, target);
      await fsyncDir(fs, this.dir);
      return n;
    } catch (err) {
      discard(fs, fd, tmp);
      throw ioError(`save db snapshot at index ${index}`, err);
    }
  }

  /** Path of `<index>.snap.db`; ERR_SNAP_NO_DB_SNAPSHOT if it does not exist. */
  dbFilePath(index: number): string {
    checkIndex("index", index);
    try {
      this.fs.readdirSync(this.dir);
    } catch (err) {
      throw ioError(`list ${this.dir}`, err);
    }
    const path = join(this.dir, dbName(index));
    if (!this.fs.existsSync(path)) {
      throw new SnapError(SnapErrorCode.NoDBSnapshot, "snap: snapshot file doesn't exist", { file: path });
    }
    return path;
  }

  /** Deletes every `.snap.db` file older than the snapshot's index. Returns the names removed. */
  releaseSnapDBs(snap: Snapshot): string[] {
    this.checkWritable("release db snapshots");
    const removed: string[] = [];
    for (const name of this.fs.readdirSync(this.dir)) {
      if (!name.endsWith(DB_SUFFIX)) continue;
      const hex = name.slice(0, -DB_SUFFIX.length);
      const index = /^[0-9a-fA-F]{1,16}$/.test(hex) ? Number.parseInt(hex, 16) : Number.NaN;
      if (!Number.isSafeInteger(index)) {
        this.logger.warning(`snap: failed to parse index from filename ${name}`);
        continue;
      }
      if (index < snap.metadata.index) {
        this.fs.unlinkSync(join(this.dir, name));
        removed.push(name);
      }
    }
    return removed;
  }

  /** Deletes the oldest `.snap` files beyond the newest `max` (etcd's --max-snapshots). */
  purge(max: number): string[] {
    this.checkWritable("purge");
    const names = this.snapNames();
    const removed = names.slice(Math.max(0, max));
    for (const name of removed) this.fs.unlinkSync(join(this.dir, name));
    return removed;
  }
}
