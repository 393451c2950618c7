// Typed errors of the peer transport. Every error carries a stable `code`;
// the messages of the client-side errors are etcd's wording, so logs read the
// same on both implementations.

export const RaftHttpErrorCode = {
  /** `X-Etcd-Cluster-ID` differs from ours (HTTP 412 `cluster ID mismatch`). */
  ClusterIdMismatch: "ERR_RAFTHTTP_CLUSTER_ID_MISMATCH",
  /** The peer's version headers are incompatible with ours (HTTP 412 `incompatible version`). */
  IncompatibleVersion: "ERR_RAFTHTTP_INCOMPATIBLE_VERSION",
  /**
   * The peer told us that we were removed from the cluster: 410 on a stream, or
   * 403 "cannot process message from removed member" on a POST (another 403 is UnexpectedStatus).
   */
  MemberRemoved: "ERR_RAFTHTTP_MEMBER_REMOVED",
  /** sendSnapshot() named a member that is not a peer. */
  MemberNotFound: "ERR_RAFTHTTP_MEMBER_NOT_FOUND",
  /** The peer is older than us and cannot serve this stream type. */
  UnsupportedStreamType: "ERR_RAFTHTTP_UNSUPPORTED_STREAM_TYPE",
  /** Any other unexpected HTTP status from a peer (`status` holds it). */
  UnexpectedStatus: "ERR_RAFTHTTP_UNEXPECTED_STATUS",
  /** A frame or body from a peer is larger than the configured limit. */
  LimitExceeded: "ERR_RAFTHTTP_LIMIT_EXCEEDED",
  /** A request refused for load: pipeline bodies in flight over their budget, or a body that stalled. */
  Busy: "ERR_RAFTHTTP_BUSY",
  /** A request or message from a sender that is not a current member, or not the member it claims to be. */
  UnknownSender: "ERR_RAFTHTTP_UNKNOWN_SENDER",
  /** A frame or body from a peer cannot be decoded (`cause` holds the DecodeError). */
  BadFrame: "ERR_RAFTHTTP_BAD_FRAME",
  /** A stream ended in the middle of a frame. */
  UnexpectedEof: "ERR_RAFTHTTP_UNEXPECTED_EOF",
  /** The application's snapshot body produced fewer or more bytes than announced. */
  SnapshotSize: "ERR_RAFTHTTP_SNAPSHOT_SIZE",
  /** A connection, dial or response timed out. */
  Timeout: "ERR_RAFTHTTP_TIMEOUT",
  /** The operation was cut short by stop(), removePeer() or a replaced connection. */
  Stopped: "ERR_RAFTHTTP_STOPPED",
  /** A socket-level error (`cause` holds Node's error). */
  Network: "ERR_RAFTHTTP_NETWORK",
  /** A TLS peer failed the CN / SAN checks. */
  TlsRejected: "ERR_RAFTHTTP_TLS_REJECTED",
} as const;
export type RaftHttpErrorCode = (typeof RaftHttpErrorCode)[keyof typeof RaftHttpErrorCode];

/** An error of the transport's network side. `status` is the HTTP status when one was involved. */
export class RaftHttpError extends Error {
  readonly code: RaftHttpErrorCode;
  readonly status: number;

  constructor(code: RaftHttpErrorCode, message: string, status = 0, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "RaftHttpError";
    this.code = code;
    this.status = status;
  }
}

/** A Transport option or an argument of addPeer/addRemote/updatePeer is invalid. */
export class TransportConfigError extends Error {
  readonly code = "ERR_RAFTHTTP_CONFIG";
  /** The offending option or argument. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = "TransportConfigError";
    this.field = field;
  }
}

/**
 * Throw this from `RaftReceiver.process` to answer a pipeline or snapshot POST with a
 * specific status (etcd's "error that renders itself"); any other error is
 * answered with 500.
 */
export class ProcessError extends Error {
  readonly code = "ERR_RAFTHTTP_PROCESS";
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "ProcessError";
    this.status = status;
  }
}

export const errMemberRemovedText = "the member has been permanently removed from the cluster";

/**
 * etcd's refusal of a message whose sender was removed (EtcdServer.Process;
 * the 403 body is `{"message":"<this>"}`). It is the one 403 that means "you
 * were removed": etcd's other 403, "cannot process message to mismatch
 * member", says the URL reached another member, which the sender must not
 * take for its own removal (checkPostResponse).
 */
export const removedSenderText = "cannot process message from removed member";

export function memberRemovedError(): RaftHttpError {
  return new RaftHttpError(RaftHttpErrorCode.MemberRemoved, errMemberRemovedText);
}

export function stoppedError(what = "stopped"): RaftHttpError {
  return new RaftHttpError(RaftHttpErrorCode.Stopped, what);
}

/** Wraps a Node socket error (keeps RaftHttpErrors as they are). */
export function networkError(err: unknown): RaftHttpError {
  if (err instanceof RaftHttpError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new RaftHttpError(RaftHttpErrorCode.Network, msg, 0, err);
}

export function limitExceeded(what: string, size: number, limit: number): RaftHttpError {
  return new RaftHttpError(
    RaftHttpErrorCode.LimitExceeded,
    `rafthttp: error limit exceeded (${what} of ${size} bytes, limit ${limit})`,
  );
}
