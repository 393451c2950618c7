// Everything about a run that is fixed up front, drawn from the seed: the
// cluster (size, timeouts, raft options per node) and the intensity of the
// workload and of each kind of fault. Different seeds therefore explore
// different regions, from quiet 3-node clusters to lossy 7-node ones with
// async storage, tiny message budgets and frequent crashes.

import type { Xoshiro128 } from "../src/index.ts";

/** Simulated time units per raft tick. Latencies are in the same units. */
export const TICK = 10;

export interface Scenario {
  size: number;
  electionTick: number;
  heartbeatTick: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** ReadOnlyLeaseBased (requires checkQuorum) instead of ReadOnlySafe. */
  leaseReads: boolean;
  /** Probability that a node (initial or added) uses asyncStorageWrites. */
  asyncFraction: number;
  stepDownOnRemoval: boolean;
  disableProposalForwarding: boolean;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  maxCommittedSizePerReady: number;
  maxUncommittedEntriesSize: number;
  /** Base one-way latency range [min, max] in time units. */
  latency: [number, number];
  /** Storage write latency range. */
  diskLatency: [number, number];
  /** Fault intensities while chaos is on (each a maximum the fault events draw below). */
  maxDropRate: number;
  maxDupRate: number;
  maxDelayRate: number;
  /** Longest extra delay of a delayed message, in ticks. */
  maxDelayTicks: number;
  /** Mean ticks between fault events. */
  faultEvery: number;
  /** Relative weights of the fault kinds. */
  faultWeights: FaultWeights;
  /** Writes clients keep in flight at most. */
  clientConcurrency: number;
  /** Mean time units between client operations. */
  clientEvery: number;
  /** Probability that Storage.snapshot() reports the snapshot temporarily unavailable. */
  snapshotUnavailable: number;
  /** Applied entries between snapshots (when the snapshot op fires). */
  snapGap: number;
  /** Allow conf changes at all. */
  confChanges: boolean;
  /** Relative weight of conf-change operations among client operations (writes weigh 40). */
  confChangeWeight: number;
  /** Relative weight of ReadIndex reads among client operations. */
  readWeight: number;
  /** Probability that a removal, demotion or replacement acts on the leader itself. */
  confChangeTargetsLeader: number;
  /** Relative weight of leadership transfers among client operations. */
  transferWeight: number;
  /**
   * Probability that a read goes to the node that believes it leads with the
   * lowest term (a deposed leader cut off from the others, if there is one):
   * the reads a lease that lasts too long answers wrongly.
   */
  readsAtAnyLeader: number;
  /**
   * Probability that a leader's heartbeat round is followed at once by
   * cutting the leader's outbound links (while chaos is on): its followers
   * then last heard from it exactly when the round went out, the tightest
   * case for a lease.
   */
  isolateAfterHeartbeat: number;
  /** Tick-rate drift draws only the fastest or the slowest allowed rate. */
  driftExtremes: boolean;
  /** Smallest voter count conf changes may leave. */
  minVoters: number;
  /** Ticks of chaos per cycle, and of calm after liveness is shown. */
  chaosTicks: number;
  calmTicks: number;
  /** Total simulated ticks (the run ends at the first liveness success past it). */
  ticks: number;
}

export interface FaultWeights {
  partition: number;
  asymmetric: number;
  isolateLeader: number;
  heal: number;
  crash: number;
  restart: number;
  network: number;
}

/** Named scenario families; "mixed" draws from everything. */
export const profiles = ["mixed", "elections", "leases", "membership"] as const;
export type Profile = (typeof profiles)[number];

export function drawScenario(rng: Xoshiro128, ticksOverride?: number, profile: Profile = "mixed"): Scenario {
  const s = drawMixed(rng, ticksOverride);
  if (profile === "elections") {
    // Leader churn with entries trickling out one at a time: the ground in
    // which commit-rule and election-rule mistakes show (raft's Figure 8).
    s.size = 5;
    s.preVote = false;
    s.checkQuorum = false;
    s.leaseReads = false;
    s.maxSizePerMsg = 0;
    s.maxInflightMsgs = 1;
    s.maxUncommittedEntriesSize = 0;
    s.confChanges = false;
    s.faultEvery = 4;
    s.faultWeights = {
      partition: 3,
      asymmetric: 1,
      isolateLeader: 5,
      heal: 3,
      crash: 6,
      restart: 4,
      network: 1,
    };
    s.maxDropRate = 0.2;
    s.clientEvery = 3;
    s.clientConcurrency = 16;
  } else if (profile === "leases") {
    // A leader cut off right after a quorum acknowledged it, fast followers
    // that elect a successor as early as their promises allow, a fast network
    // that commits the successor's writes at once, and reads sent to the
    // deposed leader: where a lease that lasts a tick too long answers stale.
    s.size = 3;
    s.checkQuorum = true;
    s.leaseReads = true;
    s.electionTick = 8;
    s.heartbeatTick = 1;
    s.latency = [1, 2];
    s.diskLatency = [0, 1];
    s.maxDropRate = 0;
    s.maxDupRate = 0;
    s.maxDelayRate = 0;
    s.confChanges = false;
    s.maxUncommittedEntriesSize = 0;
    s.faultEvery = 8;
    s.faultWeights = {
      partition: 2,
      asymmetric: 1,
      isolateLeader: 8,
      heal: 4,
      crash: 1,
      restart: 2,
      network: 0,
    };
    s.clientEvery = 1;
    s.clientConcurrency = 16;
    s.readWeight = 40;
    s.transferWeight = 0;
    s.readsAtAnyLeader = 0.7;
    s.isolateAfterHeartbeat = 0.05;
    s.driftExtremes = true;
  } else if (profile === "membership") {
    // Leaders that demote or remove themselves, on a lossy network, in small
    // configurations: where a member can miss that its configuration changed
    // (etcd-io/etcd#12359) and nobody is left to tell it.
    s.size = 3;
    s.stepDownOnRemoval = true;
    s.confChanges = true;
    s.confChangeWeight = 30;
    s.confChangeTargetsLeader = 0.6;
    s.minVoters = 1;
    s.maxDropRate = 0.3;
    s.faultEvery = 8;
  }
  return s;
}

function drawMixed(rng: Xoshiro128, ticksOverride?: number): Scenario {
  const size = [3, 3, 5, 5, 5, 7][rng.intn(6)]!;
  const electionTick = rng.pick([8, 10, 10, 15, 20]);
  const heartbeatTick = rng.pick([1, 1, 2]);
  // Raft needs broadcast time << election timeout: keep the healthy network
  // and disk well inside it (chaos may still stretch them).
  const budget = electionTick * TICK;
  const preVote = rng.chance(0.5);
  const checkQuorum = rng.chance(0.5);
  const leaseReads = checkQuorum && rng.chance(0.4);
  const asyncFraction = rng.pick([0, 0, 0.5, 1]);
  const tiny = rng.chance(0.3);
  const ticks = ticksOverride ?? rng.range(300, 900);
  return {
    size,
    electionTick,
    heartbeatTick,
    preVote,
    checkQuorum,
    leaseReads,
    asyncFraction,
    stepDownOnRemoval: rng.chance(0.5),
    disableProposalForwarding: rng.chance(0.1),
    maxSizePerMsg: tiny ? rng.pick([0, 20, 60]) : 1024 * 1024,
    maxInflightMsgs: rng.pick([1, 2, 4, 256]),
    maxCommittedSizePerReady: rng.chance(0.3) ? rng.pick([1, 30, 100]) : 0,
    maxUncommittedEntriesSize: rng.chance(0.2) ? rng.pick([50, 200]) : 0,
    latency: [1, Math.min(rng.pick([3, 10, 25]), Math.floor(budget / 6))],
    diskLatency: [0, Math.min(rng.pick([1, 5, 20]), Math.floor(budget / 8))],
    maxDropRate: rng.pick([0, 0.02, 0.1, 0.3]),
    maxDupRate: rng.pick([0, 0.02, 0.1]),
    maxDelayRate: rng.pick([0, 0.05, 0.2]),
    maxDelayTicks: rng.pick([2, electionTick, 3 * electionTick]),
    faultEvery: rng.pick([8, 20, 50]),
    faultWeights: {
      partition: rng.pick([0, 2, 4]),
      asymmetric: rng.pick([0, 1, 3]),
      isolateLeader: rng.pick([0, 2, 4]),
      heal: 3,
      crash: rng.pick([0, 2, 5]),
      restart: 3,
      network: rng.pick([1, 3]),
    },
    clientEvery: rng.pick([3, 8, 20]),
    clientConcurrency: rng.pick([1, 4, 16]),
    snapshotUnavailable: rng.pick([0, 0, 0.3]),
    snapGap: rng.pick([3, 10, 40]),
    confChanges: rng.chance(0.7),
    confChangeWeight: 8,
    readWeight: 20,
    transferWeight: 3,
    confChangeTargetsLeader: 0,
    readsAtAnyLeader: 0,
    isolateAfterHeartbeat: 0,
    driftExtremes: false,
    minVoters: rng.chance(0.15) ? 1 : 3,
    chaosTicks: rng.range(80, 300),
    calmTicks: rng.range(10, 60),
    ticks,
  };
}

export function describeScenario(s: Scenario): string {
  const flags = [
    s.preVote ? "prevote" : "",
    s.checkQuorum ? "checkquorum" : "",
    s.leaseReads ? "lease-reads" : "safe-reads",
    s.asyncFraction > 0 ? `async=${s.asyncFraction}` : "",
    s.stepDownOnRemoval ? "stepdown-on-removal" : "",
    s.disableProposalForwarding ? "no-forwarding" : "",
  ].filter((x) => x !== "");
  return (
    `${s.size} nodes, election=${s.electionTick} heartbeat=${s.heartbeatTick}, ${flags.join(" ")}, ` +
    `maxMsg=${s.maxSizePerMsg} inflight=${s.maxInflightMsgs} applyBudget=${s.maxCommittedSizePerReady} ` +
    `uncommitted=${s.maxUncommittedEntriesSize}, latency=${s.latency.join("-")} disk=${s.diskLatency.join("-")}, ` +
    `drop<=${s.maxDropRate} dup<=${s.maxDupRate} delay<=${s.maxDelayRate}x${s.maxDelayTicks}t, ` +
    `faults every ~${s.faultEvery}t, conf changes ${s.confChanges ? `on (min voters ${s.minVoters})` : "off"}, ` +
    `${s.ticks} ticks`
  );
}
