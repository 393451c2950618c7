// Deterministic simulation of a raft cluster. One seed drives everything:
// the scenario, each node's election randomness, the network (latency,
// drops, duplicates, reordering, long delays, symmetric and asymmetric
// partitions), crashes and restarts that lose whatever was not yet durable,
// and the workload (writes, ReadIndex reads, membership changes, leader
// transfers, snapshots and compaction). The run alternates chaos with healing;
// after each heal a leader must emerge and a fresh proposal must commit
// within a bounded number of ticks. The Checker verifies raft's safety
// properties after every step.

import {
  Changer,
  ConfChange,
  type ConfChangeI,
  ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  ConfChangeV2,
  type Config,
  ConfState,
  compareIds,
  confStatesEquivalent,
  decodeConfChange,
  decodeConfChangeV2,
  decodeMessage,
  discardLogger,
  type Entry,
  EntryType,
  encodeMessage,
  HardState,
  isEmptyHardState,
  isEmptySnap,
  LocalAppendThread,
  LocalApplyThread,
  type Message,
  MessageType,
  messageTypeNames,
  RaftError,
  ReadOnlyOption,
  type ReadState,
  type Ready,
  type Snapshot,
  Snapshot as SnapshotClass,
  SnapshotMetadata,
  SnapshotStatus,
  StateType,
  VoteResult,
  Xoshiro128,
} from "../src/index.ts";
import { withBug } from "./bugs.ts";
import { Checker, InvariantViolation } from "./checker.ts";
import { EventHeap, type Timed } from "./heap.ts";
import { SimNode } from "./node.ts";
import { describeScenario, drawScenario, type Profile, type Scenario, TICK } from "./scenario.ts";
import {
  chainHash,
  contentHash,
  decodeOp,
  describeOp,
  encodeOp,
  FNV_OFFSET,
  KIND_MARKER,
  KIND_WRITE,
  StateMachine,
} from "./state_machine.ts";

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

const EV_TICK = 0;
const EV_READY = 1;
const EV_PERSIST = 2;
const EV_APPEND = 3;
const EV_APPLY = 4;
const EV_DELIVER = 5;
const EV_CLIENT = 6;
const EV_FAULT = 7;
const EV_HEAL = 8;
const EV_CHAOS = 9;
const EV_PROBE = 10;
const EV_DEADLINE = 11;
const EV_RESTART = 12;
const EV_SNAPSTATUS = 13;
const EV_UNREACHABLE = 14;

class Ev implements Timed {
  time = 0;
  seq = 0;
  kind = 0;
  node: SimNode | null = null;
  inc = 0;
  bytes: Uint8Array | null = null;
  from = 0n;
  to = 0n;
  mtype = 0;
  num = 0;
}

const BENIGN_STEP_ERRORS = new Set(["ERR_PROPOSAL_DROPPED", "ERR_STEP_PEER_NOT_FOUND"]);

type Phase = "chaos" | "heal" | "calm";

const READ_CTX_TAG = 0x52;
const MAX_UNCOMMITTED_TAIL = 32;

export class Simulation {
  readonly seed: number;
  readonly scenario: Scenario;
  private readonly opts: SimOptions;
  private readonly rng: Xoshiro128;
  private readonly netRng: Xoshiro128;
  private readonly clientRng: Xoshiro128;
  private readonly faultRng: Xoshiro128;
  private readonly nodes = new Map<bigint, SimNode>();
  private readonly heap = new EventHeap<Ev>();
  private readonly checker: Checker;
  private readonly trace: ((line: string) => void) | null;
  private now = 0;
  private seq = 0;
  private sendSeq = 0;
  /** The next fresh node ID (IDs are never reused). */
  private nextId: bigint;
  private done = false;
  private readonly endTime: number;
  private readonly maxSteps: number;
  private readonly livenessTicks: number;
  private readonly touchedList: SimNode[] = [];
  /** A leader whose outbound links are cut once the current step's messages are out (leases profile). */
  private isolateAfterStep: SimNode | null = null;
  // Network state.
  private readonly blocked = new Set<number>();
  private dropRate = 0;
  private dupRate = 0;
  private delayRate = 0;
  private latMax: number;
  private readonly lastDelivered = new Map<number, number>();
  // Phases and liveness.
  private phase: Phase = "chaos";
  private healEpoch = 0;
  private healStart = 0;
  private readonly markers = new Set<number>();
  // Workload.
  private nextOpId = 1;
  private readonly acked = new Set<number>();
  /** Writes proposed but not yet acknowledged: id -> proposal time (clients have bounded concurrency). */
  private readonly inflightWrites = new Map<number, number>();
  private maxAckedIndex = 0;
  private readonly reads = new Map<number, { node: bigint; start: number; minIndex: number }>();
  private nextReadId = 1;
  private readonly baseConfig: Omit<Config, "storage" | "applied" | "id" | "asyncStorageWrites">;
  /** Strict leases are on (lease-read scenarios without etcdLease). */
  private readonly strictLeases: boolean;
  /**
   * Tick-rate drift: each member's tick period is drawn from [TICK, maxTickPeriod],
   * the widest spread the strict lease's drift margin covers. A stream of its
   * own, so that --etcd replays the runs of the simulator before drift.
   */
  private readonly driftRng: Xoshiro128 | null;
  private readonly maxTickPeriod: number;
  readonly stats: SimStats;
  private readonly knownLimitations: string[] = [];

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
    this.latMax = s.latency[1];
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
      maxSizePerMsg: s.maxSizePerMsg,
      maxInflightMsgs: s.maxInflightMsgs,
      maxCommittedSizePerReady: s.maxCommittedSizePerReady,
      maxUncommittedEntriesSize: s.maxUncommittedEntriesSize,
      stepDownOnRemoval: s.stepDownOnRemoval,
      disableProposalForwarding: s.disableProposalForwarding,
    };
    this.stats = {
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

  // ------------------------------------------------------------ running

  run(): SimResult {
    let failure: Failure | null = null;
    try {
      this.setup();
      while (!this.done) {
        const ev = this.heap.pop();
        if (ev === undefined) throw new InvariantViolation("internal", "the event queue ran dry");
        this.now = ev.time;
        this.stats.steps++;
        if (this.stats.steps > this.maxSteps) {
          throw new InvariantViolation("step-budget", `more than ${this.maxSteps} steps (livelock?)`);
        }
        this.dispatch(ev);
        this.afterStep();
      }
      for (const n of this.liveNodes()) this.checker.checkWholeLog(n);
      for (const n of this.liveNodes()) this.collectLeaseStats(n);
    } catch (err) {
      failure = this.toFailure(err);
      if (this.trace !== null) this.log(`FAILURE ${failure.kind}: ${failure.message}`);
      if (this.trace !== null) for (const line of this.describeCluster()) this.log(line);
    }
    const st = this.stats;
    st.ticks = Math.floor(this.now / TICK);
    st.nodes = this.nodes.size;
    st.elections = this.checker.stats.leaders;
    st.maxTerm = this.checker.stats.maxTerm;
    st.committed = this.checker.maxCommitted;
    return {
      seed: this.seed,
      ok: failure === null,
      knownLimitations: this.knownLimitations,
      scenario: describeScenario(this.scenario),
      failure,
      stats: st,
    };
  }

  private toFailure(err: unknown): Failure {
    const base = { step: this.stats.steps, time: this.now };
    if (err instanceof InvariantViolation) return { kind: err.kind, message: err.message, ...base };
    const e = err instanceof Error ? err : new Error(String(err));
    const where = (e.stack ?? "").split("\n").slice(1, 4).join(" | ");
    return { kind: `exception:${e.name}`, message: `${e.message} [${where.trim()}]`, ...base };
  }

  /** One line per node: role, term, log and configuration (printed with a failing trace). */
  describeCluster(): string[] {
    const out: string[] = [];
    for (const n of this.nodes.values()) {
      const r = n.raft;
      if (r === null) {
        out.push(
          `  n${n.id}: down (durable last=${n.storage.lastIndex()} hs=${fmtHS(n.storage.initialState().hardState)})`,
        );
        continue;
      }
      const log = r.raftLog;
      const prs: string[] = [];
      if (r.state === StateType.StateLeader) {
        r.trk.visit((id, pr) => prs.push(`${id}:${pr.toString()}`));
      }
      out.push(
        `  n${n.id}: ${["follower", "candidate", "leader", "precandidate"][r.state]} term=${r.term} vote=${r.vote} ` +
          `lead=${r.lead} first=${log.firstIndex()} last=${log.lastIndex()} commit=${log.committed} ` +
          `applied=${log.applied} sm=${n.sm.applied} cfg=${r.trk.config.toString()} transferee=${r.leadTransferee} ` +
          `elapsed=${r.electionElapsed}/${r.randomizedElectionTimeout}${n.async ? " async" : ""}` +
          (prs.length > 0 ? `\n      ${prs.join("\n      ")}` : ""),
      );
    }
    return out;
  }

  private setup(): void {
    const s = this.scenario;
    if (this.trace !== null) this.log(`seed ${this.seed}: ${describeScenario(s)}`);
    const voters: bigint[] = [];
    for (let id = 1n; id <= BigInt(s.size); id++) voters.push(id);
    const boot = new StateMachine(1, FNV_OFFSET, new ConfState(voters.slice()));
    const bootSnap = new SnapshotClass(
      boot.encode(),
      new SnapshotMetadata(new ConfState(voters.slice()), 1, 1),
    );
    this.checker.seed(1, 1, FNV_OFFSET);
    for (const id of voters) {
      const n = this.newNode(id);
      n.everMember = true;
      n.storage.applySnapshot(bootSnap);
      this.startNode(n);
    }
    this.schedule(EV_CLIENT, 1 + this.clientRng.intn(this.scenario.clientEvery));
    this.startChaos();
  }

  private newNode(id: bigint): SimNode {
    const n = new SimNode(id, this.rng.chance(this.scenario.asyncFraction), this.rng.intn(TICK));
    n.storage.onDemand = () => n.currentSnapshot();
    const p = this.scenario.snapshotUnavailable;
    if (p > 0) n.storage.unavailable = () => this.rng.chance(p);
    this.nodes.set(id, n);
    return n;
  }

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
  private checkLeases(): void {
    for (const l of this.liveNodes()) {
      const r = l.raft!;
      if (r.state !== StateType.StateLeader || !r.leaseHolds()) continue;
      const holding = new Map<bigint, boolean>();
      const lapsed: string[] = [];
      for (const id of r.trk.config.voters.ids()) {
        const v = this.nodes.get(id);
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
  private collectLeaseStats(n: SimNode): void {
    const r = n.raft;
    if (r === null) return;
    this.stats.leaseReadsLocal += r.leaseReadsLocal;
    this.stats.leaseReadsFallback += r.leaseReadsFallback;
  }

  private startNode(n: SimNode): void {
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
      this.checkSnapshotState(n, snap);
      this.checker.onState(n, n.sm.applied, n.sm.hash, "restoring its durable snapshot");
    }
    this.checker.onStart(n);
    this.touch(n);
    const t = this.now - (this.now % TICK) + TICK + n.tickPhase;
    this.scheduleAt(EV_TICK, t, n);
    if (this.trace !== null)
      this.log(`n${n.id} started${n.async ? " (async storage)" : ""} applied=${n.sm.applied}`);
  }

  /**
   * Whether no node can win an election by raft's own rules: every live
   * voter needs, in its applied configuration, the vote of a node whose log
   * is more up to date (or that is down), and some such node has applied a
   * later configuration that no longer counts it as a voter, so it will not
   * campaign itself. Returns a description, or null.
   */
  private membershipDeadlock(): string | null {
    const ahead = (a: { index: number; term: number }, b: { index: number; term: number }) =>
      a.term > b.term || (a.term === b.term && a.index > b.index);
    let blocker: string | null = null;
    let candidates = 0;
    for (const m of this.liveNodes()) {
      const r = m.raft!;
      if (!r.promotable()) continue;
      candidates++;
      const mine = r.raftLog.lastEntryID();
      const votes = new Map<bigint, boolean>();
      for (const id of r.trk.config.voters.ids()) {
        const v = this.nodes.get(id);
        const vr = v?.raft ?? null;
        const grant = id === m.id || (vr !== null && !ahead(vr.raftLog.lastEntryID(), mine));
        votes.set(id, grant);
        if (!grant && vr !== null && !vr.promotable() && vr.raftLog.committed > r.raftLog.committed) {
          blocker = `n${m.id} (config ${r.trk.config.toString()}, commit ${r.raftLog.committed}) needs n${id}, which applied a later config without itself (commit ${vr.raftLog.committed}) and has a longer log`;
        } else if (!grant && v !== undefined && v.retired && blocker === null) {
          blocker = `n${m.id} (config ${r.trk.config.toString()}) needs the vote of n${id}, which was removed and shut down`;
        }
      }
      if (r.trk.config.voters.voteResult(votes) === VoteResult.VoteWon) return null;
    }
    return candidates > 0 ? blocker : null;
  }

  private *liveNodes(): Iterable<SimNode> {
    for (const n of this.nodes.values()) if (n.rn !== null) yield n;
  }

  private schedule(kind: number, delay: number, node: SimNode | null = null): Ev {
    return this.scheduleAt(kind, this.now + delay, node);
  }

  private scheduleAt(kind: number, time: number, node: SimNode | null = null): Ev {
    const ev = new Ev();
    ev.time = time;
    ev.seq = this.seq++;
    ev.kind = kind;
    ev.node = node;
    if (node !== null) ev.inc = node.inc;
    this.heap.push(ev);
    return ev;
  }

  private touch(n: SimNode): void {
    if (!n.touched) {
      n.touched = true;
      this.touchedList.push(n);
    }
  }

  private afterStep(): void {
    const x = this.isolateAfterStep;
    if (x !== null) {
      this.isolateAfterStep = null;
      for (const o of this.nodes.keys()) if (o !== x.id) this.blocked.add(this.linkKey(x.id, o));
      this.fault("isolate-leader");
      if (this.trace !== null)
        this.log(`fault: isolate leader n${x.id} (outbound only) right after a heartbeat round`);
    }
    if (this.strictLeases) this.checkLeases();
    const list = this.touchedList;
    for (let i = 0; i < list.length; i++) {
      const n = list[i]!;
      n.touched = false;
      if (n.rn === null) continue;
      this.checker.observe(n);
      if (!n.readyScheduled && n.inflight === null && n.rn.hasReady()) {
        n.readyScheduled = true;
        this.schedule(EV_READY, this.rng.intn(2), n);
      }
    }
    list.length = 0;
  }

  private log(line: string): void {
    if (this.trace !== null)
      this.trace(`${(this.now / TICK).toFixed(1).padStart(7)} #${this.stats.steps} ${line}`);
  }

  private fault(kind: string): void {
    this.stats.faults[kind] = (this.stats.faults[kind] ?? 0) + 1;
  }

  private alive(ev: Ev): SimNode | null {
    const n = ev.node!;
    return n.rn !== null && n.inc === ev.inc ? n : null;
  }

  private dispatch(ev: Ev): void {
    switch (ev.kind) {
      case EV_TICK: {
        const n = this.alive(ev);
        if (n === null) return;
        this.touch(n);
        n.rn!.tick();
        this.scheduleAt(EV_TICK, ev.time + n.tickPeriod, n);
        return;
      }
      case EV_READY: {
        const n = this.alive(ev);
        if (n === null) return;
        n.readyScheduled = false;
        if (n.async) this.handleReadyAsync(n);
        else this.handleReadySync(n);
        return;
      }
      case EV_PERSIST: {
        const n = this.alive(ev);
        if (n !== null) this.handlePersist(n);
        return;
      }
      case EV_APPEND: {
        const n = this.alive(ev);
        if (n !== null) this.handleAppendThread(n);
        return;
      }
      case EV_APPLY: {
        const n = this.alive(ev);
        if (n !== null) this.handleApplyThread(n);
        return;
      }
      case EV_DELIVER:
        this.deliver(ev);
        return;
      case EV_CLIENT:
        this.clientOp();
        this.schedule(EV_CLIENT, 1 + this.clientRng.intn(2 * this.scenario.clientEvery));
        return;
      case EV_FAULT:
        if (this.phase !== "chaos") return;
        this.faultOp();
        this.schedule(EV_FAULT, TICK * (1 + this.faultRng.intn(2 * this.scenario.faultEvery)));
        return;
      case EV_HEAL:
        this.heal();
        return;
      case EV_CHAOS:
        if (this.now >= this.endTime) this.done = true;
        else this.startChaos();
        return;
      case EV_PROBE:
        if (this.phase === "heal" && ev.num === this.healEpoch) {
          this.proposeMarker();
          this.schedule(EV_PROBE, this.scenario.heartbeatTick * TICK).num = this.healEpoch;
        }
        return;
      case EV_DEADLINE:
        if (this.phase === "heal" && ev.num === this.healEpoch) {
          const why = this.membershipDeadlock();
          if (why !== null && this.opts.etcdMembership !== true) {
            throw new InvariantViolation("membership-deadlock", why);
          }
          if (why !== null) {
            // A known limitation shared with etcd (see the README): report it, end the run.
            this.knownLimitations.push(`membership deadlock: ${why}`);
            if (this.trace !== null) this.log(`--- known limitation: membership deadlock: ${why} ---`);
            this.done = true;
            return;
          }
          throw new InvariantViolation(
            "liveness",
            `no new proposal committed within ${this.livenessTicks} ticks of healing all faults (leader: ${this.leader()?.id ?? "none"})`,
          );
        }
        return;
      case EV_RESTART: {
        const n = ev.node!;
        if (n.rn === null && !n.retired && n.inc === ev.inc) this.restart(n);
        return;
      }
      case EV_SNAPSTATUS: {
        const n = this.alive(ev);
        if (n === null) return;
        this.touch(n);
        n.rn!.reportSnapshot(
          ev.to,
          ev.num === 1 ? SnapshotStatus.SnapshotFinish : SnapshotStatus.SnapshotFailure,
        );
        if (this.trace !== null)
          this.log(`n${n.id} reportSnapshot(${ev.to}, ${ev.num === 1 ? "finish" : "failure"})`);
        return;
      }
      case EV_UNREACHABLE: {
        const n = this.alive(ev);
        if (n === null) return;
        this.touch(n);
        n.rn!.reportUnreachable(ev.to);
        return;
      }
    }
  }

  // ------------------------------------------------------------ the Ready loop

  private handleReadySync(n: SimNode): void {
    if (n.inflight !== null || !n.rn!.hasReady()) return;
    const rd = this.takeReady(n);
    n.inflight = rd;
    this.schedule(EV_PERSIST, this.diskLatency(), n);
  }

  private takeReady(n: SimNode): Ready {
    this.touch(n);
    const rd = n.rn!.ready();
    this.noteReadyEntries(n, rd.entries);
    if (this.trace !== null) {
      this.log(
        `n${n.id} ready ${describeReady(rd.hardState, rd.entries, rd.snapshot, rd.committedEntries, rd.messages)}`,
      );
    }
    return rd;
  }

  private handlePersist(n: SimNode): void {
    const rd = n.inflight!;
    n.inflight = null;
    this.touch(n);
    this.persist(n, rd.hardState, rd.entries, rd.snapshot);
    for (const rs of rd.readStates) this.onReadState(n, rs);
    this.applyEntries(n, rd.committedEntries);
    for (const m of rd.messages) this.send(n, m);
    n.rn!.advance();
  }

  private handleReadyAsync(n: SimNode): void {
    if (!n.rn!.hasReady()) return;
    const rd = this.takeReady(n);
    for (const rs of rd.readStates) this.onReadState(n, rs);
    for (const m of rd.messages) {
      if (m.to === LocalAppendThread) n.appendQ.push(m);
      else if (m.to === LocalApplyThread) n.applyQ.push(m);
      else this.send(n, m);
    }
    this.kickStorageThreads(n);
  }

  private kickStorageThreads(n: SimNode): void {
    if (!n.appendScheduled && n.appendQ.length > 0) {
      n.appendScheduled = true;
      this.schedule(EV_APPEND, this.diskLatency(), n);
    }
    if (!n.applyScheduled && n.applyQ.length > 0) {
      n.applyScheduled = true;
      this.schedule(EV_APPLY, this.rng.intn(3), n);
    }
  }

  // The append thread writes everything queued so far in one durable write
  // (group commit), then delivers the responses in order.
  private handleAppendThread(n: SimNode): void {
    n.appendScheduled = false;
    const batch = n.appendQ;
    n.appendQ = [];
    this.touch(n);
    let ents = 0;
    for (const m of batch) {
      this.persist(n, new HardState(m.term, m.vote, m.commit), m.entries, m.snapshot);
      ents += m.entries.length;
    }
    if (this.trace !== null)
      this.log(`n${n.id} append-thread persisted ${batch.length} writes, ${ents} entries`);
    for (const m of batch) for (const r of m.responses) this.sendOrStep(n, r);
    this.kickStorageThreads(n);
  }

  private handleApplyThread(n: SimNode): void {
    n.applyScheduled = false;
    const batch = n.applyQ;
    n.applyQ = [];
    this.touch(n);
    for (const m of batch) {
      // A crash (or a failure) while applying stops the thread.
      if (n.rn === null) return;
      this.applyEntries(n, m.entries);
      for (const r of m.responses) this.sendOrStep(n, r);
    }
    this.kickStorageThreads(n);
  }

  private sendOrStep(n: SimNode, m: Message): void {
    if (m.to === n.id) {
      this.noteOutgoing(n, m);
      this.stepNode(n, m);
    } else {
      this.send(n, m);
    }
  }

  private noteReadyEntries(n: SimNode, ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const r = n.raft!;
    this.checker.onAppendEntries(n, r, ents, r.raftLog.termOrError(ents[0]!.index - 1));
  }

  /** Makes hard state, snapshot and entries durable, in one atomic write. */
  private persist(n: SimNode, hs: HardState, ents: readonly Entry[], snap: Snapshot | null): void {
    const s = n.storage;
    if (!isEmptySnap(snap)) {
      s.applySnapshot(snap!);
      n.sm = StateMachine.decode(snap!.data);
      this.checkSnapshotState(n, snap!);
      this.checker.onState(n, n.sm.applied, n.sm.hash, "restoring a snapshot");
      n.pendingReads = n.pendingReads.filter(([rid, idx]) => !this.maybeServe(n, rid, idx));
      this.stats.snapshotsRestored++;
      n.restoredSnapshot = snap!.metadata.index;
    }
    if (ents.length > 0) {
      const first = ents[0]!.index;
      if (first <= n.sm.applied && s.lastIndex() >= first && s.firstIndex() <= first) {
        const t = s.term(first);
        if (t !== ents[0]!.term) {
          throw new InvariantViolation(
            "state-machine-safety",
            `node ${n.id} is told to overwrite applied index ${first} (term ${t} -> ${ents[0]!.term})`,
          );
        }
      }
      s.append(ents);
    }
    if (!isEmptyHardState(hs)) {
      s.setHardState(hs);
      this.checker.onDurableHardState(n, hs);
    }
  }

  private checkSnapshotState(n: SimNode, snap: Snapshot): void {
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

  private applyEntries(n: SimNode, ents: readonly Entry[]): void {
    const sm = n.sm;
    for (const e of ents) {
      if (e.index <= sm.applied) {
        // Only legitimate for async storage: apply work queued before a
        // snapshot (restored since) that covers it.
        if (!n.async || e.index > n.restoredSnapshot) {
          throw new InvariantViolation(
            "apply",
            `node ${n.id} got index ${e.index} again (applied ${sm.applied})`,
          );
        }
        continue;
      }
      if (e.index !== sm.applied + 1) {
        throw new InvariantViolation(
          "apply",
          `node ${n.id} got index ${e.index} after applying ${sm.applied}`,
        );
      }
      const content = contentHash(e);
      const hashAfter = chainHash(sm.hash, e, content);
      this.checker.onApply(n, e, content, hashAfter);
      if (e.type === EntryType.EntryConfChange || e.type === EntryType.EntryConfChangeV2) {
        const cc =
          e.type === EntryType.EntryConfChange ? decodeConfChange(e.data) : decodeConfChangeV2(e.data);
        const cs = n.rn!.applyConfChange(cc);
        sm.setConfState(cs);
        for (const id of [...cs.voters, ...cs.learners]) {
          const member = this.nodes.get(id);
          if (member !== undefined) member.everMember = true;
        }
        this.stats.confChangesApplied++;
        if (this.trace !== null)
          this.log(
            `n${n.id} applied conf change at ${e.index}: voters=${cs.voters} learners=${cs.learners} outgoing=${cs.votersOutgoing} next=${cs.learnersNext}${cs.autoLeave ? " auto" : ""}`,
          );
      } else if (e.data.length > 0) {
        const op = decodeOp(e.data);
        if (op === null) throw new InvariantViolation("apply", `node ${n.id} applied garbage at ${e.index}`);
        if (op.kind === KIND_WRITE) {
          sm.kv.set(op.key, op.id);
          if (!this.acked.has(op.id)) {
            this.acked.add(op.id);
            this.inflightWrites.delete(op.id);
            this.stats.writesAcked++;
            if (e.index > this.maxAckedIndex) this.maxAckedIndex = e.index;
          }
        } else if (op.kind === KIND_MARKER) {
          this.onMarkerApplied(op.id);
        }
      }
      sm.hash = hashAfter;
      sm.applied = e.index;
    }
    if (n.pendingReads.length > 0) {
      n.pendingReads = n.pendingReads.filter(([rid, idx]) => !this.maybeServe(n, rid, idx));
    }
  }

  // ------------------------------------------------------------ network

  private noteOutgoing(n: SimNode, m: Message): void {
    if (m.type === MessageType.MsgVoteResp && !m.reject) this.checker.onVote(m.to, n.id, m.term);
  }

  private stepNode(n: SimNode, m: Message): void {
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

  // The simulator's node IDs stay far below 2^16, so a link is one number.
  private linkKey(from: bigint, to: bigint): number {
    return Number(from) * 65536 + Number(to);
  }

  private isBlocked(from: bigint, to: bigint): boolean {
    return this.blocked.size > 0 && this.blocked.has(this.linkKey(from, to));
  }

  private send(from: SimNode, m: Message): void {
    this.noteOutgoing(from, m);
    this.stats.messagesSent++;
    if (m.type === MessageType.MsgSnap) this.stats.snapshotsSent++;
    const to = this.nodes.get(m.to);
    if (to === undefined) {
      this.fault("dropped-unknown-peer");
      return;
    }
    const p = this.scenario.isolateAfterHeartbeat;
    if (
      p > 0 &&
      m.type === MessageType.MsgHeartbeat &&
      this.phase === "chaos" &&
      this.isolateAfterStep === null &&
      from.raft?.state === StateType.StateLeader &&
      this.faultRng.chance(p)
    ) {
      this.isolateAfterStep = from;
    }
    const rng = this.netRng;
    if (this.isBlocked(m.from, m.to)) {
      this.fault("partition-drop");
      this.lost(from, m);
      return;
    }
    if (this.dropRate > 0 && rng.chance(this.dropRate)) {
      this.fault("drop");
      this.lost(from, m);
      return;
    }
    const bytes = encodeMessage(m, rng.chance(0.5) ? "P37" : "G36");
    const seqNo = this.sendSeq++;
    this.scheduleDelivery(from, m, bytes, seqNo);
    if (this.dupRate > 0 && rng.chance(this.dupRate)) {
      this.fault("duplicate");
      this.scheduleDelivery(from, m, bytes, seqNo);
    }
  }

  private scheduleDelivery(from: SimNode, m: Message, bytes: Uint8Array, seqNo: number): void {
    const rng = this.netRng;
    let lat = rng.range(this.scenario.latency[0], this.latMax);
    if (this.delayRate > 0 && rng.chance(this.delayRate)) {
      this.fault("delay");
      lat += rng.range(TICK, this.scenario.maxDelayTicks * TICK);
    }
    const ev = this.schedule(EV_DELIVER, lat, from);
    ev.bytes = bytes;
    ev.from = m.from;
    ev.to = m.to;
    ev.mtype = m.type;
    ev.num = seqNo;
  }

  // The transport noticed a message did not get through.
  private lost(from: SimNode, m: Message): void {
    if (m.type === MessageType.MsgSnap) {
      const ev = this.schedule(EV_SNAPSTATUS, 1 + this.netRng.intn(TICK), from);
      ev.to = m.to;
      ev.num = 0;
      this.fault("snapshot-failure-reported");
    } else if (this.netRng.chance(0.3)) {
      const ev = this.schedule(EV_UNREACHABLE, 1 + this.netRng.intn(TICK), from);
      ev.to = m.to;
      this.fault("unreachable-reported");
    }
  }

  private deliver(ev: Ev): void {
    const to = this.nodes.get(ev.to)!;
    const sender = ev.node!;
    const isSnap = ev.mtype === MessageType.MsgSnap;
    const lostAs = (kind: string) => {
      this.fault(kind);
      if (isSnap && sender.inc === ev.inc) {
        const st = this.schedule(EV_SNAPSTATUS, 1 + this.netRng.intn(TICK), sender);
        st.inc = ev.inc;
        st.to = ev.to;
        st.num = 0;
      }
    };
    if (to.rn === null) {
      lostAs("dropped-peer-down");
      return;
    }
    if (this.isBlocked(ev.from, ev.to)) {
      lostAs("partition-drop");
      return;
    }
    const m = decodeMessage(ev.bytes!);
    const key = this.linkKey(ev.from, ev.to);
    const last = this.lastDelivered.get(key) ?? -1;
    if (ev.num < last) this.fault("reordered");
    else this.lastDelivered.set(key, ev.num);
    this.stats.messagesDelivered++;
    if (this.trace !== null) this.log(`n${to.id} recv ${describeMessage(m)}`);
    this.stepNode(to, m);
    if (isSnap && sender.inc === ev.inc) {
      const st = this.schedule(EV_SNAPSTATUS, 1 + this.netRng.intn(TICK), sender);
      st.inc = ev.inc;
      st.to = ev.to;
      // Occasionally the transport reports failure although the snapshot arrived.
      st.num = this.netRng.chance(0.05) ? 0 : 1;
    }
  }

  private diskLatency(): number {
    const [lo, hi] = this.scenario.diskLatency;
    return this.rng.range(lo, hi);
  }

  // ------------------------------------------------------------ phases and faults

  private startChaos(): void {
    this.phase = "chaos";
    if (this.trace !== null) this.log("--- chaos ---");
    this.schedule(EV_FAULT, TICK * (1 + this.faultRng.intn(this.scenario.faultEvery)));
    this.schedule(EV_HEAL, this.scenario.chaosTicks * TICK);
  }

  private heal(): void {
    this.phase = "heal";
    this.healEpoch++;
    this.healStart = this.now;
    this.stats.healCycles++;
    this.blocked.clear();
    this.dropRate = 0;
    this.dupRate = 0;
    this.delayRate = 0;
    this.latMax = this.scenario.latency[1];
    if (this.trace !== null)
      this.log("--- heal: partitions and network faults cleared, every node restarted ---");
    for (const n of this.nodes.values()) if (n.rn === null && !n.retired) this.restart(n);
    this.schedule(EV_PROBE, TICK).num = this.healEpoch;
    this.schedule(EV_DEADLINE, this.livenessTicks * TICK).num = this.healEpoch;
  }

  private onMarkerApplied(id: number): void {
    if (this.phase !== "heal" || !this.markers.has(id)) return;
    const ticks = Math.ceil((this.now - this.healStart) / TICK);
    this.stats.livenessTicks.push(ticks);
    this.markers.clear();
    if (this.trace !== null)
      this.log(`--- live again: marker m${id} committed ${ticks} ticks after the heal ---`);
    if (this.now >= this.endTime) {
      this.done = true;
      return;
    }
    this.phase = "calm";
    this.schedule(EV_CHAOS, this.scenario.calmTicks * TICK);
  }

  private proposeMarker(): void {
    // Markers obey the same backpressure as writes once one is in flight,
    // or a slow cluster would drown in them.
    const l = this.leader();
    if (this.markers.size > 0 && l !== null && this.uncommittedTail(l) >= MAX_UNCOMMITTED_TAIL) return;
    const target = this.pickTarget(0.5);
    if (target === null) return;
    const id = this.nextOpId++;
    this.markers.add(id);
    this.propose(target, encodeOp(KIND_MARKER, 0, id));
  }

  private faultOp(): void {
    const rng = this.faultRng;
    const w = this.scenario.faultWeights;
    const kind = rng.weighted([
      w.partition,
      w.asymmetric,
      w.isolateLeader,
      w.heal,
      w.crash,
      w.restart,
      w.network,
    ]);
    const ids = [...this.nodes.keys()];
    switch (kind) {
      case 0: {
        // Symmetric partition into two groups.
        this.blocked.clear();
        const side = new Set(ids.filter(() => rng.chance(0.5)));
        for (const a of ids)
          for (const b of ids)
            if (a !== b && side.has(a) !== side.has(b)) this.blocked.add(this.linkKey(a, b));
        this.fault("partition");
        if (this.trace !== null)
          this.log(
            `fault: partition {${[...side].join(",")}} | {${ids.filter((i) => !side.has(i)).join(",")}}`,
          );
        return;
      }
      case 1: {
        // Asymmetric: a node that cannot receive, cannot send, or a few one-way links.
        const x = rng.pick(ids);
        const mode = rng.intn(3);
        if (mode === 2) {
          for (let k = rng.range(1, 3); k > 0; k--) {
            const a = rng.pick(ids);
            const b = rng.pick(ids);
            if (a !== b) this.blocked.add(this.linkKey(a, b));
          }
        } else {
          for (const o of ids) {
            if (o === x) continue;
            this.blocked.add(mode === 0 ? this.linkKey(o, x) : this.linkKey(x, o));
          }
        }
        this.fault("partition-asymmetric");
        if (this.trace !== null)
          this.log(
            `fault: asymmetric partition (${["no inbound to", "no outbound from", "one-way links near"][mode]} n${x})`,
          );
        return;
      }
      case 2: {
        const l = this.leader();
        const x = l?.id ?? rng.pick(ids);
        const mode = rng.intn(3);
        for (const o of ids) {
          if (o === x) continue;
          if (mode !== 1) this.blocked.add(this.linkKey(o, x));
          if (mode !== 2) this.blocked.add(this.linkKey(x, o));
        }
        this.fault("isolate-leader");
        if (this.trace !== null)
          this.log(
            `fault: isolate ${l ? "leader " : ""}n${x} (${["both ways", "outbound only", "inbound only"][mode]})`,
          );
        return;
      }
      case 3:
        if (this.blocked.size > 0) {
          this.blocked.clear();
          this.fault("partition-healed");
          if (this.trace !== null) this.log("fault: partitions healed");
        }
        return;
      case 4: {
        const up = [...this.liveNodes()];
        if (up.length === 0) return;
        const l = this.leader();
        const n = l !== null && rng.chance(0.3) ? l : rng.pick(up);
        this.crash(n);
        const ev = this.schedule(EV_RESTART, TICK * rng.range(2, 4 * this.scenario.electionTick), n);
        ev.inc = n.inc;
        return;
      }
      case 5: {
        const down = [...this.nodes.values()].filter((n) => n.rn === null && !n.retired);
        if (down.length > 0) this.restart(rng.pick(down));
        return;
      }
      default: {
        const s = this.scenario;
        this.dropRate = rng.chance(0.3) ? 0 : rng.float() * s.maxDropRate;
        this.dupRate = rng.chance(0.3) ? 0 : rng.float() * s.maxDupRate;
        this.delayRate = rng.chance(0.3) ? 0 : rng.float() * s.maxDelayRate;
        this.latMax = rng.chance(0.5) ? s.latency[1] : s.latency[1] * rng.range(1, 8);
        this.fault("network-change");
        if (this.trace !== null)
          this.log(
            `fault: network drop=${this.dropRate.toFixed(3)} dup=${this.dupRate.toFixed(3)} delay=${this.delayRate.toFixed(3)} latency<=${this.latMax}`,
          );
      }
    }
  }

  private crash(n: SimNode): void {
    this.collectLeaseStats(n);
    if (this.trace !== null)
      this.log(
        `fault: crash n${n.id}${n.inflight ? " (losing an unpersisted Ready)" : ""}${n.appendQ.length ? ` (losing ${n.appendQ.length} queued appends)` : ""}`,
      );
    n.crash();
    this.fault("crash");
  }

  private restart(n: SimNode): void {
    this.fault("restart");
    this.startNode(n);
  }

  // ------------------------------------------------------------ workload

  private leader(): SimNode | null {
    let best: SimNode | null = null;
    for (const n of this.nodes.values()) {
      const r = n.raft;
      if (r === null || r.state !== StateType.StateLeader) continue;
      if (best === null || r.term > best.raft!.term) best = n;
    }
    return best;
  }

  private uncommittedTail(n: SimNode): number {
    const log = n.raft!.raftLog;
    return log.lastIndex() - log.committed;
  }

  private pickTarget(leaderBias: number): SimNode | null {
    const l = this.leader();
    if (l !== null && this.clientRng.chance(leaderBias)) return l;
    const up = [...this.liveNodes()];
    return up.length === 0 ? null : this.clientRng.pick(up);
  }

  private propose(n: SimNode, data: Uint8Array): void {
    this.touch(n);
    this.stats.proposals++;
    try {
      n.rn!.propose(data);
      if (this.trace !== null) this.log(`n${n.id} propose ${describeOp(data)}`);
    } catch (err) {
      if (!(err instanceof RaftError) || err.code !== "ERR_PROPOSAL_DROPPED") throw err;
      this.stats.proposalsDropped++;
      if (this.trace !== null) this.log(`n${n.id} propose ${describeOp(data)}: dropped`);
    }
  }

  /**
   * The operator shuts a removed node down once it is safe: it is not in
   * the configuration of the most advanced node, and every member of that
   * configuration is up and has applied a configuration without it (so no
   * member can still need its vote). A removed leader (without
   * stepDownOnRemoval) is stopped this way too, as etcd's server does.
   */
  private retireRemoved(): void {
    let best: SimNode | null = null;
    for (const n of this.nodes.values()) {
      if (n.retired) continue;
      // A down node's configuration is unknown: wait until everyone is up.
      if (n.rn === null) return;
      if (best === null || n.sm.applied > best.sm.applied) best = n;
    }
    if (best === null || best.raft!.trk.config.voters.ids().size === 0) return;
    const progress = best.raft!.trk.progress;
    let candidate = false;
    for (const x of this.nodes.values()) {
      if (!x.retired && x.everMember && !progress.has(x.id)) {
        candidate = true;
        break;
      }
    }
    if (!candidate) return;
    const current = new Set(progress.keys());
    const configs: Set<bigint>[] = [];
    for (const id of current) {
      const m = this.nodes.get(id);
      if (m === undefined || m.rn === null) return;
      configs.push(new Set(m.raft!.trk.progress.keys()));
    }
    for (const x of [...this.nodes.values()]) {
      if (x.retired || !x.everMember || current.has(x.id)) continue;
      if (configs.some((c) => c.has(x.id))) continue;
      // Only a committed removal counts: a restarted node re-applies its log
      // and may briefly run a configuration older than one it had applied.
      if (!best.sm.removed.has(x.id)) continue;
      if (this.trace !== null)
        this.log(`operator: n${x.id} is out of every member's configuration; shutting it down`);
      this.collectLeaseStats(x);
      x.crash();
      x.retired = true;
      this.fault("removed-member-shutdown");
    }
  }

  private clientOp(): void {
    const rng = this.clientRng;
    this.retireRemoved();
    const healing = this.phase === "heal";
    const s = this.scenario;
    const op = rng.weighted([
      40,
      s.readWeight,
      s.confChanges && !healing ? s.confChangeWeight : 0,
      healing ? 0 : s.transferWeight,
      6,
      healing ? 0 : 1,
      healing ? 0 : 1,
    ]);
    switch (op) {
      case 0:
        this.writeOp();
        return;
      case 1:
        this.startRead();
        return;
      case 2:
        this.confChangeOp();
        return;
      case 3:
        this.transferOp();
        return;
      case 4:
        this.snapshotOp();
        return;
      case 5: {
        const n = this.pickTarget(0);
        if (n === null) return;
        this.touch(n);
        if (this.trace !== null) this.log(`n${n.id} campaign`);
        n.rn!.campaign();
        return;
      }
      default: {
        const n = this.pickTarget(0);
        if (n === null || n.raft!.state !== StateType.StateFollower) return;
        this.touch(n);
        if (this.trace !== null) this.log(`n${n.id} forgetLeader`);
        n.rn!.forgetLeader();
      }
    }
  }

  private writeOp(): void {
    // Clients give up on a write after a while (a dropped proposal is never answered).
    const expiry = this.now - 5 * this.scenario.electionTick * TICK;
    for (const [id, t] of this.inflightWrites) {
      if (t >= expiry) break;
      this.inflightWrites.delete(id);
    }
    if (this.inflightWrites.size >= this.scenario.clientConcurrency) return;
    // Backpressure, as a server would apply: no new writes while the leader
    // has a long uncommitted tail (expired writes would otherwise pile up
    // behind a partition without bound).
    const l = this.leader();
    if (l !== null && this.uncommittedTail(l) >= MAX_UNCOMMITTED_TAIL) {
      this.fault("write-backpressure");
      return;
    }
    const n = this.pickTarget(0.6);
    if (n === null) return;
    const id = this.nextOpId++;
    this.inflightWrites.set(id, this.now);
    this.propose(n, encodeOp(KIND_WRITE, this.clientRng.intn(8), id));
  }

  private startRead(): void {
    const n = this.readTarget();
    if (n === null) return;
    const rid = this.nextReadId++;
    const ctx = new Uint8Array(5);
    ctx[0] = READ_CTX_TAG;
    new DataView(ctx.buffer).setUint32(1, rid);
    this.reads.set(rid, { node: n.id, start: this.now, minIndex: this.maxAckedIndex });
    this.stats.reads++;
    this.touch(n);
    n.rn!.readIndex(ctx);
    if (this.trace !== null)
      this.log(`n${n.id} readIndex r${rid} (acked writes up to ${this.maxAckedIndex})`);
  }

  /** Where a read goes: usually the current leader, in some profiles any node that believes it leads. */
  private readTarget(): SimNode | null {
    const p = this.scenario.readsAtAnyLeader;
    if (p > 0 && this.clientRng.chance(p)) {
      let oldest: SimNode | null = null;
      for (const x of this.liveNodes()) {
        const r = x.raft!;
        if (r.state === StateType.StateLeader && (oldest === null || r.term < oldest.raft!.term)) oldest = x;
      }
      if (oldest !== null) return oldest;
    }
    return this.pickTarget(0.6);
  }

  private onReadState(n: SimNode, rs: ReadState): void {
    const ctx = rs.requestCtx;
    if (ctx.length !== 5 || ctx[0] !== READ_CTX_TAG) {
      throw new InvariantViolation("read", `node ${n.id} got a read state with a foreign context`);
    }
    const rid = new DataView(ctx.buffer, ctx.byteOffset, ctx.byteLength).getUint32(1);
    const read = this.reads.get(rid);
    if (read === undefined)
      throw new InvariantViolation("read", `node ${n.id} got a read state for unknown read ${rid}`);
    this.stats.readStates++;
    this.checker.stats.readsChecked++;
    if (rs.index < read.minIndex) {
      const msg =
        `read r${rid} started on node ${read.node} at tick ${(read.start / TICK).toFixed(1)} after writes up to ` +
        `index ${read.minIndex} were acknowledged, but was given read index ${rs.index}`;
      if (this.scenario.leaseReads && !this.strictLeases && !this.opts.strictLease) {
        this.stats.leaseStaleReads++;
        if (this.trace !== null) this.log(`stale lease-based read: ${msg}`);
      } else {
        throw new InvariantViolation("linearizability", msg);
      }
    }
    if (!this.maybeServe(n, rid, rs.index)) n.pendingReads.push([rid, rs.index]);
  }

  private maybeServe(n: SimNode, _rid: number, index: number): boolean {
    if (n.sm.applied < index) return false;
    this.stats.readsServed++;
    return true;
  }

  private transferOp(): void {
    const l = this.leader();
    if (l === null) return;
    const rng = this.clientRng;
    const voters = l.raft!.trk.voterNodes().filter((id) => id !== l.id);
    const target =
      voters.length > 0 && rng.chance(0.85) ? rng.pick(voters) : rng.pick([...this.nodes.keys()]);
    // Usually asked of the leader, sometimes of a follower (which forwards it).
    const via = rng.chance(0.8) ? l : this.pickTarget(0);
    if (via === null) return;
    this.touch(via);
    this.stats.transfers++;
    if (this.trace !== null) this.log(`n${via.id} transferLeader(${target})`);
    via.rn!.transferLeader(target);
  }

  private snapshotOp(): void {
    const n = this.pickTarget(0.3);
    if (n === null) return;
    const s = n.storage;
    const snapIndex = s.storedSnapshot().metadata.index;
    const applied = n.sm.applied;
    if (applied - snapIndex < this.scenario.snapGap || applied > s.lastIndex()) return;
    // The durable applied index must not pass the durable commit index, or
    // raft cannot restart (etcd-io/etcd#10217). With async storage writes the
    // apply thread can run ahead of the append thread that persists Commit.
    if (applied > s.initialState().hardState.commit) {
      this.fault("snapshot-deferred-commit-not-durable");
      return;
    }
    s.createSnapshot(applied, n.sm.confState, n.sm.encode());
    this.stats.snapshotsCreated++;
    const rng = this.clientRng;
    const keep = rng.pick([0, 1, 3, 10, 30]);
    const c = applied - keep;
    if (c >= s.firstIndex()) {
      s.compact(c);
      this.stats.compactions++;
    }
    if (this.trace !== null) this.log(`n${n.id} snapshot at ${applied}, compacted to ${s.firstIndex() - 1}`);
  }

  /** A member for a conf change to act on: in some profiles preferably the leader itself. */
  private pickMember(xs: bigint[], leader: bigint): bigint {
    const p = this.scenario.confChangeTargetsLeader;
    if (p > 0 && xs.includes(leader) && this.clientRng.chance(p)) return leader;
    return this.clientRng.pick(xs);
  }

  private confChangeOp(): void {
    const l = this.leader();
    if (l === null) return;
    const rng = this.clientRng;
    const r = l.raft!;
    const pending = r.pendingConfIndex > r.raftLog.applied;
    // Mostly wait for the previous change; sometimes propose anyway to exercise raft's refusal.
    if (pending && !rng.chance(0.1)) return;
    const cfg = r.trk.config;
    const joint = cfg.voters.outgoing.size > 0;
    let cc: ConfChangeI;
    const newIds: bigint[] = [];
    if (joint) {
      if (cfg.autoLeave && !rng.chance(0.2)) return;
      cc = new ConfChangeV2();
    } else {
      const voters = [...cfg.voters.incoming.ids].sort(compareIds);
      const learners = [...(cfg.learners ?? [])].sort(compareIds);
      const used = new Set<bigint>();
      const changes: ConfChangeSingle[] = [];
      const count = rng.chance(0.35) ? rng.range(2, 3) : 1;
      for (let k = 0; k < count; k++) {
        const kind = rng.intn(7);
        const fresh = () => {
          const id = this.nextId++;
          newIds.push(id);
          return id;
        };
        const avail = (xs: bigint[]) => xs.filter((x) => !used.has(x));
        let single: [ConfChangeType, bigint] | null = null;
        if (kind === 0) single = [ConfChangeType.ConfChangeAddNode, fresh()];
        else if (kind === 1) single = [ConfChangeType.ConfChangeAddLearnerNode, fresh()];
        else if (kind <= 5) {
          // Promote a learner, remove a voter or a learner, demote a voter.
          const [type, pool] = (
            [
              [ConfChangeType.ConfChangeAddNode, learners],
              [ConfChangeType.ConfChangeRemoveNode, voters],
              [ConfChangeType.ConfChangeRemoveNode, learners],
              [ConfChangeType.ConfChangeAddLearnerNode, voters],
            ] as const
          )[kind - 2]!;
          const xs = avail(pool);
          if (xs.length > 0) single = [type, this.pickMember(xs, l.id)];
        } else if (avail(voters).length > 0) {
          // Replace a voter: remove one and add a fresh one.
          const v = this.pickMember(avail(voters), l.id);
          used.add(v);
          changes.push(single1(ConfChangeType.ConfChangeRemoveNode, v));
          single = [ConfChangeType.ConfChangeAddNode, fresh()];
        }
        if (single === null) continue;
        used.add(single[1]);
        changes.push(single1(single[0], single[1]));
      }
      if (changes.length === 0) return;
      const transition = rng.pick([
        ConfChangeTransition.ConfChangeTransitionAuto,
        ConfChangeTransition.ConfChangeTransitionAuto,
        ConfChangeTransition.ConfChangeTransitionJointImplicit,
        ConfChangeTransition.ConfChangeTransitionJointExplicit,
      ]);
      if (
        changes.length === 1 &&
        transition === ConfChangeTransition.ConfChangeTransitionAuto &&
        rng.chance(0.5)
      ) {
        cc = new ConfChange(changes[0]!.type, changes[0]!.nodeId);
      } else {
        cc = new ConfChangeV2(changes, transition);
      }
      // Validate against the leader's configuration exactly as applying will.
      const v2 = cc instanceof ConfChangeV2 ? cc : new ConfChangeV2(changes);
      let result: ReturnType<Changer["simple"]>;
      try {
        const chg = new Changer(r.trk, r.raftLog.lastIndex());
        const isJoint =
          v2.transition !== ConfChangeTransition.ConfChangeTransitionAuto || v2.changes.length > 1;
        result = isJoint
          ? chg.enterJoint(
              v2.transition !== ConfChangeTransition.ConfChangeTransitionJointExplicit,
              v2.changes,
            )
          : chg.simple(v2.changes);
      } catch {
        // Invalid for this configuration (e.g. a demotion outside joint consensus).
        return;
      }
      const nv = result.config.voters.incoming.size;
      const minV = Math.min(this.scenario.minVoters, cfg.voters.incoming.size);
      if (nv < minV || nv > 7 || result.progress.size > 10) return;
    }
    for (const id of newIds) this.startNode(this.newNode(id));
    this.touch(l);
    this.stats.confChangesProposed++;
    if (this.trace !== null) this.log(`n${l.id} proposeConfChange ${describeCC(cc)}`);
    try {
      l.rn!.proposeConfChange(cc);
    } catch (err) {
      if (!(err instanceof RaftError) || err.code !== "ERR_PROPOSAL_DROPPED") throw err;
      this.stats.proposalsDropped++;
    }
  }
}

function single1(type: ConfChangeType, id: bigint): ConfChangeSingle {
  return new ConfChangeSingle(type, id);
}

function fmtHS(hs: HardState): string {
  return `${hs.term}/${hs.vote}/${hs.commit}`;
}

function describeCC(cc: ConfChangeI): string {
  const names = ["v", "r", "u", "l"];
  if (cc instanceof ConfChange) return `v1 ${names[cc.type]}${cc.nodeId}`;
  if (cc.changes.length === 0) return "v2 leave-joint";
  const tr = ["auto", "implicit", "explicit"][cc.transition];
  return `v2 ${tr} ${cc.changes.map((c) => `${names[c.type]}${c.nodeId}`).join(" ")}`;
}

function describeEntries(ents: readonly Entry[]): string {
  if (ents.length === 0) return "";
  const parts = ents.slice(0, 4).map((e) => {
    const what =
      e.type === EntryType.EntryNormal
        ? describeOp(e.data)
        : e.type === EntryType.EntryConfChange
          ? "cc"
          : "cc2";
    return `${e.index}/${e.term}:${what}`;
  });
  if (ents.length > 4) parts.push(`..${ents[ents.length - 1]!.index}`);
  return `[${parts.join(" ")}]`;
}

export function describeMessage(m: Message): string {
  let s = `${messageTypeNames[m.type]} ${m.from}->${m.to} t${m.term}`;
  switch (m.type) {
    case MessageType.MsgApp:
      s += ` prev=${m.index}/${m.logTerm} commit=${m.commit} ${describeEntries(m.entries)}`;
      break;
    case MessageType.MsgAppResp:
      s += ` idx=${m.index}${m.reject ? ` reject hint=${m.rejectHint}/${m.logTerm}` : ""}`;
      break;
    case MessageType.MsgVote:
    case MessageType.MsgPreVote:
      s += ` last=${m.index}/${m.logTerm}`;
      break;
    case MessageType.MsgVoteResp:
    case MessageType.MsgPreVoteResp:
      s += m.reject ? " reject" : " grant";
      break;
    case MessageType.MsgHeartbeat:
      s += ` commit=${m.commit}`;
      break;
    case MessageType.MsgSnap:
      s += ` snap=${m.snapshot?.metadata.index}/${m.snapshot?.metadata.term}`;
      break;
    case MessageType.MsgProp:
      s += ` ${describeEntries(m.entries)}`;
      break;
    case MessageType.MsgReadIndexResp:
      s += ` idx=${m.index}`;
      break;
  }
  return s;
}

function describeReady(
  hs: HardState,
  ents: readonly Entry[],
  snap: Snapshot | null,
  committed: readonly Entry[],
  msgs: readonly Message[],
): string {
  const parts: string[] = [];
  if (!isEmptyHardState(hs)) parts.push(`hs=${hs.term}/${hs.vote}/${hs.commit}`);
  if (ents.length > 0) parts.push(`ents=${describeEntries(ents)}`);
  if (!isEmptySnap(snap)) parts.push(`snap=${snap!.metadata.index}/${snap!.metadata.term}`);
  if (committed.length > 0)
    parts.push(`apply=${committed[0]!.index}..${committed[committed.length - 1]!.index}`);
  if (msgs.length > 0) parts.push(`msgs=${msgs.map((m) => messageTypeNames[m.type]!.slice(3)).join(",")}`);
  return parts.join(" ");
}

/** Runs one seed (with the requested bug planted for the duration of the run). */
export function runSeed(opts: SimOptions): SimResult {
  return withBug(opts.bug, () => new Simulation(opts).run());
}
