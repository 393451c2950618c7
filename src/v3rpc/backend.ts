// What the v3 API services need from the cluster. The single-member backend
// (single_member.ts) implements it without raft; the replicated host
// implements the same interface on top of raft.
//
// Contract for an implementation:
// - `sm` is this member's EtcdStateMachine. Reads (Range, read-only Txn,
//   HashKV, LeaseLeases), watches and the alarm list are served from it.
// - `propose(cmd)` replicates one etcdserverpb.InternalRaftRequest (bytes
//   built by the services, with header.ID = a fresh newRequestId()) and
//   resolves with *this member's* ApplyResult for that entry once applied
//   (find it by result.id === the request ID). Reject with a V3RpcError for
//   cluster conditions (V3Errors.noLeader(), timeout(), stopped()...), or an
//   AbortError when `signal` fires.
// - `readIndex()` is the linearizable read barrier: resolve once this
//   member has applied every entry committed before the call.
// - Leases: deadlines live on the leader's lessor (sm.lessor on the leader,
//   after sm.lessor.promote(...) on becoming leader and demote() on losing
//   it). `leaseRenew` / `leaseTimeToLive` must run on the leader: a leader
//   answers from its own sm.lessor (renew(), remaining()); a follower
//   forwards to the leader (etcd does it over the peer URL: POST /leases
//   with a LeaseKeepAliveRequest, POST /leases/internal with a
//   LeaseTimeToLiveRequest, protobuf bodies) and returns its answer.
//   The leader also calls sm.lessor.expired() about every 500 ms and
//   proposes a LeaseRevoke for each ID (see leaseRevokeCommand()).
// - Cluster/Maintenance methods map to raft membership changes, status
//   and leadership transfer; throw V3Errors for etcd's conditions.

import type { ApplyResult, EtcdStateMachine, SnapshotStream } from "../mvcc/index.ts";

/**
 * The signal unary gRPC calls carry: one that never fires. A unary call's
 * waits are bounded by the backend's request timeout rather than by the
 * client's cancellation, which spares every call an AbortController and its
 * listeners (~5% of a loaded leader's CPU). What a cancelled call loses is
 * only an early release of its wait: gRPC drops its answer either way, and a
 * cancelled proposal may still apply, as in etcd. Backends should recognise
 * it (`signal === NO_CANCEL`) and take their cheapest path: no listener on
 * it, a deadline without a timer.
 */
export const NO_CANCEL: AbortSignal = new AbortController().signal;

/** The fields of etcd's ResponseHeader that come from the cluster (the services add the revision). */
export interface ClusterHeader {
  /** The cluster's ID. */
  clusterId: bigint;
  /** The answering member's ID. */
  memberId: bigint;
  /** The member's current raft term. */
  raftTerm: bigint;
}

/** A member as the Cluster service reports it (etcdserverpb.Member). */
export interface MemberInfo {
  /** Member ID (64-bit). */
  id: bigint;
  /** Empty until the member has started and published itself. */
  name: string;
  /** URLs the other members dial. */
  peerURLs: string[];
  /** Empty until the member has started. */
  clientURLs: string[];
  /** A non-voting member. */
  isLearner: boolean;
}

/** What Maintenance.Status reports about this member (etcd's StatusResponse fields). */
export interface StatusInfo {
  /** Member ID this member believes is leader; 0n = none. */
  leader: bigint;
  /** The commit index (etcd's raftIndex). */
  raftIndex: bigint;
  /** The current raft term. */
  raftTerm: bigint;
  /** The applied index. */
  raftAppliedIndex: bigint;
  /** Bytes of the backend (for an in-memory store: an estimate of what it holds). */
  dbSize: number;
  /** Bytes of `dbSize` in use (etcd's dbSizeInUse). */
  dbSizeInUse: number;
  /** Whether this member is a learner. */
  isLearner: boolean;
}

/** A lease's remaining time, as LeaseTimeToLive answers. */
export interface TimeToLive {
  /** Remaining whole seconds. */
  ttl: number;
  /** The TTL in seconds the lease was granted (or last renewed) with. */
  grantedTtl: number;
  /** The keys attached to the lease (empty unless asked for). */
  keys: Uint8Array[];
}

/**
 * What the v3 services need from the cluster: the contract is spelled out at
 * the top of this file (v3rpc/backend.ts). Implemented by the single-member
 * backend (tests) and by tsraft-kv's HostV3Backend on raft.
 */
export interface V3Backend {
  /** This member's state machine: reads, watches and alarms are served from it. */
  readonly sm: EtcdStateMachine;
  /** cluster_id, member_id and raft_term for response headers. */
  header(): ClusterHeader;
  /** Whether this member knows a leader now (hasleader metadata, Status errors). */
  hasLeader(): boolean;
  /**
   * Whether this member is a learner: it then serves only Status and
   * serializable Range, as etcd's learners do (everything else fails with
   * "etcdserver: rpc not supported for learner"). Optional; default false.
   */
  isLearner?(): boolean;
  /** A fresh, cluster-unique request ID (envelope header.ID). */
  newRequestId(): bigint;
  /** A fresh positive lease ID for LeaseGrant with ID 0 (chosen before proposing). */
  newLeaseId(): bigint;

  /**
   * Replicates one InternalRaftRequest and resolves with this member's
   * ApplyResult for it once applied; V3RpcError for cluster conditions,
   * AbortError when `signal` fires.
   */
  propose(cmd: Uint8Array, signal: AbortSignal): Promise<ApplyResult>;
  /** The linearizable read barrier: resolves once every entry committed before the call is applied here. */
  readIndex(signal: AbortSignal): Promise<void>;

  /** Renews on the leader; resolves with the granted TTL; rejects with MvccError LeaseNotFound if unknown. */
  leaseRenew(id: bigint, signal: AbortSignal): Promise<number>;
  /** Answered by the leader; undefined = unknown lease. */
  leaseTimeToLive(id: bigint, keys: boolean, signal: AbortSignal): Promise<TimeToLive | undefined>;

  /** The applied membership as this member knows it, in ID order. */
  memberList(signal: AbortSignal): Promise<MemberInfo[]>;
  /** Adds a member once applied; resolves with it and the new membership; V3RpcError as etcd's. */
  memberAdd(
    peerURLs: string[],
    isLearner: boolean,
    signal: AbortSignal,
  ): Promise<{ member: MemberInfo; members: MemberInfo[] }>;
  /** Removes a member once applied; resolves with the remaining membership. */
  memberRemove(id: bigint, signal: AbortSignal): Promise<MemberInfo[]>;
  /** Replaces a member's peer URLs once applied; resolves with the membership. */
  memberUpdate(id: bigint, peerURLs: string[], signal: AbortSignal): Promise<MemberInfo[]>;
  /** Promotes a caught-up learner to voter once applied; resolves with the membership. */
  memberPromote(id: bigint, signal: AbortSignal): Promise<MemberInfo[]>;

  /** This member's status, now (no round trip). */
  status(): StatusInfo;
  /** Transfers leadership (this member must be leader: else V3Errors.notLeader()). */
  moveLeader(targetId: bigint, signal: AbortSignal): Promise<void>;
  /** The backend image for Maintenance.Snapshot (normally sm.snapshot()). */
  snapshot(): SnapshotStream;
}
