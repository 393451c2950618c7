// The file-system operations the WAL and the snapshotter use, behind one
// interface so that tests can inject faults (ENOSPC, EIO, power loss) without
// touching the real disk's behaviour. Everything is synchronous except the
// flushes to stable storage: those are the only calls slow enough to be worth
// a trip to libuv's thread pool, and keeping the rest synchronous keeps the
// write path to one thread-pool hop per save.

import * as nodeFs from "node:fs";
import { createRequire } from "node:module";

/** What the WAL needs from a file system. Paths are absolute or cwd-relative. */
export interface FileSystem {
  /** Opens a file; `flags` as node's fs.openSync. */
  openSync(path: string, flags: string, mode?: number): number;
  /** Closes a descriptor from openSync. */
  closeSync(fd: number): void;
  /** Reads up to `length` bytes at file `position` into buf[offset..]; returns the count (0 at the end). */
  readSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  /** May write fewer bytes than asked (callers loop). */
  writeSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  /** The file's size in bytes (fstat). */
  fileSize(fd: number): number;
  /** Sets the file's size (cuts or zero-extends). */
  ftruncateSync(fd: number, length: number): void;
  /** Flushes file data (and the metadata needed to read it) to stable storage. */
  fdatasync(fd: number): Promise<void>;
  /**
   * fdatasync on the calling thread (optional): no thread-pool round trip,
   * but the event loop waits. The WAL uses it only when asked to sync inline.
   */
  fdatasyncSync?(fd: number): void;
  /** Flushes file data and all metadata; used on directories. */
  fsync(fd: number): Promise<void>;
  /** Names (not paths) of a directory's entries. */
  readdirSync(path: string): string[];
  /** Creates a directory and its missing parents with `mode`. */
  mkdirSync(path: string, mode: number): void;
  /** Renames atomically (replacing `to`); durable only after an fsync of the directory. */
  renameSync(from: string, to: string): void;
  /** Removes a file. */
  unlinkSync(path: string): void;
  /** Recursive remove; no error if absent. */
  rmSync(path: string): void;
  /** Whether anything exists at `path`. */
  existsSync(path: string): boolean;
  /** Whether `path` is a directory (false if absent). */
  isDirectory(path: string): boolean;
  /** Non-blocking exclusive lock on the whole file; false if another holder has it. */
  tryLock(fd: number): boolean;
  /** Releases a lock taken with tryLock. */
  unlock(fd: number): void;
}

interface NativeLocks {
  tryLock(fd: number): boolean;
  unlock(fd: number): void;
}

let locks: NativeLocks | null = null;
function nativeLocks(): NativeLocks {
  // fs-native-extensions takes Linux open-file-description locks
  // (F_OFD_SETLK), the same kind etcd takes, so a tsraft process and an etcd
  // process exclude each other; elsewhere it uses flock / LockFileEx. Loaded
  // lazily so that importing tsraft/wal never needs the native addon.
  if (locks === null) locks = createRequire(import.meta.url)("fs-native-extensions") as NativeLocks;
  return locks;
}

/** The real file system (node:fs), with native whole-file locks. */
export const nodeFileSystem: FileSystem = {
  openSync: (path, flags, mode) => nodeFs.openSync(path, flags, mode),
  closeSync: (fd) => nodeFs.closeSync(fd),
  readSync: (fd, buf, offset, length, position) => nodeFs.readSync(fd, buf, offset, length, position),
  writeSync: (fd, buf, offset, length, position) => nodeFs.writeSync(fd, buf, offset, length, position),
  fileSize: (fd) => nodeFs.fstatSync(fd).size,
  ftruncateSync: (fd, length) => nodeFs.ftruncateSync(fd, length),
  fdatasync: (fd) =>
    new Promise<void>((resolve, reject) => nodeFs.fdatasync(fd, (err) => (err ? reject(err) : resolve()))),
  fdatasyncSync: (fd) => nodeFs.fdatasyncSync(fd),
  fsync: (fd) =>
    new Promise<void>((resolve, reject) => nodeFs.fsync(fd, (err) => (err ? reject(err) : resolve()))),
  readdirSync: (path) => nodeFs.readdirSync(path),
  mkdirSync: (path, mode) => {
    nodeFs.mkdirSync(path, { recursive: true, mode });
  },
  renameSync: (from, to) => nodeFs.renameSync(from, to),
  unlinkSync: (path) => nodeFs.unlinkSync(path),
  rmSync: (path) => nodeFs.rmSync(path, { recursive: true, force: true }),
  existsSync: (path) => nodeFs.existsSync(path),
  isDirectory: (path) => {
    try {
      return nodeFs.statSync(path).isDirectory();
    } catch {
      return false;
    }
  },
  tryLock: (fd) => nativeLocks().tryLock(fd),
  unlock: (fd) => nativeLocks().unlock(fd),
};

/** Writes all of buf[offset, offset+length) at `position`, looping over short writes. */
export function writeAll(
  fs: FileSystem,
  fd: number,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
): void {
  while (length > 0) {
    const n = fs.writeSync(fd, buf, offset, length, position);
    offset += n;
    position += n;
    length -= n;
  }
}

/** Reads the whole file into a fresh buffer of its current size. */
export function readWhole(fs: FileSystem, fd: number): Uint8Array {
  const size = fs.fileSize(fd);
  // Uninitialised memory (every byte is read over, or cut off below): zeroing
  // a 64 MB segment buffer first would cost as much as reading it.
  const raw = Buffer.allocUnsafeSlow(size);
  const buf = new Uint8Array(raw.buffer, raw.byteOffset, size);
  let off = 0;
  while (off < size) {
    const n = fs.readSync(fd, buf, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  return off === size ? buf : buf.subarray(0, off);
}

/** Opens a directory and fsyncs it, so that renames and creations in it persist. */
export async function fsyncDir(fs: FileSystem, dir: string): Promise<void> {
  const fd = fs.openSync(dir, "r");
  try {
    await fs.fsync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
