// Typed errors of the MVCC engine. Each carries a stable `code` and the
// exact message etcd 3.4 sends for the same condition (`etcdMessage`), so
// that the gRPC layer can answer with etcd's status and bytes-for-bytes
// message (shared/spec/etcd-v3-api.md §4) without a second table.

/** The stable `code` of every MvccError (each maps to etcd's message and gRPC status). */
export const MvccErrorCode = {
  EmptyKey: "ERR_MVCC_EMPTY_KEY",
  KeyNotFound: "ERR_MVCC_KEY_NOT_FOUND",
  ValueProvided: "ERR_MVCC_VALUE_PROVIDED",
  LeaseProvided: "ERR_MVCC_LEASE_PROVIDED",
  TooManyOps: "ERR_MVCC_TOO_MANY_OPS",
  DuplicateKey: "ERR_MVCC_DUPLICATE_KEY",
  Compacted: "ERR_MVCC_COMPACTED",
  FutureRev: "ERR_MVCC_FUTURE_REV",
  InvalidSortOption: "ERR_MVCC_INVALID_SORT_OPTION",
  LeaseNotFound: "ERR_MVCC_LEASE_NOT_FOUND",
  LeaseExists: "ERR_MVCC_LEASE_EXISTS",
  LeaseTtlTooLarge: "ERR_MVCC_LEASE_TTL_TOO_LARGE",
  NotPrimary: "ERR_MVCC_NOT_PRIMARY",
  NoSpace: "ERR_MVCC_NO_SPACE",
  Corrupt: "ERR_MVCC_CORRUPT",
  UnsafeInteger: "ERR_MVCC_UNSAFE_INTEGER",
  BadCommand: "ERR_MVCC_BAD_COMMAND",
  SnapshotCorrupt: "ERR_MVCC_SNAPSHOT_CORRUPT",
} as const;
export type MvccErrorCode = (typeof MvccErrorCode)[keyof typeof MvccErrorCode];

/** The message etcd 3.4 puts in the gRPC status for each code (spec §4.1). */
const ETCD_MESSAGES: Record<MvccErrorCode, string> = {
  ERR_MVCC_EMPTY_KEY: "etcdserver: key is not provided",
  ERR_MVCC_KEY_NOT_FOUND: "etcdserver: key not found",
  ERR_MVCC_VALUE_PROVIDED: "etcdserver: value is provided",
  ERR_MVCC_LEASE_PROVIDED: "etcdserver: lease is provided",
  ERR_MVCC_TOO_MANY_OPS: "etcdserver: too many operations in txn request",
  ERR_MVCC_DUPLICATE_KEY: "etcdserver: duplicate key given in txn request",
  ERR_MVCC_COMPACTED: "etcdserver: mvcc: required revision has been compacted",
  ERR_MVCC_FUTURE_REV: "etcdserver: mvcc: required revision is a future revision",
  ERR_MVCC_INVALID_SORT_OPTION: "etcdserver: invalid sort option",
  ERR_MVCC_LEASE_NOT_FOUND: "etcdserver: requested lease not found",
  ERR_MVCC_LEASE_EXISTS: "etcdserver: lease already exists",
  ERR_MVCC_LEASE_TTL_TOO_LARGE: "etcdserver: too large lease TTL",
  ERR_MVCC_NOT_PRIMARY: "etcdserver: not leader",
  ERR_MVCC_NO_SPACE: "etcdserver: mvcc: database space exceeded",
  ERR_MVCC_CORRUPT: "etcdserver: corrupt cluster",
  ERR_MVCC_UNSAFE_INTEGER: "etcdserver: integer out of range",
  ERR_MVCC_BAD_COMMAND: "etcdserver: invalid request",
  ERR_MVCC_SNAPSHOT_CORRUPT: "etcdserver: snapshot is corrupt",
};

/** A request the MVCC engine refuses, or a damaged snapshot; `message` starts with etcd's message. */
export class MvccError extends Error {
  /** Which condition this is (stable across versions). */
  readonly code: MvccErrorCode;
  /** What etcd writes in the gRPC status message for this condition. */
  readonly etcdMessage: string;
  constructor(code: MvccErrorCode, detail?: string) {
    const etcdMessage = ETCD_MESSAGES[code];
    super(detail === undefined ? etcdMessage : `${etcdMessage}: ${detail}`);
    this.name = "MvccError";
    this.code = code;
    this.etcdMessage = etcdMessage;
  }
}

/** A revision, count or TTL from the wire (int64 as bigint) as a safe JS number, or a typed error. */
export function toSafeNumber(v: bigint, field: string): number {
  if (v > 9007199254740991n || v < -9007199254740991n)
    throw new MvccError(MvccErrorCode.UnsafeInteger, `${field} ${v} is not a safe integer`);
  return Number(v);
}
