// Typed errors of the write-ahead log. Messages are etcd's exact strings where
// etcd has one (so logs read the same); `code` is the stable thing to match on.

/** The stable `code` of every WalError. */
export const WalErrorCode = {
  /** Metadata records differ between segments (`wal: conflicting metadata found`). */
  MetadataConflict: "ERR_WAL_METADATA_CONFLICT",
  /** The directory holds no WAL segment (`wal: file not found`). */
  FileNotFound: "ERR_WAL_FILE_NOT_FOUND",
  /** No segment starts at or before the snapshot index asked for. */
  NoMatchingFile: "ERR_WAL_NO_MATCHING_FILE",
  /** Segment sequence numbers have a gap. */
  BadSequence: "ERR_WAL_BAD_SEQUENCE",
  /** A record's checksum disagrees (`walpb: crc mismatch`); `file` and `offset` say where. */
  CRCMismatch: "ERR_WAL_CRC_MISMATCH",
  /** A record is damaged in a way the checksum does not cover (framing, padding, payload). */
  Corrupt: "ERR_WAL_CORRUPT",
  /** The last record is incomplete (a torn write); `repair` fixes it. */
  UnexpectedEOF: "ERR_WAL_UNEXPECTED_EOF",
  /** A record type other than 1..5 (`unexpected block type N`). */
  UnexpectedBlockType: "ERR_WAL_UNEXPECTED_BLOCK_TYPE",
  /** The snapshot record at the start index has another term (`wal: snapshot mismatch`). */
  SnapshotMismatch: "ERR_WAL_SNAPSHOT_MISMATCH",
  /** No snapshot record matches the start snapshot (`wal: snapshot not found`). */
  SnapshotNotFound: "ERR_WAL_SNAPSHOT_NOT_FOUND",
  /** An entry skips indexes after the start snapshot (`wal: slice bounds out of range`). */
  SliceOutOfRange: "ERR_WAL_SLICE_OUT_OF_RANGE",
  /** readAll called when the WAL is not in read state (`wal: decoder not found`). */
  DecoderNotFound: "ERR_WAL_DECODER_NOT_FOUND",
  /** A segment name that does not parse (`bad wal name`). */
  BadName: "ERR_WAL_BAD_NAME",
  /** create() on a directory that already holds a WAL (`file exists`). */
  Exists: "ERR_WAL_EXISTS",
  /** create() on a non-empty directory that is not a WAL. */
  DirNotEmpty: "ERR_WAL_DIR_NOT_EMPTY",
  /** Another process or WAL object holds the segment (`fileutil: file already locked`). */
  Locked: "ERR_WAL_LOCKED",
  /** saveSnapshot given an invalid snapshot. */
  InvalidSnapshot: "ERR_WAL_INVALID_SNAPSHOT",
  /** A term, index or other argument that is not acceptable. */
  InvalidArgument: "ERR_WAL_INVALID_ARGUMENT",
  /** The operation does not fit the WAL's state (read-only, readAll not called yet). */
  InvalidState: "ERR_WAL_INVALID_STATE",
  /** DiskStorage.open: the WAL was created with other metadata (another member or cluster). */
  MetadataMismatch: "ERR_WAL_METADATA_MISMATCH",
  /** The file system failed (ENOSPC, EIO, ...); `cause` holds the system error. */
  IO: "ERR_WAL_IO",
  /** An earlier write or sync failed; the WAL refuses further writes until reopened. */
  Failed: "ERR_WAL_FAILED",
  /** The WAL was closed. */
  Closed: "ERR_WAL_CLOSED",
} as const;
export type WalErrorCode = (typeof WalErrorCode)[keyof typeof WalErrorCode];

/** Every error of the WAL; `message` is etcd's string where etcd has one. */
export class WalError extends Error {
  /** Which failure this is (stable across versions). */
  readonly code: WalErrorCode;
  /** Segment file the error was found in, when it concerns one record. */
  readonly file: string | undefined;
  /** Byte offset of the damaged frame within `file`. */
  readonly offset: number | undefined;

  constructor(
    code: WalErrorCode,
    message: string,
    opts?: { file?: string; offset?: number; cause?: unknown },
  ) {
    super(message, opts?.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = "WalError";
    this.code = code;
    this.file = opts?.file;
    this.offset = opts?.offset;
  }
}

/** True for the errors that mean the log's bytes are damaged (never a torn tail). */
export function isCorruption(err: unknown): err is WalError {
  return (
    err instanceof WalError &&
    (err.code === WalErrorCode.CRCMismatch ||
      err.code === WalErrorCode.Corrupt ||
      err.code === WalErrorCode.UnexpectedBlockType ||
      err.code === WalErrorCode.SliceOutOfRange ||
      err.code === WalErrorCode.MetadataConflict)
  );
}

/** Wraps a system error from the file system. */
export function ioError(what: string, cause: unknown): WalError {
  const sys = cause as { code?: string; message?: string };
  return new WalError(WalErrorCode.IO, `wal: ${what}: ${sys?.message ?? String(cause)}`, { cause });
}

/** `err` itself when it is already a WalError, else an ERR_WAL_IO wrapping it. */
export function wrapIO(what: string, err: unknown): WalError {
  return err instanceof WalError ? err : ioError(what, err);
}

export function hex(n: number): string {
  return (n >>> 0).toString(16);
}
