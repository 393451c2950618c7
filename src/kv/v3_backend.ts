// The etcd v3 API's backend on the replicated host: proposals go through
// raft (the host answers each with this member's ApplyResult), reads through
// the host's ReadIndex barrier, membership through the host's checked
// membership calls. Lease deadlines live on the leader's lessor: the leader
// promotes its lessor when it takes over (every lease gets a fresh TTL, as in
// etcd) and proposes revokes for expired leases; a follower forwards
// keep-alives and TimeToLive to the leader's client URL.

import { type Host, HostError, HostErrorCode, type MemberInfo as HostMember } from "../host/index.ts";
import type { SnapshotStream } from "../mvcc/index.ts";
import {
  type ApplyResult,
  type EtcdStateMachine,
  IdGenerator,
  MvccError,
  MvccErrorCode,
} from "../mvcc/index.ts";
import {
  type ClusterHeader,
  leaseRevokeCommand,
  type MemberInfo,
  NO_CANCEL,
  type StatusInfo,
  type TimeToLive,
  type V3Backend,
  V3Errors,
  V3RpcError,
} from "../v3rpc/index.ts";

/** How often the leader looks for expired leases (etcd: 500 ms). */
const LEASE_CHECK_MS = 500;

/** Pause between tries while no leader is usable or reachable (etcd's LeaseRenew throttle: 50 ms). */
const RETRY_MS = 50;

/**
 * The leader could not be asked (none known, connection failed, no gateway
 * answer): worth another try. `cause` is the error to report if the request
 * runs out of time first.
 */
class Unreachable extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}

/** Resolves after `ms`; rejects with the signal's reason if it fires first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const aborted = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", aborted);
      resolve();
    }, ms);
    signal.addEventListener("abort", aborted, { once: true });
  });
}

/**
 * etcd's v3 API backend on a Host (`KvMember.v3`): proposals and read
 * barriers through raft, membership through the host, lease deadlines on the
 * leader's lessor with forwarding from followers, and the expiry loop that
 * revokes expired leases while this member leads.
 */
export class HostV3Backend implements V3Backend {
  private ids: IdGenerator | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly revoking = new Set<bigint>();
  /** Requests waiting for the next leader event (see leaderChange). */
  private readonly leaderWaiters = new Set<() => void>();

  constructor(
    readonly host: Host<ApplyResult>,
    readonly sm: EtcdStateMachine,
    /** The election timeout in ms: a new leader extends every lease by it, as etcd does. */
    private readonly electionTimeoutMs: number,
    /**
     * How long a request may wait for raft (a proposal to apply, a read
     * barrier, a forwarded lease call) before it fails with etcd's
     * "etcdserver: request timed out" (UNAVAILABLE, which clients retry).
     * etcd's is 5 s plus two election timeouts. Without it a proposal
     * forwarded to a leader that died on the way waits as long as the client
     * does, and etcd's clients set no deadline by default: forever.
     */
    private readonly requestTimeoutMs = 5000 + 2 * electionTimeoutMs,
  ) {
    host.on("leader", (leader) => {
      if (leader === host.id && leader !== 0n) sm.lessor.promote(this.electionTimeoutMs);
      else sm.lessor.demote();
      // Requests waiting for a leader look again (one host listener for all of them).
      for (const wake of [...this.leaderWaiters]) wake();
    });
  }

  /** Starts the lease expiry loop (after the host started: IDs are known then). */
  start(): void {
    this.ids = new IdGenerator(this.host.id, Date.now());
    this.timer = setInterval(() => this.revokeExpired(), LEASE_CHECK_MS);
    this.timer.unref();
  }

  /** Stops the lease expiry loop (the host is stopped separately). */
  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }

  private revokeExpired(): void {
    if (this.host.leader() !== this.host.id) return;
    for (const id of this.sm.lessor.expired()) {
      if (this.revoking.has(id)) continue;
      this.revoking.add(id);
      this.host
        .propose(leaseRevokeCommand(this.newRequestId(), id), { signal: AbortSignal.timeout(5000) })
        .catch(() => {
          // The lessor reports it again later if it is still due.
        })
        .finally(() => this.revoking.delete(id));
    }
  }

  header(): ClusterHeader {
    return {
      clusterId: this.host.clusterId,
      memberId: this.host.id,
      raftTerm: BigInt(this.host.currentTerm()),
    };
  }

  hasLeader(): boolean {
    return this.host.leader() !== 0n;
  }

  isLearner(): boolean {
    return this.host.isLearner();
  }

  newRequestId(): bigint {
    if (this.ids === null) this.ids = new IdGenerator(this.host.id, Date.now());
    return this.ids.next();
  }

  newLeaseId(): bigint {
    if (this.ids === null) this.ids = new IdGenerator(this.host.id, Date.now());
    return this.ids.nextLeaseId();
  }

  /**
   * Runs a raft-bound call with the caller's signal bounded by the request
   * timeout; host errors become etcd's. One timer per request (set and
   * cleared: about a microsecond; AbortSignal.timeout()/any() cost a
   * hundred times that and keep every signal alive until it fires).
   */
  private async bounded<T>(
    signal: AbortSignal,
    fn: (s: AbortSignal) => Promise<T>,
    timeoutMs = this.requestTimeoutMs,
  ): Promise<T> {
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, timeoutMs);
    const onAbort = () => ac.abort();
    if (signal.aborted) ac.abort();
    else if (signal !== NO_CANCEL) signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await fn(ac.signal);
    } catch (err) {
      if (timedOut) throw V3Errors.timeout();
      throw toV3Error(err);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Proposals made while no leader is known wait for one (raft's node holds
   * them, as etcd's does: its raft node stops reading proposals while it
   * knows no leader), within the request timeout. etcd 3.4 never answers a
   * write with "no leader": a put during an election succeeds once a leader
   * is elected. Failing fast instead made etcd's clients (the etcd3 npm
   * package: three quick UNAVAILABLE answers open its circuit breaker for
   * five seconds) give up writes that an election of a few hundred ms delays.
   */
  propose(cmd: Uint8Array, signal: AbortSignal): Promise<ApplyResult> {
    // A unary gRPC call's put: the host's swept deadline bounds it, with no
    // AbortController, timer or listener (the common case under load).
    if (signal === NO_CANCEL) {
      return this.host
        .propose(cmd, { timeoutMs: this.requestTimeoutMs, waitForLeader: true })
        .catch(rethrowV3);
    }
    return this.bounded(signal, (s) => this.host.propose(cmd, { signal: s, waitForLeader: true }));
  }

  /**
   * A linearizable read's barrier. While no leader is known it waits for
   * one, and a ReadIndex round cut by a leader change (the host fails those:
   * the old leader's answer will not come) starts again under the new one;
   * a ReadIndex has no effect, so running it again is always safe. All
   * within the request timeout, after which the caller gets etcd's
   * "request timed out" (etcd 3.4 waits out its request timeout for a read
   * during an election too; it never answers "no leader").
   */
  readIndex(signal: AbortSignal): Promise<void> {
    // A unary gRPC call's read while a leader is known: one round under the
    // host's swept deadline. Without a leader, or if the round is cut by a
    // leader change, the general path below waits and retries.
    if (signal === NO_CANCEL && this.host.leader() !== 0n) {
      const started = Date.now();
      return this.host.barrier({ timeoutMs: this.requestTimeoutMs }).catch((err: unknown) => {
        if (err instanceof HostError && err.code === HostErrorCode.NoLeader) {
          const left = this.requestTimeoutMs - (Date.now() - started);
          if (left > 0) return this.readIndexWaiting(signal, left);
        }
        return rethrowV3(err);
      });
    }
    return this.readIndexWaiting(signal, this.requestTimeoutMs);
  }

  private readIndexWaiting(signal: AbortSignal, timeoutMs: number): Promise<void> {
    return this.bounded(
      signal,
      async (s) => {
        for (;;) {
          if (this.host.leader() === 0n) await this.leaderKnown(s);
          try {
            return await this.host.barrier({ signal: s });
          } catch (err) {
            if (!(err instanceof HostError && err.code === HostErrorCode.NoLeader) || s.aborted) throw err;
            // No leader after all (lost mid-round, or a removed one): wait for news.
            await this.leaderChange(s, RETRY_MS);
          }
        }
      },
      timeoutMs,
    );
  }

  /**
   * Resolves at once if a leader is known, else when one is (rejects when
   * `signal` fires). One that is known but unusable (just removed) makes the
   * host or the forward fail, and the caller tries again RETRY_MS later.
   */
  private async leaderKnown(signal: AbortSignal): Promise<void> {
    while (this.host.leader() === 0n) await this.leaderChange(signal, RETRY_MS);
  }

  /**
   * Resolves on the host's next leader event or after `ms`, whichever comes
   * first (the delay bounds a wait on a leader that is known but not usable,
   * e.g. one just removed, which sends no event); rejects when `signal` fires.
   * Waiters sit in a set the constructor's one leader listener wakes, not on
   * the host's emitter: an election can hold hundreds of requests.
   */
  private leaderChange(signal: AbortSignal, ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const cleanup = () => {
        clearTimeout(timer);
        this.leaderWaiters.delete(done);
        signal.removeEventListener("abort", aborted);
      };
      const done = () => {
        cleanup();
        resolve();
      };
      const aborted = () => {
        cleanup();
        reject(signal.reason);
      };
      const timer = setTimeout(done, ms);
      this.leaderWaiters.add(done);
      signal.addEventListener("abort", aborted, { once: true });
    });
  }

  async leaseRenew(id: bigint, signal: AbortSignal): Promise<number> {
    if (this.host.leader() === this.host.id) return this.sm.lessor.renew(id);
    const r = await this.forward("/v3/lease/keepalive", { ID: id.toString() }, signal);
    // The gateway streams {"result": {...}} lines; the first one answers.
    const ttl = Number((r as { result?: { TTL?: string } }).result?.TTL ?? "0");
    if (!(ttl > 0)) throw new MvccError(MvccErrorCode.LeaseNotFound);
    return ttl;
  }

  async leaseTimeToLive(id: bigint, keys: boolean, signal: AbortSignal): Promise<TimeToLive | undefined> {
    if (this.host.leader() === this.host.id) {
      const r = this.sm.lessor.remaining(id);
      if (r === undefined) return undefined;
      return {
        ttl: r.ttl,
        grantedTtl: r.grantedTtl,
        keys: keys ? r.keys.map((k) => Uint8Array.from(k, (c) => c.charCodeAt(0))) : [],
      };
    }
    const r = (await this.forward("/v3/lease/timetolive", { ID: id.toString(), keys }, signal)) as {
      TTL?: string;
      grantedTTL?: string;
      keys?: string[];
    };
    const ttl = Number(r.TTL ?? "-1");
    if (ttl === -1) return undefined;
    return {
      ttl,
      grantedTtl: Number(r.grantedTTL ?? "0"),
      keys: (r.keys ?? []).map((k) => new Uint8Array(Buffer.from(k, "base64"))),
    };
  }

  /**
   * Sends a request to the leader's JSON gateway and returns its (first)
   * JSON answer. Like etcd's LeaseRenew/LeaseTimeToLive on a follower, it
   * waits for a leader and tries again (every RETRY_MS) while the leader
   * cannot be reached or there is none, within the request timeout: across
   * a leader change a keep-alive reaches the new leader instead of failing
   * (a client that sees its keep-alive stream fail reconnects, and the
   * etcd3 package's circuit breaker then shuts the member out for five
   * seconds, longer than a short lease lives). The leader's own answers,
   * errors included, are final.
   */
  private forward(path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    return this.bounded(signal, async (s) => {
      for (;;) {
        await this.leaderKnown(s);
        try {
          return await this.forwardOnce(path, body, s);
        } catch (err) {
          if (!(err instanceof Unreachable)) throw err;
          if (s.aborted) throw err.cause;
          await sleep(RETRY_MS, s);
        }
      }
    });
  }

  private async forwardOnce(path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    const leader = this.host.leader();
    if (leader === 0n) throw new Unreachable(V3Errors.noLeader());
    const url = this.host.members().find((m) => m.id === leader)?.clientURLs[0];
    if (url === undefined) throw new Unreachable(V3Errors.noLeader());
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${url}${path}`, { method: "POST", body: JSON.stringify(body), signal });
      text = await res.text();
    } catch {
      if (signal.aborted) throw V3Errors.timeout();
      throw new Unreachable(V3Errors.leaderChanged());
    }
    const first = text.split("\n").find((l) => l.trim() !== "") ?? "{}";
    let j: { code?: number; message?: string; error?: string | { grpc_code?: number; message?: string } };
    try {
      j = JSON.parse(first);
    } catch {
      // Not the gateway's answer (a member going away mid-reply).
      throw new Unreachable(V3Errors.leaderChanged());
    }
    // Unary errors come as {error, message, code}, stream errors as {error: {grpc_code, message}}.
    const streamErr = typeof j.error === "object" ? j.error : undefined;
    const code = j.code ?? streamErr?.grpc_code;
    const message = j.message ?? streamErr?.message;
    if (!res.ok || streamErr !== undefined) {
      if (/lease not found/.test(message ?? "")) throw new MvccError(MvccErrorCode.LeaseNotFound);
      // The leader's own answer (e.g. a learner not in sync), as the leader gave it.
      if (typeof code === "number" && typeof message === "string") throw new V3RpcError(code, message);
      throw V3Errors.leaderChanged();
    }
    return j;
  }

  async memberList(): Promise<MemberInfo[]> {
    return this.host.members().map(v3Member);
  }

  async memberAdd(
    peerURLs: string[],
    isLearner: boolean,
    signal: AbortSignal,
  ): Promise<{ member: MemberInfo; members: MemberInfo[] }> {
    // etcd 3.4 allows one learner at a time (its maxLearners). Checked here, before
    // proposing, against this member's applied membership: two adds racing through
    // different members could both pass; etcd also checks when applying (the host does not yet).
    if (isLearner && this.host.members().some((m) => m.isLearner)) throw V3Errors.tooManyLearners();
    const m = await this.bounded(signal, (s) =>
      this.host.addMember(peerURLs, { learner: isLearner, signal: s }),
    );
    return { member: v3Member(m), members: await this.memberList() };
  }

  async memberRemove(id: bigint, signal: AbortSignal): Promise<MemberInfo[]> {
    await this.bounded(signal, (s) => this.host.removeMember(id, { signal: s }));
    return this.memberList();
  }

  async memberUpdate(id: bigint, peerURLs: string[], signal: AbortSignal): Promise<MemberInfo[]> {
    await this.bounded(signal, (s) => this.host.updateMember(id, peerURLs, { signal: s }));
    return this.memberList();
  }

  async memberPromote(id: bigint, signal: AbortSignal): Promise<MemberInfo[]> {
    try {
      await this.host.promoteMember(id, { signal });
    } catch (err) {
      if (err instanceof HostError && err.code === HostErrorCode.NotLeader) {
        await this.forward("/v3/cluster/member/promote", { ID: id.toString() }, signal);
      } else {
        throw toV3Error(err);
      }
    }
    return this.memberList();
  }

  status(): StatusInfo {
    const st = this.host.status();
    return {
      leader: st.leader,
      raftIndex: BigInt(st.commit),
      raftTerm: BigInt(st.term),
      raftAppliedIndex: BigInt(st.applied),
      dbSize: this.sm.store.bytesInUse,
      dbSizeInUse: this.sm.store.bytesInUse,
      isLearner: st.isLearner,
    };
  }

  async moveLeader(targetId: bigint, signal: AbortSignal): Promise<void> {
    const target = this.host.members().find((m) => m.id === targetId);
    if (target === undefined || target.isLearner) throw V3Errors.badLeaderTransferee();
    if (this.host.leader() !== this.host.id) throw V3Errors.notLeader();
    try {
      await this.host.transferLeader(targetId, { signal });
    } catch (err) {
      if (err instanceof HostError && err.code === HostErrorCode.Timeout)
        throw V3Errors.timeoutLeaderTransfer();
      throw toV3Error(err);
    }
  }

  snapshot(): SnapshotStream {
    return this.sm.snapshot();
  }
}

function v3Member(m: HostMember): MemberInfo {
  return {
    id: m.id,
    name: m.name,
    peerURLs: [...m.peerURLs].sort(),
    clientURLs: m.clientURLs,
    isLearner: m.isLearner,
  };
}

/** Rejects with toV3Error(err): the host's errors as etcd's. */
function rethrowV3(err: unknown): never {
  throw toV3Error(err);
}

/** Host errors in etcd's words, so clients react as they do to etcd. */
export function toV3Error(err: unknown): Error {
  if (!(err instanceof HostError)) return err instanceof Error ? err : new Error(String(err));
  switch (err.code) {
    case HostErrorCode.NoLeader:
      return V3Errors.noLeader();
    case HostErrorCode.NotLeader:
      return V3Errors.notLeader();
    case HostErrorCode.ProposalDropped:
      return V3Errors.leaderChanged();
    case HostErrorCode.Timeout:
      return V3Errors.timeout();
    case HostErrorCode.Stopped:
      return V3Errors.stopped();
    case HostErrorCode.MemberExists:
      return V3Errors.peerUrlExists();
    case HostErrorCode.MemberNotFound:
      return V3Errors.memberNotFound();
    case HostErrorCode.UnsafeReconfiguration:
    case HostErrorCode.LastVoter:
      return V3Errors.notEnoughStartedMembers();
    case HostErrorCode.LearnerNotReady:
      return V3Errors.learnerNotReady();
    case HostErrorCode.NotLearner:
      return V3Errors.memberNotLearner();
    case HostErrorCode.InvalidArgument:
      return V3Errors.memberBadUrls();
    default:
      return err;
  }
}
