// A small in-memory FileSystem for the WAL and snapshot fuzz targets: the
// decoders read through the same interface as on disk, without touching it,
// so a case costs microseconds and leaves nothing behind.

import type { FileSystem } from "../src/fileutil/index.ts";

function enoent(path: string): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, '${path}'`), { code: "ENOENT" });
}

export class MemFS implements FileSystem {
  readonly files = new Map<string, Uint8Array>();
  private readonly fds = new Map<number, string>();
  private nextFd = 3;

  openSync(path: string, flags: string): number {
    if (!this.files.has(path)) {
      if (flags === "r" || flags === "r+") throw enoent(path);
      this.files.set(path, new Uint8Array(0));
    } else if (flags.startsWith("w")) this.files.set(path, new Uint8Array(0));
    const fd = this.nextFd++;
    this.fds.set(fd, path);
    return fd;
  }
  closeSync(fd: number): void {
    this.fds.delete(fd);
  }
  private file(fd: number): Uint8Array {
    const p = this.fds.get(fd);
    if (p === undefined) throw Object.assign(new Error("EBADF: bad file descriptor"), { code: "EBADF" });
    return this.files.get(p)!;
  }
  readSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    const f = this.file(fd);
    const n = Math.max(0, Math.min(length, f.length - position));
    buf.set(f.subarray(position, position + n), offset);
    return n;
  }
  writeSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    let f = this.file(fd);
    if (position + length > f.length) {
      const g = new Uint8Array(position + length);
      g.set(f);
      f = g;
      this.files.set(this.fds.get(fd)!, f);
    }
    f.set(buf.subarray(offset, offset + length), position);
    return length;
  }
  fileSize(fd: number): number {
    return this.file(fd).length;
  }
  ftruncateSync(fd: number, length: number): void {
    const f = this.file(fd);
    const g = new Uint8Array(length);
    g.set(f.subarray(0, Math.min(length, f.length)));
    this.files.set(this.fds.get(fd)!, g);
  }
  async fdatasync(): Promise<void> {}
  async fsync(): Promise<void> {}
  readdirSync(path: string): string[] {
    const prefix = path.endsWith("/") ? path : `${path}/`;
    return [...this.files.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }
  mkdirSync(): void {}
  renameSync(from: string, to: string): void {
    const f = this.files.get(from);
    if (f === undefined) throw enoent(from);
    this.files.delete(from);
    this.files.set(to, f);
  }
  unlinkSync(path: string): void {
    if (!this.files.delete(path)) throw enoent(path);
  }
  rmSync(path: string): void {
    this.files.delete(path);
  }
  existsSync(path: string): boolean {
    return this.files.has(path);
  }
  isDirectory(): boolean {
    return false;
  }
  tryLock(): boolean {
    return true;
  }
  unlock(): void {}
}
