// Typed errors of the key-value server. Each carries the stable `code` that
// the HTTP API returns in its JSON error bodies, and the HTTP status.

/**
 * A failed key-value request: `code` (a KvErrorCode, or the leader's code
 * passed on by a forwarded request) is what the REST API returns in its JSON
 * error body, `status` the HTTP status.
 */
export class KvError extends Error {
  /** The stable error code, e.g. "REVISION_MISMATCH" (docs/kv.md lists them). */
  readonly code: string;
  /** The HTTP status the REST API answers with (400, 404, 409, 412, 503, 504...). */
  readonly status: number;
  /**
   * Extra fields of the JSON error body: `modRevision` on REVISION_MISMATCH
   * (the key's current mod revision), `maybeApplied` on a failed write
   * (false: it is in no log and never will be; true: it may still commit).
   */
  readonly details: Record<string, unknown>;
  constructor(code: string, status: number, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "KvError";
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

/** The codes of KvError (the REST API's error bodies; docs/kv.md has each one's status). */
export const KvErrorCode = {
  BadRequest: "BAD_REQUEST",
  KeyTooLarge: "KEY_TOO_LARGE",
  ValueTooLarge: "VALUE_TOO_LARGE",
  NotFound: "KEY_NOT_FOUND",
  RevisionMismatch: "REVISION_MISMATCH",
  NoLeader: "NO_LEADER",
  Timeout: "TIMEOUT",
  Stopped: "STOPPED",
  MemberNotFound: "MEMBER_NOT_FOUND",
  MemberExists: "MEMBER_EXISTS",
  Unhealthy: "UNHEALTHY",
  ProposalDropped: "PROPOSAL_DROPPED",
  /** A membership change that would leave no quorum of live voters, or remove the last voter. */
  UnsafeReconfiguration: "UNSAFE_RECONFIGURATION",
  /** The member is busy sending large replies; retry shortly. */
  TooBusy: "TOO_BUSY",
  /** A learner not caught up enough to be promoted. */
  LearnerNotReady: "LEARNER_NOT_READY",
  MethodNotAllowed: "METHOD_NOT_ALLOWED",
  RouteNotFound: "NOT_FOUND",
  Internal: "INTERNAL",
} as const;

/** Invalid command-line flags or a data directory that belongs to another member or cluster. */
export class KvConfigError extends Error {
  /** Always "ERR_KV_CONFIG". */
  readonly code = "ERR_KV_CONFIG";
  /** The underlying error's code when it came from the host (e.g. ERR_HOST_LISTEN), for exit codes. */
  readonly reason: string | undefined;
  constructor(message: string, reason?: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "KvConfigError";
    this.reason = reason;
  }
}
