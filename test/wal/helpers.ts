// Test helpers: temp directories, hex, and FaultFS, a file system that can
// fail on demand (ENOSPC, EIO) and simulate a power loss by undoing every
// write not yet made durable by an fdatasync/fsync of that file.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FileSystem, nodeFileSystem } from "../../src/fileutil/index.ts";
import { discardLogger } from "../../src/index.ts";
import { Xoshiro128 } from "../../src/raft/index.ts";
import { Entry, HardState } from "../../src/raftpb/index.ts";

export const quiet = { logger: discardLogger };

// etcd's own fixture, kept beside the tests so that a clone is self-contained.
export const GOLDEN = new URL("./testdata/etcd-TestNew.wal", import.meta.url);

export function readGolden(): Uint8Array {
  return new Uint8Array(readFileSync(GOLDEN));
}

/** A fresh temp dir; removed by the returned cleanup. */
export function tempDir(prefix = "tsraft-wal-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const hex = (s: string): Uint8Array =>
  Uint8Array.from(
    s
      .trim()
      .split(/\s+/)
      .filter((x) => x !== "")
      .map((b) => Number.parseInt(b, 16)),
  );
export const toHex = (b: Uint8Array): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
export const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Entries [lo, hi) of term `term` with payload "e<index>" padded to `size` bytes. */
export function ents(lo: number, hi: number, term = 1, size = 0): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i < hi; i++) {
    // Non-zero filler, so that a zeroed region of the file is never mistaken for data.
    const d = new Uint8Array(Math.max(size, 8)).fill(0x2e);
    d.set(ascii(`e${i}`));
    out.push(new Entry(term, i, 0, size === 0 ? ascii(`e${i}`) : d));
  }
  return out;
}

export function hs(term: number, vote: bigint, commit: number): HardState {
  return new HardState(term, vote, commit);
}

/** A deterministic stream of floats in [0, 1) from the project's seeded generator. */
export function rng(seed: number): () => number {
  const r = new Xoshiro128(seed);
  return () => r.float();
}

type Op = "write" | "fdatasync" | "fsync" | "ftruncate" | "open" | "rename";

interface Fault {
  op: Op;
  code: string;
  /** Fail the nth matching call from now (1 = the next one). */
  nth: number;
  /** For writes: bytes written before failing. */
  partial: number;
  path: RegExp | null;
}

interface Undo {
  pos: number;
  old: Uint8Array;
  oldSize: number;
  // Bytes [pos, pos+len) were written (len may exceed old.length past EOF).
  len: number;
}

export function sysError(code: string, syscall: string): Error {
  const errno: Record<string, number> = { ENOSPC: -28, EIO: -5, EACCES: -13 };
  return Object.assign(new Error(`${code}: simulated failure, ${syscall}`), {
    code,
    errno: errno[code] ?? -1,
    syscall,
  });
}

export class FaultFS implements FileSystem {
  readonly inner: FileSystem;
  readonly calls: Record<string, number> = {};
  /** While set, fdatasync waits on it (to catch a save mid-sync); `waiting` counts the callers. */
  gate: Promise<void> | null = null;
  waiting = 0;
  private faults: Fault[] = [];
  private paths = new Map<number, string>();
  // Per path: undo records of writes/truncations since the last sync.
  private undo = new Map<string, Undo[]>();

  constructor(inner: FileSystem = nodeFileSystem) {
    this.inner = inner;
  }

  /** Makes the nth next call of `op` (optionally on a path matching `path`) fail with `code`. */
  inject(op: Op, code: string, opts: { nth?: number; partial?: number; path?: RegExp } = {}): void {
    this.faults.push({ op, code, nth: opts.nth ?? 1, partial: opts.partial ?? 0, path: opts.path ?? null });
  }

  clearFaults(): void {
    this.faults = [];
  }

  private count(op: string): void {
    this.calls[op] = (this.calls[op] ?? 0) + 1;
  }

  private check(op: Op, path: string): Fault | null {
    for (let i = 0; i < this.faults.length; i++) {
      const f = this.faults[i]!;
      if (f.op !== op || (f.path !== null && !f.path.test(path))) continue;
      if (--f.nth === 0) {
        this.faults.splice(i, 1);
        return f;
      }
    }
    return null;
  }

  private pathOf(fd: number): string {
    return this.paths.get(fd) ?? `fd:${fd}`;
  }

  private readRange(path: string, pos: number, len: number): { old: Uint8Array; size: number } {
    const fd = this.inner.openSync(path, "r");
    try {
      const size = this.inner.fileSize(fd);
      const n = Math.max(0, Math.min(len, size - pos));
      const old = new Uint8Array(n);
      let off = 0;
      while (off < n) {
        const r = this.inner.readSync(fd, old, off, n - off, pos + off);
        if (r === 0) break;
        off += r;
      }
      return { old, size };
    } finally {
      this.inner.closeSync(fd);
    }
  }

  private record(path: string, u: Undo): void {
    let list = this.undo.get(path);
    if (list === undefined) this.undo.set(path, (list = []));
    list.push(u);
  }

  /** Bytes written to `path` since its last sync. */
  unsyncedBytes(path: string): number {
    return (this.undo.get(path) ?? []).reduce((a, u) => a + u.len, 0);
  }

  openSync(path: string, flags: string, mode?: number): number {
    this.count("open");
    const f = this.check("open", path);
    if (f !== null) throw sysError(f.code, "open");
    const fd = this.inner.openSync(path, flags, mode);
    this.paths.set(fd, path);
    return fd;
  }
  closeSync(fd: number): void {
    this.paths.delete(fd);
    this.inner.closeSync(fd);
  }
  readSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    return this.inner.readSync(fd, buf, offset, length, position);
  }
  writeSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    this.count("write");
    const path = this.pathOf(fd);
    const f = this.check("write", path);
    const n = f === null ? length : Math.min(f.partial, length);
    if (n > 0) {
      const { old, size } = this.readRange(path, position, n);
      this.record(path, { pos: position, old, oldSize: size, len: n });
      this.inner.writeSync(fd, buf, offset, n, position);
    }
    if (f !== null) throw sysError(f.code, "write");
    return n;
  }
  fileSize(fd: number): number {
    return this.inner.fileSize(fd);
  }
  ftruncateSync(fd: number, length: number): void {
    this.count("ftruncate");
    const path = this.pathOf(fd);
    const f = this.check("ftruncate", path);
    if (f !== null) throw sysError(f.code, "ftruncate");
    const size = this.inner.fileSize(fd);
    const { old } = this.readRange(path, length, Math.max(0, size - length));
    this.record(path, { pos: length, old, oldSize: size, len: 0 });
    this.inner.ftruncateSync(fd, length);
  }
  async fdatasync(fd: number): Promise<void> {
    this.count("fdatasync");
    const path = this.pathOf(fd);
    const f = this.check("fdatasync", path);
    if (f !== null) throw sysError(f.code, "fdatasync");
    if (this.gate !== null) {
      this.waiting++;
      await this.gate;
    }
    await this.inner.fdatasync(fd);
    this.undo.delete(path);
  }
  /** The inline sync: counted apart, faults injected for "fdatasync" apply to it too. */
  fdatasyncSync(fd: number): void {
    this.count("fdatasyncSync");
    const path = this.pathOf(fd);
    const f = this.check("fdatasync", path);
    if (f !== null) throw sysError(f.code, "fdatasync");
    this.inner.fdatasyncSync!(fd);
    this.undo.delete(path);
  }
  async fsync(fd: number): Promise<void> {
    this.count("fsync");
    const path = this.pathOf(fd);
    const f = this.check("fsync", path);
    if (f !== null) throw sysError(f.code, "fsync");
    await this.inner.fsync(fd);
    this.undo.delete(path);
  }
  readdirSync(path: string): string[] {
    return this.inner.readdirSync(path);
  }
  mkdirSync(path: string, mode: number): void {
    this.inner.mkdirSync(path, mode);
  }
  renameSync(from: string, to: string): void {
    this.count("rename");
    const f = this.check("rename", from);
    if (f !== null) throw sysError(f.code, "rename");
    this.inner.renameSync(from, to);
    // Unsynced writes follow the file; open fds keep working under the new name.
    for (const [key, list] of [...this.undo]) {
      if (key === from || key.startsWith(`${from}/`)) {
        this.undo.delete(key);
        this.undo.set(to + key.slice(from.length), list);
      }
    }
    for (const [fd, p] of this.paths) {
      if (p === from || p.startsWith(`${from}/`)) this.paths.set(fd, to + p.slice(from.length));
    }
  }
  unlinkSync(path: string): void {
    this.undo.delete(path);
    this.inner.unlinkSync(path);
  }
  rmSync(path: string): void {
    this.inner.rmSync(path);
  }
  existsSync(path: string): boolean {
    return this.inner.existsSync(path);
  }
  isDirectory(path: string): boolean {
    return this.inner.isDirectory(path);
  }
  tryLock(fd: number): boolean {
    return this.inner.tryLock(fd);
  }
  unlock(fd: number): void {
    this.inner.unlock(fd);
  }

  /**
   * Power loss: every file loses what was written since its last sync (with
   * `keep`, each unsynced 512-byte sector survives with that probability, as
   * a torn write), and every open file is closed (the process died).
   * Directory operations are treated as durable at once.
   */
  crash(keep?: () => boolean): void {
    for (const fd of [...this.paths.keys()]) {
      try {
        this.inner.closeSync(fd);
      } catch {}
    }
    this.paths.clear();
    for (const [path, list] of this.undo) {
      if (!this.inner.existsSync(path)) continue;
      const fd = this.inner.openSync(path, "r+");
      try {
        for (let i = list.length - 1; i >= 0; i--) {
          const u = list[i]!;
          if (u.len === 0) {
            // A truncation: restore the size and the bytes cut away.
            this.inner.ftruncateSync(fd, u.oldSize);
            this.inner.writeSync(fd, u.old, 0, u.old.length, u.pos);
            continue;
          }
          // Revert sector by sector (aligned to the file offset).
          let a = u.pos;
          const end = u.pos + u.len;
          while (a < end) {
            const b = Math.min(end, (Math.floor(a / 512) + 1) * 512);
            if (keep === undefined || !keep()) {
              const from = a - u.pos;
              const to = Math.min(b - u.pos, u.old.length);
              if (to > from) this.inner.writeSync(fd, u.old, from, to - from, a);
              const zeroFrom = Math.max(a, u.pos + u.old.length);
              if (b > zeroFrom)
                this.inner.writeSync(fd, new Uint8Array(b - zeroFrom), 0, b - zeroFrom, zeroFrom);
            }
            a = b;
          }
          if (keep === undefined && this.inner.fileSize(fd) > u.oldSize)
            this.inner.ftruncateSync(fd, u.oldSize);
        }
      } finally {
        this.inner.closeSync(fd);
      }
    }
    this.undo.clear();
  }
}

/** node:fs, counting the bytes read from each file. */
export class CountingFS implements FileSystem {
  readonly read = new Map<string, number>();
  private readonly paths = new Map<number, string>();
  openSync(path: string, flags: string, mode?: number): number {
    const fd = nodeFileSystem.openSync(path, flags, mode);
    this.paths.set(fd, path);
    return fd;
  }
  closeSync(fd: number): void {
    this.paths.delete(fd);
    nodeFileSystem.closeSync(fd);
  }
  readSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    const n = nodeFileSystem.readSync(fd, buf, offset, length, position);
    const p = this.paths.get(fd) ?? "?";
    this.read.set(p, (this.read.get(p) ?? 0) + n);
    return n;
  }
  total(): number {
    let t = 0;
    for (const n of this.read.values()) t += n;
    return t;
  }
  writeSync = nodeFileSystem.writeSync;
  fileSize = nodeFileSystem.fileSize;
  ftruncateSync = nodeFileSystem.ftruncateSync;
  fdatasync = nodeFileSystem.fdatasync;
  fsync = nodeFileSystem.fsync;
  readdirSync = nodeFileSystem.readdirSync;
  mkdirSync = nodeFileSystem.mkdirSync;
  renameSync = nodeFileSystem.renameSync;
  unlinkSync = nodeFileSystem.unlinkSync;
  rmSync = nodeFileSystem.rmSync;
  existsSync = nodeFileSystem.existsSync;
  isDirectory = nodeFileSystem.isDirectory;
  tryLock = nodeFileSystem.tryLock;
  unlock = nodeFileSystem.unlock;
}
