// The contract between the host and the application: the state machine the
// user writes, the host's configuration, and the shapes it reports.

import type { LeaseSafety, Logger, ReadOnlyOption } from "../raft/index.ts";
import type { PeerTlsOptions } from "../rafthttp/index.ts";

/** One committed command, in log order. */
export interface AppliedCommand {
  /** Raft log index of the entry (strictly increasing across calls). */
  readonly index: number;
  /** Raft term of the entry (the leader's term when it was proposed). */
  readonly term: number;
  /** The bytes given to `propose`; the buffer may alias the log: copy what you keep. */
  readonly data: Uint8Array;
}

/**
 * The replicated state machine. The host calls its methods one at a time,
 * never concurrently, from the raft loop.
 *
 * `apply` must be deterministic: every member applies the same commands in
 * the same order and must reach the same state and the same results. It may
 * not read the clock, randomness or local files to decide an outcome, and it
 * must not throw for a command it considers invalid: return an error result
 * instead (a throw stops the member, since its state may now differ from the
 * others'). It may be async (an on-disk state machine awaiting its own
 * writes); the loop waits for it.
 */
export interface StateMachine<R = unknown, Q = never, QR = never> {
  /**
   * Applies committed commands, in log order, and returns exactly one result
   * per command (same order; any other count is fatal). The result of a
   * command is what `Host.propose` resolves with on the member that proposed
   * it. A throw or rejection stops the member with ERR_HOST_FATAL.
   */
  apply(commands: readonly AppliedCommand[]): readonly R[] | Promise<readonly R[]>;
  /**
   * A consistent point-in-time image of the state after the last applied
   * command. The image is fixed when snapshot() is called (synchronously);
   * the returned stream is consumed later, possibly while apply() goes on,
   * so the state machine must not let later applies leak into it (immutable
   * records or copy-on-write make this cheap).
   */
  snapshot(): AsyncIterable<Uint8Array>;
  /**
   * Replaces the whole state with an image produced by snapshot() (on any
   * member). `at` is the log position the image reflects: an on-disk state
   * machine records it as its persisted index.
   */
  restore(image: AsyncIterable<Uint8Array>, at: { index: number; term: number }): Promise<void>;
  /** Answers a read against the local state (see Host.read). */
  query?(q: Q): QR;
  /**
   * On-disk mode (dragonboat's IOnDiskStateMachine): the state machine
   * persists itself and reports the index of the last command whose effect
   * is durable. The host then writes no state image on local snapshots (it
   * compacts the log up to this index at most) and skips replayed commands
   * at or below it after a restart.
   */
  persistedIndex?(): number;
  /** Called once when the host stops. */
  close?(): Promise<void>;
}

/** A cluster member as recorded in the replicated membership. */
export interface MemberInfo {
  /** Member ID (64-bit, as etcd derives it; print it with `hexId`). */
  id: bigint;
  /**
   * The member's name; empty for a member added at run time until it has
   * started and published it (etcd's publish).
   */
  name: string;
  /** URLs the other members dial to reach it. */
  peerURLs: string[];
  /** Client URLs it advertised (`advertiseClientURLs`); empty until it has published them. */
  clientURLs: string[];
  /** A non-voting member that receives the log (promote it with `Host.promoteMember`). */
  isLearner: boolean;
}

/** One member of the initial cluster (etcd's `--initial-cluster name=url,...`). */
export interface InitialMember {
  /** Its `--name`; the member whose name equals `HostConfig.name` is this one. */
  name: string;
  /** Its peer URLs; with the cluster token they determine its member ID. */
  peerURLs: string[];
}

/** When the host takes a snapshot of the state machine and compacts the log. */
export interface SnapshotPolicy {
  /** Take a snapshot (and compact the log) every this many applied entries (etcd's --snapshot-count). */
  count: number;
  /** Entries kept in the log behind a snapshot so slow followers catch up without one (etcd: 5,000). */
  catchUpEntries: number;
}

/**
 * Configuration of a `Host` (etcd's member flags where they exist). Invalid
 * values make the constructor throw a HostError with code
 * ERR_HOST_INVALID_ARGUMENT; defaults are in `hostDefaults`.
 */
export interface HostConfig<R = unknown, Q = never, QR = never> {
  /** This member's name (etcd's --name). */
  name: string;
  /** Data directory: WAL in `<dataDir>/member/wal`, snapshots in `<dataDir>/member/snap`, as etcd. */
  dataDir: string;
  /** The application's state machine; the host owns it from now on (calls close() on stop). */
  stateMachine: StateMachine<R, Q, QR>;
  /**
   * The initial members (etcd's --initial-cluster). With state "new" a
   * fresh data directory bootstraps a cluster of exactly these members;
   * member IDs are derived from their peer URLs and `initialClusterToken`
   * as etcd derives them. With "existing" this member was added with
   * addMember() already: it finds its ID and the cluster's from the other
   * members' peer endpoints (peer `/members`), as a joining etcd member does.
   */
  initialCluster: InitialMember[];
  /** Mixed into member IDs so that two clusters with the same URLs differ (default "etcd-cluster"). */
  initialClusterToken?: string;
  /** "new" (default) bootstraps `initialCluster`; "existing" joins a running cluster. Ignored on restart. */
  initialClusterState?: "new" | "existing";
  /**
   * With state "existing": this member's ID, the cluster ID and the
   * membership, when the caller already has them (e.g. from the answer to
   * its own add request); otherwise they are fetched from the peers.
   */
  existingMembership?: { id: bigint; clusterId: bigint; members: MemberInfo[] };
  /** Peer listener URL (rafthttp); port 0 picks one (see Host.peerURL). */
  listenPeerURL: string;
  /** What other members dial (default: the listen URL, with the bound port). */
  advertisePeerURLs?: string[];
  /** Client URLs published in the membership (for the application's own use). */
  advertiseClientURLs?: string[];
  /** Milliseconds per raft tick (etcd's --heartbeat-interval; default 100). */
  tickMs?: number;
  /** Ticks without a leader before campaigning (default 10: etcd's 1 s election timeout). */
  electionTicks?: number;
  /** Ticks between leader heartbeats (default 1); electionTicks must be greater. */
  heartbeatTicks?: number;
  /**
   * Fast-forward the election clock at start (etcd's --initial-election-tick-advance;
   * default true). Ignored with strict leases: it would cut short the promise a
   * restarted member keeps (docs/leases.md).
   */
  initialElectionTickAdvance?: boolean;
  /** When to snapshot and how many entries to keep (defaults in `hostDefaults.snapshot`). */
  snapshot?: Partial<SnapshotPolicy>;
  /** ReadOnlySafe (default) or ReadOnlyLeaseBased for read(). */
  readOnlyOption?: ReadOnlyOption;
  /**
   * With ReadOnlyLeaseBased: "strict" (the host's default) serves a read from
   * the lease only while no other member can have been elected, falling back
   * to a quorum round otherwise; "etcd" is etcd's lease, which can be stale
   * (docs/leases.md). Every member must use the same setting.
   */
  leaseSafety?: LeaseSafety;
  /** With strict leases: ticks of tick-rate drift the lease allows for (default ceil(electionTicks / 10)). */
  leaseDriftMarginTicks?: number;
  /**
   * Vote traffic carries commit indexes, so that a member that missed the
   * commit of a membership change cannot deadlock the group waiting for a
   * removed member's vote (etcd-io/etcd#12359; docs/leases.md). Default true:
   * etcd members ignore the extra fields.
   */
  shareCommitInVotes?: boolean;
  /**
   * Milliseconds a member removed from the cluster keeps running (answering
   * votes and heartbeats, serving nothing) before it stops. Default: three
   * election timeouts. A remaining voter that missed the commit of the
   * removal learns it from the removed member's vote refusals (with
   * shareCommitInVotes); a member that vanished at once could leave it
   * waiting for a vote nobody will give (docs/leases.md).
   */
  removalLingerMs?: number;
  /**
   * Recovery (etcd's --force-new-cluster): restart an existing member as the
   * only member of its cluster, keeping every committed entry and dropping
   * uncommitted ones. Use it when a quorum is lost for good; start the
   * other members afresh and add them back.
   */
  forceNewCluster?: boolean;
  /** Refuse membership changes that would leave no quorum of live voters (default true, as etcd). */
  strictReconfigCheck?: boolean;
  /** TLS for the peer listener and dialer (etcd's --peer-* flags); absent: plain HTTP. */
  peerTls?: PeerTlsOptions;
  /** Receives raft's and the host's log lines (default: warnings and errors to the console). */
  logger?: Logger;
  /** Where the host registers its metrics (etcd's names); default a registry of its own (Host.metrics.registry). */
  metricsRegistry?: import("prom-client").Registry;
  /** Skip fdatasync (tests and benchmarks only: acknowledged writes may be lost on power failure). */
  unsafeNoFsync?: boolean;
  /**
   * Default true: a Ready that writes a lone entry (one write in flight) is
   * synced on the event loop's thread, not Node's thread pool, which saves a
   * thread round trip per write at low concurrency (WalSaveOptions.inlineSync).
   * false always syncs in the pool (the event loop never waits for the disk).
   */
  inlineSync?: boolean;
  /** WAL segment size in bytes (default etcd's 64,000,000); small values are for tests. */
  walSegmentSize?: number;
  /** Source of 64-bit request IDs' random part (tests inject a seeded one); default crypto. */
  randomUint64?: () => bigint;
  /** Clock in ms (default Date.now); used for member-add IDs and health timing. */
  now?: () => number;
}

/** Per-follower replication state as the leader sees it. */
export interface FollowerProgress {
  /** The follower's member ID. */
  id: bigint;
  /** Highest log index known to be replicated on it. */
  match: number;
  /** Index of the next entry the leader will send it. */
  next: number;
  /** raft's replication state: probing for the match, streaming entries, or sending a snapshot. */
  state: "probe" | "replicate" | "snapshot";
  /** Appends held back for now (a probe awaiting an answer, a full in-flight window, a snapshot). */
  paused: boolean;
  /** The leader heard from it within the last election timeout. */
  recentActive: boolean;
  /** It is a learner (non-voting). */
  isLearner: boolean;
}

/** A snapshot of a member's state, as `Host.status()` returns it (IDs are bigints; 0n means none). */
export interface HostStatus {
  /** This member's ID. */
  id: bigint;
  /** This member's name. */
  name: string;
  /** The cluster's ID. */
  clusterId: bigint;
  /** The leader this member knows of (0n: none). */
  leader: bigint;
  /** Current raft term. */
  term: number;
  /** Whom this member voted for in `term` (0n: nobody). */
  vote: bigint;
  /** Highest log index known to be committed. */
  commit: number;
  /** Highest log index applied to the state machine (≤ commit). */
  applied: number;
  /** This member's raft role. */
  raftState: "follower" | "candidate" | "leader" | "pre-candidate";
  /** Whether this member is a learner. */
  isLearner: boolean;
  /** Present on the leader. */
  progress?: FollowerProgress[];
  /** The applied membership. */
  members: MemberInfo[];
  /** Log index of the newest snapshot on disk (0: none yet). */
  snapshotIndex: number;
}

/**
 * How a read is served: "linearizable" sees every write that completed
 * before it started (a ReadIndex round through the leader);
 * "serializable" reads this member's applied state, which may be stale.
 */
export type ReadConsistency = "linearizable" | "serializable";

/** Options of `Host.propose`. */
export interface ProposeOptions {
  /**
   * Aborts the wait (ERR_HOST_TIMEOUT); the command may still commit and
   * apply later, so a retry must be idempotent or checked.
   */
  signal?: AbortSignal;
  /**
   * Fails the wait with ERR_HOST_TIMEOUT after this many ms (checked on every
   * raft tick, so up to one tick late), like a signal that times out but
   * without a timer or listener per call: the cheap choice for servers with
   * thousands of requests in flight. The command may still commit and apply
   * later. With `signal` too, whichever comes first.
   */
  timeoutMs?: number;
  /** Wait for a leader instead of failing fast with NoLeader (bounded by the signal or timeoutMs). */
  waitForLeader?: boolean;
}

/** Options of `Host.read` and `Host.barrier`. */
export interface ReadOptions {
  /** Default "linearizable": a ReadIndex round through the leader, batched with concurrent reads. */
  consistency?: ReadConsistency;
  /** Aborts the wait for the read (ERR_HOST_TIMEOUT). */
  signal?: AbortSignal;
  /** Fails the wait for the read with ERR_HOST_TIMEOUT after this many ms (see ProposeOptions.timeoutMs). */
  timeoutMs?: number;
}

/** Host events (Host extends EventEmitter). */
export interface HostEvents {
  /** The known leader changed (0n: none). */
  leader: [leader: bigint, term: number];
  /** The membership changed (after a conf change was applied or a snapshot restored). */
  membership: [members: MemberInfo[]];
  /** Entries up to `index` are applied. */
  applied: [index: number];
  /** This member was removed from the cluster; the host stops after `removalLingerMs`. */
  removed: [];
  /** A fatal error: the host stops and `done` rejects with it. */
  error: [err: Error];
}
