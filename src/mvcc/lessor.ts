// Leases (spec §3.9), after etcd 3.4's lessor.
//
// Replicated state: each lease's ID, granted TTL, checkpointed remaining TTL
// and the keys attached to it. These change only through applied commands
// (grant, revoke, put/delete, checkpoint), identically on every member.
//
// Leader-local state: the expiry deadline. Only the primary (the raft
// leader's lessor) keeps clocks; elsewhere every lease lives "forever" until
// a revoke is applied. The clock is injected. The primary does not revoke
// anything itself: `expired()` reports leases past their deadline so that
// the caller proposes LeaseRevoke through raft (and the revocation, with its
// key deletions, is replicated like any write). Keep-alives renew the
// deadline on the primary only, without raft, as etcd 3.4 does.

import { MvccError, MvccErrorCode } from "./errors.ts";

/** etcd's MaxLeaseTTL: 9,000,000,000 seconds. */
export const MAX_LEASE_TTL = 9_000_000_000;
/** etcd's leaseRevokeRate: lease revocations per second the leader aims to stay under. */
const LEASE_REVOKE_RATE = 1000;
/** After a lease is reported expired, how long before it is reported again if still not revoked (etcd: 3 s). */
const EXPIRED_RETRY_MS = 3000;

/** One granted lease: replicated fields (id, ttl, remainingTtl, keys) and the leader-local deadline. */
export class Lease {
  /** Leader-local deadline in ms of the injected clock; Infinity when not primary. */
  expiry = Number.POSITIVE_INFINITY;
  /** Leader-local: not reported by expired() before this time. */
  retryAt = 0;
  /** Remaining TTL (s) recorded by a checkpoint; 0 = none, use ttl. Replicated. */
  remainingTtl = 0;
  /** Keys attached to the lease (binary strings); they are deleted when it is revoked. Replicated. */
  readonly keys = new Set<string>();
  constructor(
    readonly id: bigint,
    /** Granted TTL in seconds, after raising to the minimum. */
    readonly ttl: number,
  ) {}
}

/** Options of a Lessor. */
export interface LessorOptions {
  /** Milliseconds of a monotonic clock (the leader's). */
  now: () => number;
  /** Minimum TTL in seconds: etcd uses ceil(1.5 x election timeout), 2 s with default timing. */
  minTtl: number;
}

/**
 * etcd's lessor: the replicated set of leases (grant, revoke, attach,
 * checkpoint: applied identically on every member) and, on the leader only
 * ("primary"), their deadlines on the local clock, which expired() reports for
 * the leader to propose revocations. Errors are MvccErrors.
 */
export class Lessor {
  private readonly leases = new Map<bigint, Lease>();
  private primary = false;
  private readonly now: () => number;
  /** Smallest TTL in seconds a grant gets (smaller requests are raised to it). */
  readonly minTtl: number;

  constructor(opts: LessorOptions) {
    this.now = opts.now;
    this.minTtl = opts.minTtl;
  }

  /** Whether deadlines are kept here (this member leads). */
  get isPrimary(): boolean {
    return this.primary;
  }
  /** Number of leases. */
  get size(): number {
    return this.leases.size;
  }

  /** The lease with this ID, if granted and not revoked. */
  lookup(id: bigint): Lease | undefined {
    return this.leases.get(id);
  }

  /** Applies a grant. Deterministic: only the deadline depends on the (local) clock. */
  grant(id: bigint, ttl: number): Lease {
    if (id === 0n) throw new MvccError(MvccErrorCode.LeaseNotFound);
    if (ttl > MAX_LEASE_TTL) throw new MvccError(MvccErrorCode.LeaseTtlTooLarge);
    if (this.leases.has(id)) throw new MvccError(MvccErrorCode.LeaseExists);
    const l = new Lease(id, ttl < this.minTtl ? this.minTtl : ttl);
    if (this.primary) this.refresh(l, 0);
    this.leases.set(id, l);
    return l;
  }

  /** Forgets a lease (its keys were deleted by the caller in the same apply). */
  remove(id: bigint): void {
    this.leases.delete(id);
  }

  /** Records that `key` is attached to lease `id` (no-op for an unknown lease). */
  attach(id: bigint, key: string): void {
    this.leases.get(id)?.keys.add(key);
  }

  /** Records that `key` left lease `id` (overwritten with another lease, or deleted). */
  detach(id: bigint, key: string): void {
    this.leases.get(id)?.keys.delete(key);
  }

  /** Applies a checkpoint: the remaining TTL a new leader will start from. */
  checkpoint(id: bigint, remainingTtl: number): void {
    const l = this.leases.get(id);
    if (l === undefined) return;
    l.remainingTtl = remainingTtl;
    if (this.primary) this.refresh(l, 0);
  }

  private refresh(l: Lease, extendMs: number): void {
    const secs = l.remainingTtl > 0 ? l.remainingTtl : l.ttl;
    l.expiry = this.now() + extendMs + secs * 1000;
    l.retryAt = 0;
  }

  /**
   * This member became leader: every lease gets a fresh deadline of now +
   * extendMs + its (remaining) TTL, as etcd's Promote does, so that a leader
   * change never expires a lease whose holder kept it alive with the old one.
   */
  promote(extendMs: number): void {
    this.primary = true;
    for (const l of this.leases.values()) this.refresh(l, extendMs);
    if (this.leases.size < LEASE_REVOKE_RATE) return; // no possible pile-up
    // Spread deadlines that pile up (etcd's Promote): at most 3/4 of the
    // revoke rate may expire in any one-second window, so that a new leader
    // does not spend its whole revoke budget at once.
    const now = this.now();
    const sorted = [...this.leases.values()].sort((a, b) => a.expiry - b.expiry);
    const target = (3 * LEASE_REVOKE_RATE) / 4;
    let baseWindow = sorted[0]!.expiry - now;
    let nextWindow = baseWindow + 1000;
    let expires = 0;
    for (const l of sorted) {
      const remaining = l.expiry - now;
      if (remaining > nextWindow) {
        baseWindow = remaining;
        nextWindow = baseWindow + 1000;
        expires = 1;
        continue;
      }
      expires++;
      if (expires <= target) continue;
      // A lease n seconds ahead of the window's base is delayed n seconds less.
      const delay = (1000 * expires) / target - (remaining - baseWindow);
      nextWindow = baseWindow + delay;
      this.refresh(l, delay + extendMs);
    }
  }

  /** This member lost leadership: no clocks, nothing expires here. */
  demote(): void {
    this.primary = false;
    for (const l of this.leases.values()) {
      l.expiry = Number.POSITIVE_INFINITY;
      l.retryAt = 0;
    }
  }

  /**
   * Keep-alive on the primary: the deadline moves to now + TTL. Returns the
   * granted TTL. A lease that does not exist, or whose deadline already
   * passed (its revoke is on its way), is not found.
   */
  renew(id: bigint): number {
    if (!this.primary) throw new MvccError(MvccErrorCode.NotPrimary);
    const l = this.leases.get(id);
    if (l === undefined || l.expiry <= this.now()) throw new MvccError(MvccErrorCode.LeaseNotFound);
    l.remainingTtl = 0;
    this.refresh(l, 0);
    return l.ttl;
  }

  /** Remaining whole seconds (truncated) as the primary sees it; undefined if the lease is unknown. */
  remaining(id: bigint): { ttl: number; grantedTtl: number; keys: string[] } | undefined {
    const l = this.leases.get(id);
    if (l === undefined) return undefined;
    const rem = l.expiry === Number.POSITIVE_INFINITY ? l.ttl : Math.trunc((l.expiry - this.now()) / 1000);
    return { ttl: rem < 0 ? 0 : rem, grantedTtl: l.ttl, keys: [...l.keys] };
  }

  /** Every lease, soonest deadline first (ties by ID) as etcd's Leases lists them. */
  list(): Lease[] {
    return [...this.leases.values()].sort(
      (a, b) => a.expiry - b.expiry || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
  }

  /**
   * On the primary: up to `limit` leases past their deadline, to be revoked
   * through raft. A reported lease is not reported again for 3 s (its revoke
   * is in flight), then again if it is still there.
   */
  expired(limit = 500): bigint[] {
    if (!this.primary) return [];
    const now = this.now();
    const out: Lease[] = [];
    for (const l of this.leases.values()) if (l.expiry <= now && l.retryAt <= now) out.push(l);
    out.sort((a, b) => a.expiry - b.expiry || (a.id < b.id ? -1 : 1));
    if (out.length > limit) out.length = limit;
    for (const l of out) l.retryAt = now + EXPIRED_RETRY_MS;
    return out.map((l) => l.id);
  }

  /** Replicated state for snapshots. */
  capture(): { id: bigint; ttl: number; remainingTtl: number }[] {
    return [...this.leases.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((l) => ({ id: l.id, ttl: l.ttl, remainingTtl: l.remainingTtl }));
  }

  /** Replaces every lease (snapshot restore); the caller re-attaches keys. */
  load(leases: readonly { id: bigint; ttl: number; remainingTtl: number }[]): void {
    this.leases.clear();
    for (const s of leases) {
      const l = new Lease(s.id, s.ttl);
      l.remainingTtl = s.remainingTtl;
      if (this.primary) this.refresh(l, 0);
      this.leases.set(s.id, l);
    }
  }
}

/**
 * Lease (and request) IDs chosen by the member that receives a request,
 * before proposing (so every member applies the same ID), as etcd's idutil
 * builds them: the member ID's low 16 bits, then the low 40 bits of the
 * start time in ms, then a counter; lease IDs masked to 63 bits (positive).
 */
export class IdGenerator {
  private prefix: bigint;
  private suffix: bigint;
  constructor(memberId: bigint, startMs: number) {
    this.prefix = (memberId & 0xffffn) << 48n;
    this.suffix = (BigInt(Math.trunc(startMs)) & 0xffffffffffn) << 8n;
  }
  /** A fresh 64-bit ID, unique to this member and start time. */
  next(): bigint {
    this.suffix = (this.suffix + 1n) & 0xffffffffffffn;
    return this.prefix | this.suffix;
  }
  /** A fresh positive (63-bit, non-zero) lease ID. */
  nextLeaseId(): bigint {
    let id = 0n;
    while (id === 0n) id = this.next() & 0x7fffffffffffffffn;
    return id;
  }
}
