// etcd's file pipeline: the next segment is created, locked and preallocated
// ahead of time as `0.tmp` / `1.tmp` (alternating), so that a cut only has to
// write its header records and rename the file.

import { join } from "node:path";
import type { FileSystem } from "../fileutil/index.ts";
import { ioError, WalError, WalErrorCode } from "./errors.ts";

export interface LockedFile {
  fd: number;
  path: string;
}

type Prepared = { file: LockedFile; error: null } | { file: null; error: unknown };

export class FilePipeline {
  private readonly fs: FileSystem;
  private readonly dir: string;
  private readonly size: number;
  private count = 0;
  private pending: Promise<Prepared>;
  private closed = false;

  constructor(fs: FileSystem, dir: string, size: number) {
    this.fs = fs;
    this.dir = dir;
    this.size = size;
    this.pending = this.prepare();
  }

  // Runs on a later turn of the event loop so that the caller (open, create,
  // cut) is not delayed; failures are kept and reported by take().
  private async prepare(): Promise<Prepared> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const path = join(this.dir, `${this.count % 2}.tmp`);
    this.count++;
    let fd = -1;
    try {
      fd = this.fs.openSync(path, "w", 0o600);
      if (!this.fs.tryLock(fd)) {
        throw new WalError(WalErrorCode.Locked, `fileutil: file already locked (${path})`);
      }
      // Extending the file now means appends never grow it: fdatasync then
      // has no file size to persist. (etcd uses fallocate; a sparse extension
      // reads the same, zeros, and the benchmark shows the same sync rate.)
      this.fs.ftruncateSync(fd, this.size);
      return { file: { fd, path }, error: null };
    } catch (err) {
      if (fd >= 0) {
        try {
          this.fs.closeSync(fd);
        } catch {}
      }
      return { file: null, error: err instanceof WalError ? err : ioError(`preallocate ${path}`, err) };
    }
  }

  /** The prepared file (waiting for it if needed); starts preparing the next. */
  async take(): Promise<LockedFile> {
    if (this.closed) throw new WalError(WalErrorCode.Closed, "wal: file pipeline closed");
    const got = await this.pending;
    this.pending = this.prepare();
    if (got.file === null) throw got.error;
    return got.file;
  }

  /** Stops the pipeline and removes the file it prepared. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const got = await this.pending;
    if (got.file !== null) {
      try {
        this.fs.closeSync(got.file.fd);
      } finally {
        this.fs.unlinkSync(got.file.path);
      }
    }
  }
}
