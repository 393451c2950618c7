// The WAL's options and their defaults, shared by the WAL itself and by the
// functions that work on a WAL directory without opening one (repair, verify).

import { type FileSystem, nodeFileSystem } from "../fileutil/index.ts";
import { getLogger, type Logger } from "../raft/index.ts";
import type { Profile } from "../raftpb/index.ts";
import { WalError, WalErrorCode } from "./errors.ts";

/** etcd's SegmentSizeBytes: 64,000,000 bytes (decimal, not 64 MiB). */
export const SEGMENT_SIZE_BYTES = 64 * 1000 * 1000;
/** An fdatasync slower than this logs a "slow fdatasync" warning (etcd's warnSyncDuration). */
export const WARN_SYNC_DURATION_MS = 1000;

/** Options of the WAL and of the functions that work on a WAL directory (all optional). */
export interface WalOptions {
  /** File system to use (default: node:fs). Tests inject faults through it. */
  fs?: FileSystem;
  /** Size segments are preallocated to and cut at (default 64,000,000). */
  segmentSize?: number;
  /** Encoding of entries and hard states: "P37" (etcd 3.7+, default) or "G36" (etcd 3.6). */
  profile?: Profile;
  /** Skip fdatasync (etcd's --unsafe-no-fsync): fast, and loses data on power failure. */
  unsafeNoFsync?: boolean;
  /** Warnings (slow fdatasync, repairs) go here; default raft's global logger. */
  logger?: Logger;
  /** Clock in milliseconds for the slow-sync warning (default performance.now). */
  now?: () => number;
}

/** Options of one WAL.save call. */
export interface WalSaveOptions {
  /**
   * Run this save's fdatasync on the calling thread instead of Node's thread
   * pool (when the file system offers fdatasyncSync). That saves the pool's
   * round trip (two thread wake-ups and an event-loop wake-up, ~10% of a
   * member's CPU per write when writes come one at a time) but blocks the
   * event loop for the sync, so nothing else is read meanwhile: worth it only
   * when nothing else is waiting, i.e. a single write in flight.
   */
  inlineSync?: boolean;
}

/** WalOptions with every default filled in and checked. */
export type ResolvedWalOptions = Required<Omit<WalOptions, "logger">> & { logger: Logger };

/** Fills in the defaults; throws ERR_WAL_INVALID_ARGUMENT for a bad segment size or profile. */
export function resolveWalOptions(opts: WalOptions | undefined): ResolvedWalOptions {
  const segmentSize = opts?.segmentSize ?? SEGMENT_SIZE_BYTES;
  if (!Number.isSafeInteger(segmentSize) || segmentSize < 64) {
    throw new WalError(WalErrorCode.InvalidArgument, `wal: invalid segment size ${segmentSize}`);
  }
  const profile = opts?.profile ?? "P37";
  if (profile !== "P37" && profile !== "G36") {
    throw new WalError(WalErrorCode.InvalidArgument, `wal: unknown profile ${String(profile)}`);
  }
  return {
    fs: opts?.fs ?? nodeFileSystem,
    segmentSize,
    profile,
    unsafeNoFsync: opts?.unsafeNoFsync === true,
    logger: opts?.logger ?? getLogger(),
    now: opts?.now ?? (() => performance.now()),
  };
}
