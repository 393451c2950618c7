// Linearizable reads through batched ReadIndex rounds.
//
// A read that arrives while no round is pending starts one; reads arriving
// before that round starts (in the same microtask turn) join it. Each round
// asks raft for a read index: the leader's commit index at a moment it was
// provably still the leader (ReadOnlySafe: a quorum heartbeat round; lease:
// its lease). Once this member has applied up to that index, every read of
// the round may run against the local state and is linearizable: it observes
// every write acknowledged before the read began.
//
// Why that holds:
//   - A write acknowledged before the read began was committed before it
//     began. The read's round starts after the read arrived (a read joins
//     only the batch still being collected, never a round already sent), so
//     the leader's commit index for the round is taken after that commit.
//   - The leader answers only once a quorum confirmed it was still the
//     leader after the request arrived (ReadOnlySafe), so no newer leader
//     can have committed anything it does not know of; and raft's leader
//     answers only after committing an entry of its own term, so its commit
//     index covers every entry committed by earlier leaders. Lease-based
//     reads replace the quorum round by the lease, and so rest on bounded
//     clock drift (docs/leases.md).
//   - This member then waits until it has applied that index: the local
//     state includes every such write before the query runs.
// Each round is identified by an 8-byte context: a counter that starts at
// a random 64-bit value per ReadBatcher (per member incarnation), so no two
// rounds of one incarnation share one and a round of an earlier incarnation
// (whose answer may still arrive after a restart) collides with one of this
// incarnation only with probability ~rounds/2^64 — as when each round drew
// 8 random bytes, which cost ~6 µs a round (crypto.randomBytes). Raft answers
// with the context of the request, so an answer is handed only to the round
// that asked (an answer for a context no longer pending, e.g. after a
// timeout, is ignored). When leadership is lost, rounds waiting for an
// answer fail (NoLeader): a deposed leader's pending requests are never
// answered, and clients retry elsewhere.

import type { ReadState } from "../raft/index.ts";
import type { DeadlineList } from "./deadlines.ts";
import { HostError, HostErrorCode } from "./errors.ts";
import { cryptoUint64 } from "./request_ids.ts";

const MASK64 = 0xffff_ffff_ffff_ffffn;

interface Pending {
  resolve(index: number): void;
  reject(e: Error): void;
}

interface IndexWaiter {
  index: number;
  resolve(): void;
  reject(e: Error): void;
}

export interface ReadIndexSource {
  readIndex(ctx: Uint8Array, signal?: AbortSignal): Promise<void>;
}

export class ReadBatcher {
  private batch: Pending[] = [];
  /** Rounds sent and not yet answered, by context. */
  private readonly inFlight = new Map<bigint, Pending[]>();
  private readonly waiters: IndexWaiter[] = [];
  /** The next round's context. */
  private nextCtx: bigint;

  constructor(
    private readonly source: ReadIndexSource,
    private readonly mapError: (err: unknown) => Error,
    random: () => bigint = cryptoUint64,
  ) {
    this.nextCtx = random() & MASK64;
  }

  /** No read is being collected, waits for raft's answer, or waits to be applied. */
  get idle(): boolean {
    return this.batch.length === 0 && this.inFlight.size === 0 && this.waiters.length === 0;
  }

  /** Resolves with a read index for a read that began now. */
  readIndex(signal?: AbortSignal, deadline?: SweptDeadline): Promise<number> {
    return guarded<number>(
      signal,
      "linearizable read timed out",
      (resolve, reject) => {
        this.batch.push({ resolve, reject });
        if (this.batch.length === 1) queueMicrotask(this.startRound);
      },
      deadline,
    );
  }

  /** Resolves once `applied` (as reported through onApplied) reaches `index`. */
  waitApplied(index: number, applied: number, signal?: AbortSignal, deadline?: SweptDeadline): Promise<void> {
    if (index <= applied) return Promise.resolve();
    return guarded<void>(
      signal,
      "linearizable read timed out",
      (resolve, reject) => {
        this.waiters.push({ index, resolve, reject });
      },
      deadline,
    );
  }

  /**
   * Sends the collected batch as one ReadIndex request. The request carries
   * no deadline of its own: the node queues it at once unless its inbox is
   * full, and then takes it on its next turn (or fails it when stopping);
   * each read of the round is bounded by its own signal or deadline.
   */
  private readonly startRound = (): void => {
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    const key = this.nextCtx;
    this.nextCtx = (key + 1n) & MASK64;
    const ctx = new Uint8Array(8);
    new DataView(ctx.buffer).setBigUint64(0, key, true);
    this.inFlight.set(key, batch);
    this.source.readIndex(ctx).catch((err: unknown) => {
      const ws = this.inFlight.get(key);
      this.inFlight.delete(key);
      for (const w of ws ?? []) w.reject(this.mapError(err));
    });
  };

  /** Hands out the read indexes raft answered with (Ready.readStates). */
  onReadStates(states: readonly ReadState[]): void {
    for (const rs of states) {
      const c = rs.requestCtx;
      if (c.length !== 8) continue; // not a context of ours
      const key = new DataView(c.buffer, c.byteOffset, 8).getBigUint64(0, true);
      const ws = this.inFlight.get(key);
      if (ws === undefined) continue;
      this.inFlight.delete(key);
      for (const w of ws) w.resolve(rs.index);
    }
  }

  /** Releases reads waiting for the state machine to catch up. */
  onApplied(applied: number): void {
    if (this.waiters.length === 0) return;
    let keep = 0;
    for (const w of this.waiters) {
      if (w.index <= applied) w.resolve();
      else this.waiters[keep++] = w;
    }
    this.waiters.length = keep;
  }

  /** Rounds of a lost leadership will never be answered: fail them so clients retry elsewhere. */
  failInFlight(err: Error): void {
    for (const ws of this.inFlight.values()) for (const w of ws) w.reject(err);
    this.inFlight.clear();
  }

  /** Fails everything (shutdown). */
  failAll(err: Error): void {
    this.failInFlight(err);
    for (const w of this.batch.splice(0)) w.reject(err);
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}

/** A deadline of a wait swept by the host's tick (see deadlines.ts). */
export interface SweptDeadline {
  readonly list: DeadlineList;
  /** The host clock's time (ms) after which the wait fails with ERR_HOST_TIMEOUT. */
  readonly at: number;
}

/**
 * A promise that also rejects with a Timeout HostError when `signal` fires
 * or `deadline` passes. The abort listener is removed (the deadline entry
 * marked done) as soon as the promise settles: callers commonly share one
 * deadline signal across many requests, and listeners left behind would
 * pile up on it (and trip Node's MaxListeners warning).
 */
export function guarded<T>(
  signal: AbortSignal | undefined,
  what: string,
  run: (resolve: (v: T) => void, reject: (e: Error) => void) => void,
  deadline?: SweptDeadline,
): Promise<T> {
  if (signal === undefined && deadline === undefined) return new Promise<T>(run);
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new HostError(HostErrorCode.Timeout, what));
      return;
    }
    const onAbort = () => {
      if (timed !== undefined) timed.done = true;
      reject(new HostError(HostErrorCode.Timeout, what));
    };
    const timed = deadline?.list.add(deadline.at, onAbort);
    signal?.addEventListener("abort", onAbort, { once: true });
    run(
      (v) => {
        signal?.removeEventListener("abort", onAbort);
        if (timed !== undefined) timed.done = true;
        resolve(v);
      },
      (e) => {
        signal?.removeEventListener("abort", onAbort);
        if (timed !== undefined) timed.done = true;
        reject(e);
      },
    );
  });
}
