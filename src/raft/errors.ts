// Typed errors of the raft core.
//
// etcd compares sentinel errors by identity (err == ErrCompacted). Here the
// exported Err* constants name each error and keep working for callers that
// compare with `===`, but the core itself throws fresh instances where nothing
// outside it depends on identity (so a stack trace points at the throw, not at
// module load) and recognises every error by its `code`, never by identity:
// a Storage written elsewhere may throw its own instance with the same code.
// Match errors on `code` (see docs/errors.md). ErrProposalDropped and
// ErrStopped are still the shared instances when thrown, because the host
// compares them with `===`; storages may throw either form.

export class RaftError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "RaftError";
    this.code = code;
  }
}

/** Errors a Storage implementation reports; raft reacts to each differently. */
export class StorageError extends RaftError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = "StorageError";
  }
}

/** The requested index predates the last snapshot. */
export const ErrCompacted = new StorageError(
  "ERR_COMPACTED",
  "requested index is unavailable due to compaction",
);
/** The snapshot requested is older than the one already held. */
export const ErrSnapOutOfDate = new StorageError(
  "ERR_SNAP_OUT_OF_DATE",
  "requested index is older than the existing snapshot",
);
/** The requested entries are not (yet) in storage. */
export const ErrUnavailable = new StorageError("ERR_UNAVAILABLE", "requested entry at index is unavailable");
/** The snapshot is being prepared; raft will ask again later. */
export const ErrSnapshotTemporarilyUnavailable = new StorageError(
  "ERR_SNAPSHOT_TEMPORARILY_UNAVAILABLE",
  "snapshot is temporarily unavailable",
);

/** A proposal was ignored (no leader, forwarding disabled, transfer in progress, size limit). */
export const ErrProposalDropped = new RaftError("ERR_PROPOSAL_DROPPED", "raft proposal dropped");
/** A message of a local-only type arrived from the network. */
export const ErrStepLocalMsg = new RaftError("ERR_STEP_LOCAL_MSG", "raft: cannot step raft local message");
/** A response arrived from a node that has no progress entry. */
export const ErrStepPeerNotFound = new RaftError(
  "ERR_STEP_PEER_NOT_FOUND",
  "raft: cannot step as peer not found",
);

/** Config validation failed; `field` names the offending option. */
export class ConfigError extends RaftError {
  readonly field: string;
  constructor(field: string, message: string) {
    super("ERR_INVALID_CONFIG", message);
    this.name = "ConfigError";
    this.field = field;
  }
}

/** Operations on a stopped Node. */
export const ErrStopped = new RaftError("ERR_STOPPED", "raft: stopped");

/**
 * Whether `err` is the error `sentinel` names, by code (an Err* constant, a
 * fresh instance made by freshError, or another Storage's own instance).
 */
export function isError(err: unknown, sentinel: RaftError): boolean {
  return err === sentinel || (err instanceof Error && (err as { code?: unknown }).code === sentinel.code);
}

/**
 * A new instance of a sentinel error: the same class, code and message, with
 * the stack of the caller. Only RaftError and StorageError sentinels exist,
 * and both take (code, message).
 */
export function freshError<E extends RaftError>(sentinel: E): E {
  const e =
    sentinel instanceof StorageError
      ? new StorageError(sentinel.code, sentinel.message)
      : new RaftError(sentinel.code, sentinel.message);
  return e as E;
}
