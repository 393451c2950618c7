// The state every part of a simulation shares: the members (SimNode by ID,
// IDs handed out in order and never reused), the virtual clock and the event
// queue, the random streams, the run's statistics and trace, and each
// member's lifecycle (created, started over its durable state, crashed,
// restarted). The other parts (network.ts, workload.ts, membership.ts,
// ready_loop.ts) act on the cluster through this object; simulator.ts runs
// the step loop.
//
// Invariants:
//   - one seed fixes everything: the scenario and every decision come from
//     rng and the streams forked from it in a fixed order in the
//     constructor (scenario, network, clients, faults), plus driftRng, a
//     stream of its own so that --etcd (no drift) replays the runs made
//     before drift existed. A new draw goes to the stream of the concern
//     that makes it, so the other concerns' decisions stay as they were;
//   - `now` only moves forward, to the time of the event being processed;
//   - a node is in touchedList at most once (its `touched` flag) and is
//     checked and offered a Ready after the step that touched it;
//   - a down node (rn === null) keeps only its durable storage; a retired
//     one was shut down for good after its removal and is never restarted.

import {
  type Config,
  discardLogger,
  type Message,
  MessageType,
  RaftError,
  ReadOnlyOption,
  StateType,
  Xoshiro128,
} from "../src/index.ts";
import { Checker } from "./checker.ts";
import { EV_TICK, Ev } from "./events.ts";
import { EventHeap } from "./heap.ts";
import { checkSnapshotState, collectLeaseStats } from "./invariants.ts";
import { SimNode } from "./node.ts";
import { emptyStats, type SimOptions, type SimStats } from "./options.ts";
import { drawScenario, type Scenario, TICK } from "./scenario.ts";

/** The errors a step may legitimately return in a faulty cluster (counted, not failures). */
const BENIGN_STEP_ERRORS = new Set(["ERR_PROPOSAL_DROPPED", "ERR_STEP_PEER_NOT_FOUND"]);

/** chaos: faults are injected; heal: all faults cleared, waiting for a fresh commit; calm: healthy until the next chaos. */
export type Phase = "chaos" | "heal" | "calm";

export class Cluster {
  readonly seed: number;
  readonly scenario: Scenario;
  readonly opts: SimOptions;
  readonly rng: Xoshiro128;
  readonly netRng: Xoshiro128;
  readonly clientRng: Xoshiro128;
  readonly faultRng: Xoshiro128;
  readonly nodes = new Map<bigint, SimNode>();
  readonly heap = new EventHeap<Ev>();
  readonly checker: Checker;
  readonly trace: ((line: string) => void) | null;
  now = 0;
  private seq = 0;
  /** The next fresh node ID (IDs are never reused). */
  nextId: bigint;
  done = false;
  readonly endTime: number;
  readonly maxSteps: number;
  readonly livenessTicks: number;
  readonly touchedList: SimNode[] = [];
  readonly baseConfig: Omit<Config, "storage" | "applied" | "id" | "asyncStorageWrites">;
  /** Strict leases are on (lease-read scenarios without etcdLease). */
  readonly strictLeases: boolean;
  /**
   * Tick-rate drift: each member's tick period is drawn from [TICK, maxTickPeriod],
   * the widest spread the strict lease's drift margin covers. A stream of its
   * own, so that --etcd replays the runs of the simulator before drift.
   */
  readonly driftRng: Xoshiro128 | null;
  readonly maxTickPeriod: number;
  readonly stats: SimStats;
  /** Situations the run ended in that are known limitations of etcd's raft. */
  readonly knownLimitations: string[] = [];
  // Phases and liveness.
  phase: Phase = "chaos";
  healEpoch = 0;
  healStart = 0;

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.seed = opts.seed;
    this.rng = new Xoshiro128(opts.seed);
    this.scenario = drawScenario(this.rng.fork(), opts.ticks, opts.profile);
    // After the draw, which it leaves as it is: only the choice changes.
    if (opts.strictLease === true && this.scenario.checkQuorum) this.scenario.leaseReads = true;
    this.netRng = this.rng.fork();
    this.clientRng = this.rng.fork();
    this.faultRng = this.rng.fork();
    this.trace = opts.trace ?? null;
    this.checker = new Checker(
      (id) => this.nodes.get(id),
      () => this.liveNodes(),
      () => this.nodes.values(),
    );
    const s = this.scenario;
    this.nextId = BigInt(s.size + 1);
    this.endTime = s.ticks * TICK;
    this.maxSteps = opts.maxSteps ?? 3_000_000;
    this.livenessTicks = (opts.livenessElections ?? 30) * s.electionTick;
    this.strictLeases = s.leaseReads && opts.etcdLease !== true;
    // The default margin of a strict lease; the drift stays within what it covers:
    // (E - 1 - margin) slowest periods <= (E - 1) fastest periods.
    const margin = Math.ceil(s.electionTick / 10);
    const spread = TICK * ((s.electionTick - 1) / (s.electionTick - 1 - margin) - 1);
    // Periods are multiples of 1/64 time unit: sums of them stay exact in
    // floating point, so ties between events are never decided by rounding.
    this.maxTickPeriod = TICK + Math.floor(spread * 64) / 64;
    this.driftRng = opts.noDrift === true ? null : new Xoshiro128(opts.seed, 7);
    this.baseConfig = {
      electionTick: s.electionTick,
      heartbeatTick: s.heartbeatTick,
      logger: discardLogger,
      preVote: s.preVote,
      checkQuorum: s.checkQuorum,
      readOnlyOption: s.leaseReads ? ReadOnlyOption.ReadOnlyLeaseBased : ReadOnlyOption.ReadOnlySafe,
      leaseSafety: this.strictLeases ? "strict" : "etcd",
      shareCommitInVotes: opts.etcdMembership !== true,
      keepClockOnRejectedVote: opts.etcdElections !== true,
      maxSizePerMsg: s.maxSizePerMsg,
      maxInflightMsgs: s.maxInflightMsgs,
      maxCommittedSizePerReady: s.maxCommittedSizePerReady,
      maxUncommittedEntriesSize: s.maxUncommittedEntriesSize,
      stepDownOnRemoval: s.stepDownOnRemoval,
      disableProposalForwarding: s.disableProposalForwarding,
    };
    this.stats = emptyStats();
  }

  newNode(id: bigint): SimNode {
    const n = new SimNode(id, this.rng.chance(this.scenario.asyncFraction), this.rng.intn(TICK));
    n.storage.onDemand = () => n.currentSnapshot();
    const p = this.scenario.snapshotUnavailable;
    if (p > 0) n.storage.unavailable = () => this.rng.chance(p);
    this.nodes.set(id, n);
    return n;
  }

  startNode(n: SimNode): void {
    n.start({ ...this.baseConfig, asyncStorageWrites: n.async, random: this.rng.fork() });
    if (this.driftRng !== null) {
      // Each incarnation ticks at its own rate: often at either end of the
      // allowed spread (the worst case for a lease), otherwise in between.
      const d = this.driftRng;
      const span = this.maxTickPeriod - TICK;
      const k = this.scenario.driftExtremes ? d.intn(2) : d.intn(3);
      n.tickPeriod =
        k === 0 ? TICK : k === 1 ? this.maxTickPeriod : TICK + Math.floor(d.float() * span * 64) / 64;
      if (n.tickPeriod !== TICK) this.fault("tick-drift");
    }
    const snap = n.storage.storedSnapshot();
    if (snap.metadata.index > 0) {
      checkSnapshotState(n, snap);
      this.checker.onState(n, n.sm.applied, n.sm.hash, "restoring its durable snapshot");
    }
    this.checker.onStart(n);
    this.touch(n);
    const t = this.now - (this.now % TICK) + TICK + n.tickPhase;
    this.scheduleAt(EV_TICK, t, n);
    if (this.trace !== null)
      this.log(`n${n.id} started${n.async ? " (async storage)" : ""} applied=${n.sm.applied}`);
  }

  *liveNodes(): Iterable<SimNode> {
    for (const n of this.nodes.values()) if (n.rn !== null) yield n;
  }

  schedule(kind: number, delay: number, node: SimNode | null = null): Ev {
    return this.scheduleAt(kind, this.now + delay, node);
  }

  scheduleAt(kind: number, time: number, node: SimNode | null = null): Ev {
    const ev = new Ev();
    ev.time = time;
    ev.seq = this.seq++;
    ev.kind = kind;
    ev.node = node;
    if (node !== null) ev.inc = node.inc;
    this.heap.push(ev);
    return ev;
  }

  touch(n: SimNode): void {
    if (!n.touched) {
      n.touched = true;
      this.touchedList.push(n);
    }
  }

  log(line: string): void {
    if (this.trace !== null)
      this.trace(`${(this.now / TICK).toFixed(1).padStart(7)} #${this.stats.steps} ${line}`);
  }

  fault(kind: string): void {
    this.stats.faults[kind] = (this.stats.faults[kind] ?? 0) + 1;
  }

  alive(ev: Ev): SimNode | null {
    const n = ev.node!;
    return n.rn !== null && n.inc === ev.inc ? n : null;
  }

  noteOutgoing(n: SimNode, m: Message): void {
    if (m.type === MessageType.MsgVoteResp && !m.reject) this.checker.onVote(m.to, n.id, m.term);
  }

  stepNode(n: SimNode, m: Message): void {
    this.touch(n);
    try {
      n.rn!.step(m);
    } catch (err) {
      if (err instanceof RaftError && BENIGN_STEP_ERRORS.has(err.code)) {
        this.stats.stepErrors++;
        return;
      }
      throw err;
    }
  }

  crash(n: SimNode): void {
    collectLeaseStats(this.stats, n);
    if (this.trace !== null)
      this.log(
        `fault: crash n${n.id}${n.inflight ? " (losing an unpersisted Ready)" : ""}${n.appendQ.length ? ` (losing ${n.appendQ.length} queued appends)` : ""}`,
      );
    n.crash();
    this.fault("crash");
  }

  restart(n: SimNode): void {
    this.fault("restart");
    this.startNode(n);
  }

  leader(): SimNode | null {
    let best: SimNode | null = null;
    for (const n of this.nodes.values()) {
      const r = n.raft;
      if (r === null || r.state !== StateType.StateLeader) continue;
      if (best === null || r.term > best.raft!.term) best = n;
    }
    return best;
  }
}
