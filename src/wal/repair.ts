// Repair of a torn tail (etcd keeps this in wal/repair.go). A crash in the
// middle of a write can leave the last record of the last segment incomplete:
// its length word promises more bytes than the file holds, or the bytes that
// are there end in zeros that were never written. That record was never
// acknowledged as durable (the fdatasync that would have made it so did not
// return), so cutting it off loses nothing raft was promised. Every other kind
// of damage (a CRC mismatch, a record in the middle that does not decode, a
// torn record in an earlier segment) is corruption of data that was durable,
// and is never cut away: repair() reports false and leaves the file alone.

import { join, resolve } from "node:path";
import { type FileSystem, writeAll } from "../fileutil/index.ts";
import { Decoder } from "./decoder.ts";
import { WalError, WalErrorCode, wrapIO } from "./errors.ts";
import { readWalNames } from "./names.ts";
import { resolveWalOptions, type WalOptions } from "./options.ts";

// Copies a segment into `to` through one 1 MiB buffer (a 64 MB segment read
// whole costs more in page faults than the copy). All-zero chunks, such as
// the preallocated tail, are left as holes: the copy reads back the same.
function copyFile(fs: FileSystem, from: number, to: number): void {
  const size = fs.fileSize(from);
  const buf = new Uint8Array(Math.min(size, 1 << 20));
  let pos = 0;
  while (pos < size) {
    const n = fs.readSync(from, buf, 0, Math.min(buf.length, size - pos), pos);
    if (n === 0) break;
    let zero = true;
    for (let i = 0; i < n; i++) {
      if (buf[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (!zero) writeAll(fs, to, buf, 0, n, pos);
    pos += n;
  }
  fs.ftruncateSync(to, pos);
}

/**
 * Repairs a torn last record (a crash mid-write): the last segment is copied
 * to `<segment>.broken` and truncated where the torn record starts. Returns
 * true if the log now ends cleanly (also when nothing needed fixing), false
 * if the damage is not a torn tail (corruption is never cut away).
 */
export async function repair(dir: string, opts?: WalOptions): Promise<boolean> {
  const o = resolveWalOptions(opts);
  const fs = o.fs;
  dir = resolve(dir);
  const names = readWalNames(fs, dir);
  const name = names[names.length - 1]!;
  const path = join(dir, name);
  let fd: number;
  try {
    fd = fs.openSync(path, "r+");
  } catch (err) {
    throw wrapIO(`open ${path}`, err);
  }
  try {
    if (!fs.tryLock(fd)) throw new WalError(WalErrorCode.Locked, `fileutil: file already locked: ${path}`);
    const d = new Decoder(fs, [{ name, fd }], { reuseBuffer: true });
    try {
      while (d.next()) {}
      return true;
    } catch (err) {
      if (!(err instanceof WalError) || err.code !== WalErrorCode.UnexpectedEOF) {
        o.logger.warning(`wal: cannot repair ${path}: ${(err as Error).message}`);
        return false;
      }
      const off = err.offset ?? 0;
      o.logger.info(`wal: repairing ${path}: truncating torn record at offset ${off}`);
      try {
        const bfd = fs.openSync(`${path}.broken`, "w", 0o600);
        try {
          copyFile(fs, fd, bfd);
          await fs.fsync(bfd);
        } finally {
          fs.closeSync(bfd);
        }
        fs.ftruncateSync(fd, off);
        await fs.fdatasync(fd);
      } catch (e) {
        throw wrapIO(`repair ${path}`, e);
      }
      return true;
    }
  } finally {
    try {
      fs.closeSync(fd);
    } catch {}
  }
}
