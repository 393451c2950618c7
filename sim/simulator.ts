// Deterministic simulation of a raft cluster. One seed drives everything:
// the scenario, each node's election randomness, the network (latency,
// drops, duplicates, reordering, long delays, symmetric and asymmetric
// partitions), crashes and restarts that lose whatever was not yet durable,
// and the workload (writes, ReadIndex reads, membership changes, leader
// transfers, snapshots and compaction). The run alternates chaos with healing;
// after each heal a leader must emerge and a fresh proposal must commit
// within a bounded number of ticks. The Checker verifies raft's safety
// properties after every step.
//
// This file holds the step loop: pop the next event, dispatch it to the part
// that handles it, then check every node the step touched and offer it a
// Ready; and the phases (chaos -> heal -> calm -> chaos ... until the tick
// budget is spent). The parts:
//   cluster.ts     shared state: members and their lifecycle, clock, event
//                  queue, random streams, statistics, trace
//   network.ts     messages on the wire, the network faults, crashes/restarts
//   workload.ts    clients: writes, reads, transfers, snapshots, markers
//   membership.ts  configuration changes, retiring removed members, deadlocks
//   ready_loop.ts  each member's Ready handling, persistence and apply
//   invariants.ts  the simulator's own checks (strict leases, snapshots)
//   describe.ts    trace formatting
//
// Invariants of the loop:
//   - events run in (time, seq) order and a step is one event: the run is a
//     pure function of the seed (and the options);
//   - after every step, every node it touched has been observed by the
//     checker before any later event runs (safety is checked at every step,
//     at a cost proportional to what the step changed);
//   - a heal clears every fault and restarts every down member; the next
//     chaos starts only after a fresh proposal (a marker) committed, or the
//     run fails with "liveness" (or, with --etcd-membership, ends at a known
//     membership deadlock).

import { ConfState, Snapshot as SnapshotClass, SnapshotMetadata, SnapshotStatus } from "../src/index.ts";
import { withBug } from "./bugs.ts";
import { InvariantViolation } from "./checker.ts";
import { Cluster } from "./cluster.ts";
import { describeCluster } from "./describe.ts";
import {
  EV_APPEND,
  EV_APPLY,
  EV_CHAOS,
  EV_CLIENT,
  EV_DEADLINE,
  EV_DELIVER,
  EV_FAULT,
  EV_HEAL,
  EV_PERSIST,
  EV_PROBE,
  EV_READY,
  EV_RESTART,
  EV_SNAPSTATUS,
  EV_TICK,
  EV_UNREACHABLE,
  type Ev,
} from "./events.ts";
import { checkLeases, collectLeaseStats } from "./invariants.ts";
import { Membership } from "./membership.ts";
import { Network } from "./network.ts";
import type { Failure, SimOptions, SimResult, SimStats } from "./options.ts";
import { ReadyLoop } from "./ready_loop.ts";
import { describeScenario, type Scenario, TICK } from "./scenario.ts";
import { FNV_OFFSET, StateMachine } from "./state_machine.ts";
import { Workload } from "./workload.ts";

export type { Failure, SimOptions, SimResult, SimStats } from "./options.ts";

export class Simulation {
  readonly seed: number;
  readonly scenario: Scenario;
  readonly stats: SimStats;
  private readonly c: Cluster;
  private readonly net: Network;
  private readonly members: Membership;
  private readonly work: Workload;
  private readonly ready: ReadyLoop;

  constructor(opts: SimOptions) {
    this.c = new Cluster(opts);
    this.seed = this.c.seed;
    this.scenario = this.c.scenario;
    this.stats = this.c.stats;
    this.net = new Network(this.c);
    this.members = new Membership(this.c);
    this.work = new Workload(this.c, this.members);
    this.ready = new ReadyLoop(this.c, this.net, this.work, (id) => this.onMarkerApplied(id));
  }

  run(): SimResult {
    let failure: Failure | null = null;
    try {
      this.setup();
      while (!this.c.done) {
        const ev = this.c.heap.pop();
        if (ev === undefined) throw new InvariantViolation("internal", "the event queue ran dry");
        this.c.now = ev.time;
        this.c.stats.steps++;
        if (this.c.stats.steps > this.c.maxSteps) {
          throw new InvariantViolation("step-budget", `more than ${this.c.maxSteps} steps (livelock?)`);
        }
        this.dispatch(ev);
        this.afterStep();
      }
      for (const n of this.c.liveNodes()) this.c.checker.checkWholeLog(n);
      for (const n of this.c.liveNodes()) collectLeaseStats(this.c.stats, n);
    } catch (err) {
      failure = this.toFailure(err);
      if (this.c.trace !== null) this.c.log(`FAILURE ${failure.kind}: ${failure.message}`);
      if (this.c.trace !== null) for (const line of this.describeCluster()) this.c.log(line);
    }
    const st = this.c.stats;
    st.ticks = Math.floor(this.c.now / TICK);
    st.nodes = this.c.nodes.size;
    st.elections = this.c.checker.stats.leaders;
    st.maxTerm = this.c.checker.stats.maxTerm;
    st.committed = this.c.checker.maxCommitted;
    return {
      seed: this.c.seed,
      ok: failure === null,
      knownLimitations: this.c.knownLimitations,
      scenario: describeScenario(this.c.scenario),
      failure,
      stats: st,
    };
  }

  private toFailure(err: unknown): Failure {
    const base = { step: this.c.stats.steps, time: this.c.now };
    if (err instanceof InvariantViolation) return { kind: err.kind, message: err.message, ...base };
    const e = err instanceof Error ? err : new Error(String(err));
    const where = (e.stack ?? "").split("\n").slice(1, 4).join(" | ");
    return { kind: `exception:${e.name}`, message: `${e.message} [${where.trim()}]`, ...base };
  }

  /** One line per node: role, term, log and configuration (printed with a failing trace). */
  describeCluster(): string[] {
    return describeCluster(this.c.nodes.values());
  }

  private setup(): void {
    const s = this.c.scenario;
    if (this.c.trace !== null) this.c.log(`seed ${this.c.seed}: ${describeScenario(s)}`);
    const voters: bigint[] = [];
    for (let id = 1n; id <= BigInt(s.size); id++) voters.push(id);
    const boot = new StateMachine(1, FNV_OFFSET, new ConfState(voters.slice()));
    const bootSnap = new SnapshotClass(
      boot.encode(),
      new SnapshotMetadata(new ConfState(voters.slice()), 1, 1),
    );
    this.c.checker.seed(1, 1, FNV_OFFSET);
    for (const id of voters) {
      const n = this.c.newNode(id);
      n.everMember = true;
      n.storage.applySnapshot(bootSnap);
      this.c.startNode(n);
    }
    this.c.schedule(EV_CLIENT, 1 + this.c.clientRng.intn(this.c.scenario.clientEvery));
    this.startChaos();
  }

  private afterStep(): void {
    this.net.applyPendingIsolation();
    if (this.c.strictLeases) checkLeases(this.c);
    const list = this.c.touchedList;
    for (let i = 0; i < list.length; i++) {
      const n = list[i]!;
      n.touched = false;
      if (n.rn === null) continue;
      this.c.checker.observe(n);
      if (!n.readyScheduled && n.inflight === null && n.rn.hasReady()) {
        n.readyScheduled = true;
        this.c.schedule(EV_READY, this.c.rng.intn(2), n);
      }
    }
    list.length = 0;
  }

  private dispatch(ev: Ev): void {
    switch (ev.kind) {
      case EV_TICK: {
        const n = this.c.alive(ev);
        if (n === null) return;
        this.c.touch(n);
        n.rn!.tick();
        this.c.scheduleAt(EV_TICK, ev.time + n.tickPeriod, n);
        return;
      }
      case EV_READY: {
        const n = this.c.alive(ev);
        if (n === null) return;
        n.readyScheduled = false;
        if (n.async) this.ready.handleReadyAsync(n);
        else this.ready.handleReadySync(n);
        return;
      }
      case EV_PERSIST: {
        const n = this.c.alive(ev);
        if (n !== null) this.ready.handlePersist(n);
        return;
      }
      case EV_APPEND: {
        const n = this.c.alive(ev);
        if (n !== null) this.ready.handleAppendThread(n);
        return;
      }
      case EV_APPLY: {
        const n = this.c.alive(ev);
        if (n !== null) this.ready.handleApplyThread(n);
        return;
      }
      case EV_DELIVER:
        this.net.deliver(ev);
        return;
      case EV_CLIENT:
        this.work.clientOp();
        this.c.schedule(EV_CLIENT, 1 + this.c.clientRng.intn(2 * this.c.scenario.clientEvery));
        return;
      case EV_FAULT:
        if (this.c.phase !== "chaos") return;
        this.net.faultOp();
        this.c.schedule(EV_FAULT, TICK * (1 + this.c.faultRng.intn(2 * this.c.scenario.faultEvery)));
        return;
      case EV_HEAL:
        this.heal();
        return;
      case EV_CHAOS:
        if (this.c.now >= this.c.endTime) this.c.done = true;
        else this.startChaos();
        return;
      case EV_PROBE:
        if (this.c.phase === "heal" && ev.num === this.c.healEpoch) {
          this.work.proposeMarker();
          this.c.schedule(EV_PROBE, this.c.scenario.heartbeatTick * TICK).num = this.c.healEpoch;
        }
        return;
      case EV_DEADLINE:
        if (this.c.phase === "heal" && ev.num === this.c.healEpoch) {
          const why = this.members.membershipDeadlock();
          if (why !== null && this.c.opts.etcdMembership !== true) {
            throw new InvariantViolation("membership-deadlock", why);
          }
          if (why !== null) {
            // A known limitation shared with etcd (see the README): report it, end the run.
            this.c.knownLimitations.push(`membership deadlock: ${why}`);
            if (this.c.trace !== null) this.c.log(`--- known limitation: membership deadlock: ${why} ---`);
            this.c.done = true;
            return;
          }
          throw new InvariantViolation(
            "liveness",
            `no new proposal committed within ${this.c.livenessTicks} ticks of healing all faults (leader: ${this.c.leader()?.id ?? "none"})`,
          );
        }
        return;
      case EV_RESTART: {
        const n = ev.node!;
        if (n.rn === null && !n.retired && n.inc === ev.inc) this.c.restart(n);
        return;
      }
      case EV_SNAPSTATUS: {
        const n = this.c.alive(ev);
        if (n === null) return;
        this.c.touch(n);
        n.rn!.reportSnapshot(
          ev.to,
          ev.num === 1 ? SnapshotStatus.SnapshotFinish : SnapshotStatus.SnapshotFailure,
        );
        if (this.c.trace !== null)
          this.c.log(`n${n.id} reportSnapshot(${ev.to}, ${ev.num === 1 ? "finish" : "failure"})`);
        return;
      }
      case EV_UNREACHABLE: {
        const n = this.c.alive(ev);
        if (n === null) return;
        this.c.touch(n);
        n.rn!.reportUnreachable(ev.to);
        return;
      }
    }
  }

  private startChaos(): void {
    this.c.phase = "chaos";
    if (this.c.trace !== null) this.c.log("--- chaos ---");
    this.c.schedule(EV_FAULT, TICK * (1 + this.c.faultRng.intn(this.c.scenario.faultEvery)));
    this.c.schedule(EV_HEAL, this.c.scenario.chaosTicks * TICK);
  }

  private heal(): void {
    this.c.phase = "heal";
    this.c.healEpoch++;
    this.c.healStart = this.c.now;
    this.c.stats.healCycles++;
    this.net.reset();
    if (this.c.trace !== null)
      this.c.log("--- heal: partitions and network faults cleared, every node restarted ---");
    for (const n of this.c.nodes.values()) if (n.rn === null && !n.retired) this.c.restart(n);
    this.c.schedule(EV_PROBE, TICK).num = this.c.healEpoch;
    this.c.schedule(EV_DEADLINE, this.c.livenessTicks * TICK).num = this.c.healEpoch;
  }

  private onMarkerApplied(id: number): void {
    if (this.c.phase !== "heal" || !this.work.markers.has(id)) return;
    const ticks = Math.ceil((this.c.now - this.c.healStart) / TICK);
    this.c.stats.livenessTicks.push(ticks);
    this.work.markers.clear();
    if (this.c.trace !== null)
      this.c.log(`--- live again: marker m${id} committed ${ticks} ticks after the heal ---`);
    if (this.c.now >= this.c.endTime) {
      this.c.done = true;
      return;
    }
    this.c.phase = "calm";
    this.c.schedule(EV_CHAOS, this.c.scenario.calmTicks * TICK);
  }
}

/** Runs one seed (with the requested bug planted for the duration of the run). */
export function runSeed(opts: SimOptions): SimResult {
  return withBug(opts.bug, () => new Simulation(opts).run());
}
