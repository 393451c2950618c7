// Typed errors of the replicated-state-machine host. Every error a caller
// can see carries a stable `code`; `retryable` says whether the same request
// may succeed if simply sent again (perhaps to another member).

/** The stable `code` of every HostError (docs/errors.md lists them). */
export const HostErrorCode = {
  /** No leader is known right now (an election is under way, or this member is cut off). */
  NoLeader: "ERR_HOST_NO_LEADER",
  /** The operation must run on the leader; `leaderId` names it when known. */
  NotLeader: "ERR_HOST_NOT_LEADER",
  /** raft dropped the proposal (leadership changed, or the member is a learner with forwarding off). */
  ProposalDropped: "ERR_HOST_PROPOSAL_DROPPED",
  /** The caller's signal fired first. A timed-out proposal may still commit and apply later. */
  Timeout: "ERR_HOST_TIMEOUT",
  /** The host is stopping or stopped. */
  Stopped: "ERR_HOST_STOPPED",
  /** A member with one of these peer URLs exists already. */
  MemberExists: "ERR_HOST_MEMBER_EXISTS",
  /** No member with that ID. */
  MemberNotFound: "ERR_HOST_MEMBER_NOT_FOUND",
  /** The change would leave the voters without a quorum of members recently heard from. */
  UnsafeReconfiguration: "ERR_HOST_UNSAFE_RECONFIGURATION",
  /** Removing the last voter would leave a cluster that can never elect a leader. */
  LastVoter: "ERR_HOST_LAST_VOTER",
  /** The learner is not caught up enough with the leader to become a voter. */
  LearnerNotReady: "ERR_HOST_LEARNER_NOT_READY",
  /** The member is not a learner (promote). */
  NotLearner: "ERR_HOST_NOT_LEARNER",
  /** Another membership change proposed by this member is still in flight. */
  ConfChangeInFlight: "ERR_HOST_CONF_CHANGE_IN_FLIGHT",
  /** Invalid configuration or argument. */
  InvalidArgument: "ERR_HOST_INVALID_ARGUMENT",
  /** The data directory belongs to another member or cluster, or cannot be used. */
  DataDir: "ERR_HOST_DATA_DIR",
  /** The WAL or snapshots are damaged (a CRC error, a missing file): the member refuses to start. */
  DamagedData: "ERR_HOST_DAMAGED_DATA",
  /** Another process holds the data directory. */
  DataDirLocked: "ERR_HOST_DATA_DIR_LOCKED",
  /** A listener could not bind (port in use, permission). */
  Listen: "ERR_HOST_LISTEN",
  /** Joining an existing cluster failed (peers unreachable, not a member yet). */
  Join: "ERR_HOST_JOIN",
  /** The state machine threw, or storage failed: the member cannot go on. */
  Fatal: "ERR_HOST_FATAL",
} as const;
export type HostErrorCode = (typeof HostErrorCode)[keyof typeof HostErrorCode];

const RETRYABLE = new Set<HostErrorCode>([
  HostErrorCode.NoLeader,
  HostErrorCode.NotLeader,
  HostErrorCode.ProposalDropped,
  HostErrorCode.ConfChangeInFlight,
]);

/**
 * Every error the host reports to callers (rejected promises, `done`, the
 * "error" event) and throws from its constructor. Test `code`, not the message;
 * `retryable` says whether the same request may succeed when sent again.
 */
export class HostError extends Error {
  /** Which failure this is (stable across versions). */
  readonly code: HostErrorCode;
  /** For NotLeader: the leader's ID when known (0n otherwise). */
  readonly leaderId: bigint;

  constructor(code: HostErrorCode, message: string, opts: { cause?: unknown; leaderId?: bigint } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "HostError";
    this.code = code;
    this.leaderId = opts.leaderId ?? 0n;
  }

  /** True if sending the same request again (later, or to the leader) may succeed. */
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}
