// gRPC statuses of the v3 API: etcd's codes and messages, byte for byte
// (shared/spec/etcd-v3-api.md §4). Clients map errors by the exact message.

import { MvccError, MvccErrorCode } from "../mvcc/index.ts";

/** gRPC status codes used here (values as in the gRPC spec). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/**
 * An error the v3 API answers with a gRPC status. Backends throw these for
 * cluster conditions (no leader, member not found, timeouts...); use the
 * constructors in `V3Errors` so the messages are etcd's.
 */
export class V3RpcError extends Error {
  /** Always "ERR_V3RPC"; `grpcCode` says which gRPC status. */
  readonly code = "ERR_V3RPC";
  constructor(
    readonly grpcCode: number,
    message: string,
  ) {
    super(message);
    this.name = "V3RpcError";
  }
}

const e = (c: number, m: string) => () => new V3RpcError(c, m);

/** etcd's errors outside the MVCC engine (spec §4.1). */
export const V3Errors = {
  noLeader: e(GrpcCode.UNAVAILABLE, "etcdserver: no leader"),
  notLeader: e(GrpcCode.FAILED_PRECONDITION, "etcdserver: not leader"),
  leaderChanged: e(GrpcCode.UNAVAILABLE, "etcdserver: leader changed"),
  stopped: e(GrpcCode.UNAVAILABLE, "etcdserver: server stopped"),
  timeout: e(GrpcCode.UNAVAILABLE, "etcdserver: request timed out"),
  timeoutWaitAppliedIndex: e(
    GrpcCode.UNAVAILABLE,
    "etcdserver: request timed out, waiting for the applied index took too long",
  ),
  timeoutLeaderTransfer: e(GrpcCode.UNKNOWN, "etcdserver: request timed out, leader transfer took too long"),
  tooManyRequests: e(GrpcCode.RESOURCE_EXHAUSTED, "etcdserver: too many requests"),
  requestTooLarge: e(GrpcCode.INVALID_ARGUMENT, "etcdserver: request is too large"),
  memberNotFound: e(GrpcCode.NOT_FOUND, "etcdserver: member not found"),
  memberIdExists: e(GrpcCode.FAILED_PRECONDITION, "etcdserver: member ID already exist"),
  peerUrlExists: e(GrpcCode.FAILED_PRECONDITION, "etcdserver: Peer URLs already exists"),
  memberBadUrls: e(GrpcCode.INVALID_ARGUMENT, "etcdserver: given member URLs are invalid"),
  notEnoughStartedMembers: e(
    GrpcCode.FAILED_PRECONDITION,
    "etcdserver: re-configuration failed due to not enough started members",
  ),
  memberNotLearner: e(GrpcCode.FAILED_PRECONDITION, "etcdserver: can only promote a learner member"),
  learnerNotReady: e(
    GrpcCode.FAILED_PRECONDITION,
    "etcdserver: can only promote a learner member which is in sync with leader",
  ),
  tooManyLearners: e(GrpcCode.FAILED_PRECONDITION, "etcdserver: too many learner members in cluster"),
  badLeaderTransferee: e(GrpcCode.FAILED_PRECONDITION, "etcdserver: bad leader transferee"),
  notSupportedForLearner: e(GrpcCode.UNAVAILABLE, "etcdserver: rpc not supported for learner"),
  authNotEnabled: e(GrpcCode.FAILED_PRECONDITION, "etcdserver: authentication is not enabled"),
  authNotSupported: e(GrpcCode.UNIMPLEMENTED, "etcdserver: authentication is not supported by this server"),
  watchCanceled: e(GrpcCode.CANCELLED, "etcdserver: watch canceled"),
  // The Lock and Election services' own errors (plain Go errors in etcd, hence UNKNOWN).
  electionNotLeader: e(GrpcCode.UNKNOWN, "election: not leader"),
  electionNoLeader: e(GrpcCode.UNKNOWN, "election: no leader"),
  missingLeaderKey: e(GrpcCode.UNKNOWN, '"leader" field must be provided'),
  mutexSessionExpired: e(GrpcCode.UNKNOWN, "mutex: session is expired"),
} as const;

const MVCC_CODES: Record<string, number> = {
  [MvccErrorCode.EmptyKey]: GrpcCode.INVALID_ARGUMENT,
  [MvccErrorCode.KeyNotFound]: GrpcCode.INVALID_ARGUMENT,
  [MvccErrorCode.ValueProvided]: GrpcCode.INVALID_ARGUMENT,
  [MvccErrorCode.LeaseProvided]: GrpcCode.INVALID_ARGUMENT,
  [MvccErrorCode.TooManyOps]: GrpcCode.INVALID_ARGUMENT,
  [MvccErrorCode.DuplicateKey]: GrpcCode.INVALID_ARGUMENT,
  [MvccErrorCode.InvalidSortOption]: GrpcCode.INVALID_ARGUMENT,
  [MvccErrorCode.Compacted]: GrpcCode.OUT_OF_RANGE,
  [MvccErrorCode.FutureRev]: GrpcCode.OUT_OF_RANGE,
  [MvccErrorCode.LeaseTtlTooLarge]: GrpcCode.OUT_OF_RANGE,
  [MvccErrorCode.LeaseNotFound]: GrpcCode.NOT_FOUND,
  [MvccErrorCode.LeaseExists]: GrpcCode.FAILED_PRECONDITION,
  [MvccErrorCode.NotPrimary]: GrpcCode.FAILED_PRECONDITION,
  [MvccErrorCode.NoSpace]: GrpcCode.RESOURCE_EXHAUSTED,
  [MvccErrorCode.Corrupt]: GrpcCode.DATA_LOSS,
  [MvccErrorCode.UnsafeInteger]: GrpcCode.INVALID_ARGUMENT,
  [MvccErrorCode.BadCommand]: GrpcCode.INVALID_ARGUMENT,
  [MvccErrorCode.SnapshotCorrupt]: GrpcCode.DATA_LOSS,
};

/** The gRPC status for any error thrown while serving a request. */
export function toStatus(err: unknown): { code: number; message: string } {
  if (err instanceof V3RpcError) return { code: err.grpcCode, message: err.message };
  if (err instanceof MvccError) {
    // Errors that carry a detail (unsafe integers, bad commands) keep it; the others are etcd's bare message.
    const bare =
      err.code === MvccErrorCode.UnsafeInteger ||
      err.code === MvccErrorCode.BadCommand ||
      err.code === MvccErrorCode.SnapshotCorrupt;
    return { code: MVCC_CODES[err.code] ?? GrpcCode.UNKNOWN, message: bare ? err.message : err.etcdMessage };
  }
  if (err instanceof Error && err.name === "AbortError")
    return { code: GrpcCode.CANCELLED, message: err.message };
  return { code: GrpcCode.UNKNOWN, message: err instanceof Error ? err.message : String(err) };
}
