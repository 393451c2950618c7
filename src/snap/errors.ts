// Typed errors of the snapshotter; messages are etcd's strings.

/** The stable `code` of every SnapError. */
export const SnapErrorCode = {
  /** No readable `.snap` file (`snap: no available snapshot`). */
  NoSnapshot: "ERR_SNAP_NO_SNAPSHOT",
  /** The file or its data is empty, or its CRC field is zero (`snap: empty snapshot`). */
  EmptySnapshot: "ERR_SNAP_EMPTY",
  /** The data does not match the file's CRC (`snap: crc mismatch`). */
  CRCMismatch: "ERR_SNAP_CRC_MISMATCH",
  /** The envelope or the raft snapshot inside does not decode. */
  Decode: "ERR_SNAP_DECODE",
  /** No `.snap.db` file for that index (`snap: snapshot file doesn't exist`). */
  NoDBSnapshot: "ERR_SNAP_NO_DB_SNAPSHOT",
  /** A file-system call failed; `cause` holds the system error. */
  IO: "ERR_SNAP_IO",
  /** An argument that is not acceptable (e.g. an index that is not a safe integer). */
  InvalidArgument: "ERR_SNAP_INVALID_ARGUMENT",
  /** A writing call (save, release, purge) on a Snapshotter opened with `readOnly: true`. */
  ReadOnly: "ERR_SNAP_READ_ONLY",
} as const;
export type SnapErrorCode = (typeof SnapErrorCode)[keyof typeof SnapErrorCode];

/** Every error the snapshotter throws; `message` is etcd's string where etcd has one. */
export class SnapError extends Error {
  /** Which failure this is (stable across versions). */
  readonly code: SnapErrorCode;
  /** The file concerned, when there is one. */
  readonly file: string | undefined;

  constructor(code: SnapErrorCode, message: string, opts?: { file?: string; cause?: unknown }) {
    super(message, opts?.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = "SnapError";
    this.code = code;
    this.file = opts?.file;
  }
}
