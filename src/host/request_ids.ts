// Request IDs: unique per member across restarts, so that an applied entry
// never answers a request it was not proposed for.
//
// Each incarnation of a member starts its 64-bit IDs at a fresh random point
// and counts up from there (wrapping at 2^64). Two incarnations' ranges
// overlap only if the random starts fall within (n1 + n2) of each other,
// where n is the number of requests each made: for a billion requests each,
// about 2^-33 per restart. No clock and no file is involved, so a clock step
// or a lost file cannot cause a repeat. (etcd's idutil uses member bits and
// the start time instead; a clock that steps back can repeat its IDs.)
//
// Why per incarnation and not per process run or per request: the host
// matches an applied entry to a waiting request by (proposer, request ID)
// (envelope.ts). An entry outlives the incarnation that proposed it — a
// proposal forwarded to the leader just before a crash commits afterwards,
// and a restart replays the log's unapplied tail — so the new incarnation
// applies entries stamped with its predecessors' IDs. Those must match none
// of its own waiters. Within one incarnation the counter gives each request
// a distinct ID (it would take 2^64 proposals to wrap); across incarnations
// the random start makes a collision with any earlier range as unlikely as
// stated above. Any two processes that carry the same member ID — restarts
// of one member, or a member re-added under an ID used before — are
// incarnations in this sense and kept apart by their random starts; the
// proposer field keeps different member IDs apart.
//
// take() is the only source of request IDs, and each proposal takes one:
// a client retrying after a timeout sends a new request with a new ID (the
// old entry may still apply, answering nobody; docs/host.md).
//
// TSRAFT_PLANTED_BUG=restart-ids brings back the old bug (every incarnation
// counts from 0) for the Jepsen-style harness to prove it catches it.

import { randomBytes } from "node:crypto";

const MASK64 = 0xffff_ffff_ffff_ffffn;

export function cryptoUint64(): bigint {
  return randomBytes(8).readBigUInt64LE(0);
}

export class RequestIds {
  private next: bigint;

  constructor(random: () => bigint = cryptoUint64) {
    this.next = plantedBug("restart-ids") ? 0n : random() & MASK64;
  }

  take(): bigint {
    const id = this.next;
    this.next = (this.next + 1n) & MASK64;
    return id;
  }
}

/**
 * Bugs the verification harnesses can plant in real member processes to prove
 * that they catch them (see docs/reliability.md). Read once per process from
 * TSRAFT_PLANTED_BUG; never set in production.
 */
export function plantedBug(name: "restart-ids" | "stale-read"): boolean {
  return PLANTED.includes(name);
}

const PLANTED: readonly string[] = (process.env.TSRAFT_PLANTED_BUG ?? "").split(",").filter((s) => s !== "");
