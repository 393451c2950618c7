// Strict leader leases (Config.leaseSafety = "strict"): the leader side.
//
// A member that hears from the leader (MsgApp, MsgHeartbeat, MsgSnap) promises
// not to vote for anyone else, nor to campaign, for electionTimeout of its own
// ticks (Raft.voteHold). A member restarts holding that promise, since it may
// have made one before it went down. A heartbeat acknowledged by a member
// therefore proves that the member holds the promise from a moment no earlier
// than the heartbeat was sent.
//
// The leader numbers its heartbeat broadcasts ("rounds") and carries the round
// number in the heartbeat's context, which followers echo unchanged. When a
// quorum of its configuration (both majorities when joint) has acknowledged
// round r or a later one, no other member can win an election until
// electionTimeout of a voter's ticks after r was sent. Counted in the leader's
// own ticks, with tick rates that may differ between members, the leader keeps
// the lease strictly inside that bound:
//
//   the lease of round r, sent while the leader's tick counter read c, holds
//   while the counter reads less than c + leaseTicks, where
//   leaseTicks = electionTimeout - 1 - leaseDriftMarginTicks.
//
// Why "- 1": a follower's promise lasts at least (electionTimeout - 1) of its
// tick periods of real time (it may receive the heartbeat just before a tick),
// while the counter reading c + k - 1 can last until (k) of the leader's tick
// periods after the round went out. With equal tick rates k = electionTimeout
// - 1 is the tight bound; leaseDriftMarginTicks covers members whose ticks run
// faster than the leader's: it is safe while, in the time any member ticks
// electionTimeout - 1 times, no other member ticks fewer than electionTimeout
// - 1 - leaseDriftMarginTicks times. Message delays only make promises start
// later than the leader assumes, which is safe.
//
// While the lease holds, a ReadIndex request is answered at once from the
// commit index. Otherwise the leader starts a round for it and answers when a
// quorum acknowledged that round (ReadIndex's quorum confirmation, with a
// round number instead of the request's context). A leader whose lease lapsed
// without renewal steps down at that tick.

import { type AckedIndexer, INFINITE_INDEX, type JointConfig } from "../quorum/index.ts";
import type { Message } from "../raftpb/index.ts";

/** How lease-based reads are protected: as etcd's raft does, or with a strict lease (see lease.ts). */
export type LeaseSafety = "etcd" | "strict";

// A round context is a tag byte and the round number as 8 bytes big-endian
// (rounds count up from 1 within one term of one leader, so they stay far
// below 2^53).
const ROUND_TAG = 0x4c; // "L"
const ROUND_CTX_LEN = 9;

/** The heartbeat context carrying lease round `round`. */
export function encodeRoundCtx(round: number): Uint8Array {
  const b = new Uint8Array(ROUND_CTX_LEN);
  b[0] = ROUND_TAG;
  const hi = Math.floor(round / 0x1_0000_0000);
  const lo = round >>> 0;
  b[1] = hi >>> 24;
  b[2] = (hi >>> 16) & 0xff;
  b[3] = (hi >>> 8) & 0xff;
  b[4] = hi & 0xff;
  b[5] = lo >>> 24;
  b[6] = (lo >>> 16) & 0xff;
  b[7] = (lo >>> 8) & 0xff;
  b[8] = lo & 0xff;
  return b;
}

/** The round a heartbeat(-response) context carries, or 0 if it is not a round context. */
export function decodeRoundCtx(ctx: Uint8Array): number {
  if (ctx.length !== ROUND_CTX_LEN || ctx[0] !== ROUND_TAG) return 0;
  const hi = ((ctx[1]! << 24) | (ctx[2]! << 16) | (ctx[3]! << 8) | ctx[4]!) >>> 0;
  const lo = ((ctx[5]! << 24) | (ctx[6]! << 16) | (ctx[7]! << 8) | ctx[8]!) >>> 0;
  if (hi >= 0x20_0000) return 0; // beyond 2^53: not one of ours
  return hi * 0x1_0000_0000 + lo;
}

/** A read request waiting for a quorum to acknowledge a round started after it arrived. */
export interface PendingLeaseRead {
  round: number;
  req: Message;
  index: number;
}

/**
 * The leader's view of its lease in one term: the rounds it started, the
 * highest round each member acknowledged, and the reads waiting for a round.
 */
export class LeaderLease implements AckedIndexer {
  /** The leader's own ID: it always counts as having acknowledged its latest round. */
  private readonly self: bigint;
  /** The leader's tick counter when it became leader (the reference for stepping down before any renewal). */
  readonly startTick: number;
  /** The latest round started (rounds are numbered 1, 2, ...; 0: none yet). */
  round = 0;
  /**
   * Send ticks of the rounds from `base` on: tickOf[i] is the tick of round
   * base + i. Rounds below `base` are forgotten (a quorum acknowledged a
   * later one); if a configuration change makes the quorum round fall below
   * base, the lease is treated as absent, which is safe.
   */
  private tickOf: number[] = [];
  private base = 1;
  /** The highest round each member acknowledged. */
  private readonly acked = new Map<bigint, number>();
  /** Reads waiting for their round, in arrival (hence round) order. */
  pending: PendingLeaseRead[] = [];

  constructor(self: bigint, startTick: number) {
    this.self = self;
    this.startTick = startTick;
  }

  /** Starts a round at the given tick; returns its number. */
  startRound(tick: number): number {
    this.round++;
    this.tickOf.push(tick);
    return this.round;
  }

  /** Records that `id` acknowledged `round`; false for a round this leader never started. */
  ack(id: bigint, round: number): boolean {
    if (round <= 0 || round > this.round) return false;
    const prev = this.acked.get(id) ?? 0;
    if (round > prev) this.acked.set(id, round);
    return true;
  }

  ackedIndex(id: bigint): number | undefined {
    return id === this.self ? this.round : this.acked.get(id);
  }

  /** The highest round a quorum of `voters` acknowledged (0: none). */
  quorumRound(voters: JointConfig): number {
    if (voters.incoming.size === 0) return 0;
    const r = voters.committedIndex(this);
    return r === INFINITE_INDEX ? 0 : r;
  }

  /** The tick at which round r was sent; -Infinity if unknown (forgotten, or no round). */
  tickOfRound(r: number): number {
    if (r < this.base || r > this.round) return Number.NEGATIVE_INFINITY;
    return this.tickOf[r - this.base]!;
  }

  /** Forgets the send ticks of rounds below r (a quorum acknowledged r). */
  forgetBefore(r: number): void {
    if (r <= this.base) return;
    const drop = Math.min(r - this.base, this.tickOf.length);
    // Only the rounds still awaiting a quorum remain: a few per election timeout.
    this.tickOf = this.tickOf.slice(drop);
    this.base += drop;
  }

  /** Dequeues the reads whose round is at most r. */
  takeReadsUpTo(r: number): PendingLeaseRead[] {
    let i = 0;
    while (i < this.pending.length && this.pending[i]!.round <= r) i++;
    if (i === 0) return [];
    const out = this.pending.slice(0, i);
    this.pending = this.pending.slice(i);
    return out;
  }
}
