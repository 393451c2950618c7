// What a simulation run is asked to do (SimOptions) and what it reports
// (SimResult, SimStats, Failure). Every figure in SimStats is a pure function
// of the seed and the options: two runs of one seed report equal stats
// (test/sim/determinism.test.ts), which is what lets a 100,000-seed soak be
// replayed one seed at a time.

import type { Profile } from "./scenario.ts";

export interface SimOptions {
  seed: number;
  /** Overrides the scenario's tick budget. */
  ticks?: number;
  /** Receives every trace line as it happens. */
  trace?: (line: string) => void;
  /**
   * Lease-based reads in every scenario with CheckQuorum (which leases
   * need), not in 40% of them, and a stale one fails the run also with
   * etcdLease (by default etcd's stale lease reads are counted, see README).
   * Strict leases (the default) never count a stale read as anything but a
   * failure.
   */
  strictLease?: boolean;
  /** Lease-based reads as etcd's raft serves them (leaseSafety "etcd") instead of strict leases. */
  etcdLease?: boolean;
  /**
   * Membership changes as in etcd's raft (no shareCommitInVotes): a
   * membership deadlock ends the run as a known limitation instead of failing it.
   */
  etcdMembership?: boolean;
  /**
   * Elections as in etcd's raft (no keepClockOnRejectedVote): a refused vote
   * of a later term restarts the election clock.
   */
  etcdElections?: boolean;
  /** Every member ticks at exactly the same rate (no tick-rate drift). */
  noDrift?: boolean;
  /** Ticks after a heal within which a leader must commit a new proposal (in election timeouts). */
  livenessElections?: number;
  /** Hard cap on processed events (a livelock guard). */
  maxSteps?: number;
  /** Name of a planted bug (see bugs.ts) to run with. */
  bug?: string;
  /** Scenario family (default "mixed"). */
  profile?: Profile;
}

export interface Failure {
  kind: string;
  message: string;
  step: number;
  time: number;
}

export interface SimStats {
  steps: number;
  ticks: number;
  nodes: number;
  messagesSent: number;
  messagesDelivered: number;
  proposals: number;
  proposalsDropped: number;
  writesAcked: number;
  reads: number;
  readStates: number;
  readsServed: number;
  leaseStaleReads: number;
  /** Lease-based reads answered from a strict lease, and those that needed a quorum round. */
  leaseReadsLocal: number;
  leaseReadsFallback: number;
  confChangesProposed: number;
  confChangesApplied: number;
  transfers: number;
  snapshotsCreated: number;
  snapshotsSent: number;
  snapshotsRestored: number;
  compactions: number;
  elections: number;
  maxTerm: number;
  committed: number;
  stepErrors: number;
  healCycles: number;
  /** Ticks from each heal to the first fresh commit. */
  livenessTicks: number[];
  /** Faults injected, by kind. */
  faults: Record<string, number>;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  /** Situations the run ended in that are known limitations of etcd's raft (not failures). */
  knownLimitations: string[];
  scenario: string;
  failure: Failure | null;
  stats: SimStats;
}

/** All-zero statistics for a run that has not started. */
export function emptyStats(): SimStats {
  return {
    steps: 0,
    ticks: 0,
    nodes: 0,
    messagesSent: 0,
    messagesDelivered: 0,
    proposals: 0,
    proposalsDropped: 0,
    writesAcked: 0,
    reads: 0,
    readStates: 0,
    readsServed: 0,
    leaseStaleReads: 0,
    leaseReadsLocal: 0,
    leaseReadsFallback: 0,
    confChangesProposed: 0,
    confChangesApplied: 0,
    transfers: 0,
    snapshotsCreated: 0,
    snapshotsSent: 0,
    snapshotsRestored: 0,
    compactions: 0,
    elections: 0,
    maxTerm: 0,
    committed: 0,
    stepErrors: 0,
    healCycles: 0,
    livenessTicks: [],
    faults: {},
  };
}
