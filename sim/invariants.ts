// The invariants the simulator checks itself, beside raft's safety properties
// in checker.ts: a strict lease is backed by a quorum of kept promises after
// every step, and a snapshot carries exactly the state machine it claims.
// Also the lease-read accounting, taken from each raft instance before it is
// lost (a crash) and at the end of the run.

import { type Snapshot, StateType } from "../src/index.ts";
import { confStatesEquivalent, VoteResult } from "../src/internal.ts";
import { InvariantViolation } from "./checker.ts";
import type { Cluster } from "./cluster.ts";
import type { SimNode } from "./node.ts";
import type { SimStats } from "./options.ts";

/**
 * The strict lease's own invariant, checked after every step: while a
 * leader's lease holds, a quorum of its configuration (both majorities when
 * joint) keeps its promise not to vote or campaign: each is the leader
 * itself, holds its promise (voteHold > 0), or is down (a member restarts
 * holding one). Otherwise some schedule elects another leader while this
 * one still answers reads from its lease: a stale read waiting to happen,
 * caught here even when the run does not go on to commit a write that the
 * read misses.
 */
export function checkLeases(c: Cluster): void {
  for (const l of c.liveNodes()) {
    const r = l.raft!;
    if (r.state !== StateType.StateLeader || !r.leaseHolds()) continue;
    const holding = new Map<bigint, boolean>();
    const lapsed: string[] = [];
    for (const id of r.trk.config.voters.ids()) {
      const v = c.nodes.get(id);
      const vr = v?.raft ?? null;
      const holds = id === l.id || vr === null || vr.voteHold > 0;
      holding.set(id, holds);
      if (!holds) lapsed.push(`n${id}`);
    }
    if (r.trk.config.voters.voteResult(holding) !== VoteResult.VoteWon) {
      throw new InvariantViolation(
        "lease-outlives-promises",
        `leader n${l.id} (term ${r.term}, lease clock ${r.leaseClock}) would answer reads from its lease, but ` +
          `${lapsed.join(", ")} of ${r.trk.config.toString()} no longer keep their promise to it`,
      );
    }
  }
}

/** Adds a node's lease-read counters to the totals (before it goes down, and at the end). */
export function collectLeaseStats(stats: SimStats, n: SimNode): void {
  const r = n.raft;
  if (r === null) return;
  stats.leaseReadsLocal += r.leaseReadsLocal;
  stats.leaseReadsFallback += r.leaseReadsFallback;
}

/** A snapshot a node holds (restored or its own durable one) matches the state machine it restores: same index, same membership. */
export function checkSnapshotState(n: SimNode, snap: Snapshot): void {
  const md = snap.metadata;
  if (n.sm.applied !== md.index) {
    throw new InvariantViolation(
      "snapshot",
      `node ${n.id} got a snapshot at index ${md.index} whose state is at ${n.sm.applied}`,
    );
  }
  const diff = confStatesEquivalent(n.sm.confState, md.confState);
  if (diff !== undefined)
    throw new InvariantViolation("snapshot", `node ${n.id} snapshot conf mismatch: ${diff}`);
}
