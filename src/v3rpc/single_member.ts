// A one-member V3Backend without raft: proposals are applied directly, in
// order, to the state machine; the member is always the leader; lease
// deadlines run on this process's clock. It makes the whole v3 API usable
// and testable on its own. Membership changes are recorded with etcd's
// checks (URLs, duplicates, learner limit, promotion of learners only), but
// added members are never contacted: this backend does not replicate.

import { createHash } from "node:crypto";
import {
  type ApplyResult,
  EtcdStateMachine,
  type EtcdStateMachineOptions,
  IdGenerator,
  type SnapshotStream,
} from "../mvcc/index.ts";
import type { ClusterHeader, MemberInfo, StatusInfo, TimeToLive, V3Backend } from "./backend.ts";
import { leaseRevokeCommand } from "./commands.ts";
import { V3Errors } from "./errors.ts";

/** Options of SingleMemberBackend. */
export interface SingleMemberOptions extends EtcdStateMachineOptions {
  /** Member name (etcd --name). Default "default". */
  name?: string;
  /** Advertised peer URLs; with the token they derive the member and cluster IDs as etcd does. */
  peerURLs?: string[];
  /** Client URLs Cluster.MemberList reports. */
  clientURLs?: string[];
  /** etcd --initial-cluster-token. Default "etcd-cluster". */
  clusterToken?: string;
  /** The raft term headers report (there is no raft here; default 1). */
  raftTerm?: bigint;
  /** How often the leader looks for expired leases (etcd: 500 ms). */
  leaseCheckMs?: number;
}

/** etcd's member ID: SHA-1 over the sorted peer URLs, the cluster token and (for added members) the time. */
export function computeMemberId(peerURLs: readonly string[], token: string, unixSeconds?: number): bigint {
  const h = createHash("sha1");
  h.update([...peerURLs].sort().join(""));
  h.update(token);
  if (unixSeconds !== undefined) h.update(String(unixSeconds));
  return h.digest().readBigUInt64BE(0);
}

/** etcd's cluster ID: SHA-1 over the sorted member IDs as 8-byte big-endian values. */
export function computeClusterId(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => {
    buf.writeBigUInt64BE(id, 8 * i);
  });
  return createHash("sha1").update(buf).digest().readBigUInt64BE(0);
}

/**
 * A V3Backend without raft: one member that applies every command at once
 * (it is always the leader). For tests of the v3 services and the gateway.
 */
export class SingleMemberBackend implements V3Backend {
  readonly sm: EtcdStateMachine;
  private readonly memberId: bigint;
  private readonly clusterId: bigint;
  private readonly token: string;
  private readonly members: MemberInfo[];
  private readonly reqIds: IdGenerator;
  private index = 0;
  private readonly term: bigint;
  private readonly timer: NodeJS.Timeout;

  constructor(opts: SingleMemberOptions = {}) {
    this.sm = new EtcdStateMachine(opts);
    const peerURLs = opts.peerURLs ?? ["http://localhost:2380"];
    this.token = opts.clusterToken ?? "etcd-cluster";
    this.memberId = computeMemberId(peerURLs, this.token);
    this.clusterId = computeClusterId([this.memberId]);
    this.members = [
      {
        id: this.memberId,
        name: opts.name ?? "default",
        peerURLs: [...peerURLs].sort(),
        clientURLs: opts.clientURLs ?? [],
        isLearner: false,
      },
    ];
    this.reqIds = new IdGenerator(this.memberId, Date.now());
    this.term = opts.raftTerm ?? 1n;
    // Always the leader: lease clocks run here.
    this.sm.lessor.promote(0);
    this.timer = setInterval(() => this.revokeExpired(), opts.leaseCheckMs ?? 500);
    this.timer.unref();
  }

  /** The member's client URLs, once the listener knows its port. */
  setClientURLs(urls: string[]): void {
    this.members[0]!.clientURLs = urls;
  }

  /** Stops the lease expiry timer. */
  close(): void {
    clearInterval(this.timer);
  }

  private revokeExpired(): void {
    for (const id of this.sm.lessor.expired()) this.applyNow(leaseRevokeCommand(this.newRequestId(), id));
  }

  private applyNow(cmd: Uint8Array): ApplyResult {
    return this.sm.apply([{ index: ++this.index, data: cmd }])[0]!;
  }

  header(): ClusterHeader {
    return { clusterId: this.clusterId, memberId: this.memberId, raftTerm: this.term };
  }
  hasLeader(): boolean {
    return true;
  }
  newRequestId(): bigint {
    return this.reqIds.next();
  }
  newLeaseId(): bigint {
    return this.reqIds.nextLeaseId();
  }

  async propose(cmd: Uint8Array, signal: AbortSignal): Promise<ApplyResult> {
    signal.throwIfAborted();
    return this.applyNow(cmd);
  }

  async readIndex(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
  }

  async leaseRenew(id: bigint): Promise<number> {
    return this.sm.lessor.renew(id);
  }

  async leaseTimeToLive(id: bigint, keys: boolean): Promise<TimeToLive | undefined> {
    const r = this.sm.lessor.remaining(id);
    if (r === undefined) return undefined;
    return {
      ttl: r.ttl,
      grantedTtl: r.grantedTtl,
      keys: keys ? r.keys.map((k) => Uint8Array.from(k, (c) => c.charCodeAt(0))) : [],
    };
  }

  async memberList(): Promise<MemberInfo[]> {
    return this.members.map((m) => ({ ...m }));
  }

  private checkUrlsFree(urls: readonly string[], except?: bigint): void {
    for (const m of this.members) {
      if (m.id === except) continue;
      if (m.peerURLs.some((u) => urls.includes(u))) throw V3Errors.peerUrlExists();
    }
  }

  async memberAdd(
    peerURLs: string[],
    isLearner: boolean,
  ): Promise<{ member: MemberInfo; members: MemberInfo[] }> {
    this.checkUrlsFree(peerURLs);
    if (isLearner && this.members.some((m) => m.isLearner)) throw V3Errors.tooManyLearners();
    const id = computeMemberId(peerURLs, this.token, Math.floor(Date.now() / 1000));
    if (this.members.some((m) => m.id === id)) throw V3Errors.memberIdExists();
    const member: MemberInfo = { id, name: "", peerURLs: [...peerURLs].sort(), clientURLs: [], isLearner };
    this.members.push(member);
    return { member: { ...member }, members: await this.memberList() };
  }

  async memberRemove(id: bigint): Promise<MemberInfo[]> {
    const i = this.members.findIndex((m) => m.id === id);
    if (i < 0) throw V3Errors.memberNotFound();
    // Removing the only voter would leave nothing to serve the cluster.
    if (id === this.memberId) throw V3Errors.notEnoughStartedMembers();
    this.members.splice(i, 1);
    return this.memberList();
  }

  async memberUpdate(id: bigint, peerURLs: string[]): Promise<MemberInfo[]> {
    const m = this.members.find((x) => x.id === id);
    if (m === undefined) throw V3Errors.memberNotFound();
    this.checkUrlsFree(peerURLs, id);
    m.peerURLs = [...peerURLs].sort();
    return this.memberList();
  }

  async memberPromote(id: bigint): Promise<MemberInfo[]> {
    const m = this.members.find((x) => x.id === id);
    if (m === undefined) throw V3Errors.memberNotFound();
    if (!m.isLearner) throw V3Errors.memberNotLearner();
    // An added member is never started here, so it never catches up with the leader.
    throw V3Errors.learnerNotReady();
  }

  status(): StatusInfo {
    return {
      leader: this.memberId,
      raftIndex: BigInt(this.index),
      raftTerm: this.term,
      raftAppliedIndex: BigInt(this.index),
      dbSize: this.sm.store.bytesInUse,
      dbSizeInUse: this.sm.store.bytesInUse,
      isLearner: false,
    };
  }

  async moveLeader(targetId: bigint): Promise<void> {
    if (targetId === this.memberId) return;
    const m = this.members.find((x) => x.id === targetId);
    if (m === undefined || m.isLearner) throw V3Errors.badLeaderTransferee();
    // A recorded but never started member cannot take over.
    throw V3Errors.timeoutLeaderTransfer();
  }

  snapshot(): SnapshotStream {
    return this.sm.snapshot();
  }
}
