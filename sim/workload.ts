// The workload: clients writing keys (each write a unique operation ID, so
// an acknowledgement is exact), ReadIndex reads tagged with a read ID, leader
// transfers, snapshots with log compaction, campaigns and forgetLeader, and
// the liveness markers proposed after each heal. Clients behave like a
// server's: bounded concurrency, writes abandoned after a timeout (a dropped
// proposal is never answered), and backpressure while the leader's
// uncommitted tail is long.
//
// Invariants:
//   - every draw comes from clientRng;
//   - a read carries the highest index of any write acknowledged before it
//     started (minIndex); the read index raft gives it must not be lower
//     (linearizability). etcd's lease-based reads may break this: counted as
//     stale lease reads, not failures, unless strict leases are on or
//     --strict-lease asks for it;
//   - a write is acknowledged once, when the first member applies it;
//   - a snapshot is taken only at an applied index the member's durable
//     commit index covers (etcd-io/etcd#10217).

import { RaftError, type ReadState, StateType } from "../src/index.ts";
import { InvariantViolation } from "./checker.ts";
import type { Cluster } from "./cluster.ts";
import type { Membership } from "./membership.ts";
import type { SimNode } from "./node.ts";
import { TICK } from "./scenario.ts";
import { describeOp, encodeOp, KIND_MARKER, KIND_WRITE } from "./state_machine.ts";

/** First byte of a read's context: the simulator's reads are recognised by it. */
const READ_CTX_TAG = 0x52;
/** Backpressure: no new writes (or markers, once one is in flight) while the leader has this many uncommitted entries. */
const MAX_UNCOMMITTED_TAIL = 32;

export class Workload {
  private nextOpId = 1;
  private readonly acked = new Set<number>();
  /** Writes proposed but not yet acknowledged: id -> proposal time (clients have bounded concurrency). */
  private readonly inflightWrites = new Map<number, number>();
  /** The highest log index of an acknowledged write. */
  private maxAckedIndex = 0;
  private readonly reads = new Map<number, { node: bigint; start: number; minIndex: number }>();
  private nextReadId = 1;
  /** Liveness markers proposed since the last heal (any one committing proves liveness). */
  readonly markers = new Set<number>();

  constructor(
    private readonly c: Cluster,
    private readonly members: Membership,
  ) {}

  /** A write was applied at `index` by some member: acknowledged the first time. */
  onWriteApplied(id: number, index: number): void {
    if (!this.acked.has(id)) {
      this.acked.add(id);
      this.inflightWrites.delete(id);
      this.c.stats.writesAcked++;
      if (index > this.maxAckedIndex) this.maxAckedIndex = index;
    }
  }

  proposeMarker(): void {
    // Markers obey the same backpressure as writes once one is in flight,
    // or a slow cluster would drown in them.
    const l = this.c.leader();
    if (this.markers.size > 0 && l !== null && this.uncommittedTail(l) >= MAX_UNCOMMITTED_TAIL) return;
    const target = this.pickTarget(0.5);
    if (target === null) return;
    const id = this.nextOpId++;
    this.markers.add(id);
    this.propose(target, encodeOp(KIND_MARKER, 0, id));
  }

  private uncommittedTail(n: SimNode): number {
    const log = n.raft!.raftLog;
    return log.lastIndex() - log.committed;
  }

  private pickTarget(leaderBias: number): SimNode | null {
    const l = this.c.leader();
    if (l !== null && this.c.clientRng.chance(leaderBias)) return l;
    const up = [...this.c.liveNodes()];
    return up.length === 0 ? null : this.c.clientRng.pick(up);
  }

  private propose(n: SimNode, data: Uint8Array): void {
    this.c.touch(n);
    this.c.stats.proposals++;
    try {
      n.rn!.propose(data);
      if (this.c.trace !== null) this.c.log(`n${n.id} propose ${describeOp(data)}`);
    } catch (err) {
      if (!(err instanceof RaftError) || err.code !== "ERR_PROPOSAL_DROPPED") throw err;
      this.c.stats.proposalsDropped++;
      if (this.c.trace !== null) this.c.log(`n${n.id} propose ${describeOp(data)}: dropped`);
    }
  }

  clientOp(): void {
    const rng = this.c.clientRng;
    this.members.retireRemoved();
    const healing = this.c.phase === "heal";
    const s = this.c.scenario;
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
        this.members.confChangeOp();
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
        this.c.touch(n);
        if (this.c.trace !== null) this.c.log(`n${n.id} campaign`);
        n.rn!.campaign();
        return;
      }
      default: {
        const n = this.pickTarget(0);
        if (n === null || n.raft!.state !== StateType.StateFollower) return;
        this.c.touch(n);
        if (this.c.trace !== null) this.c.log(`n${n.id} forgetLeader`);
        n.rn!.forgetLeader();
      }
    }
  }

  private writeOp(): void {
    // Clients give up on a write after a while (a dropped proposal is never answered).
    const expiry = this.c.now - 5 * this.c.scenario.electionTick * TICK;
    for (const [id, t] of this.inflightWrites) {
      if (t >= expiry) break;
      this.inflightWrites.delete(id);
    }
    if (this.inflightWrites.size >= this.c.scenario.clientConcurrency) return;
    // Backpressure, as a server would apply: no new writes while the leader
    // has a long uncommitted tail (expired writes would otherwise pile up
    // behind a partition without bound).
    const l = this.c.leader();
    if (l !== null && this.uncommittedTail(l) >= MAX_UNCOMMITTED_TAIL) {
      this.c.fault("write-backpressure");
      return;
    }
    const n = this.pickTarget(0.6);
    if (n === null) return;
    const id = this.nextOpId++;
    this.inflightWrites.set(id, this.c.now);
    this.propose(n, encodeOp(KIND_WRITE, this.c.clientRng.intn(8), id));
  }

  private startRead(): void {
    const n = this.readTarget();
    if (n === null) return;
    const rid = this.nextReadId++;
    const ctx = new Uint8Array(5);
    ctx[0] = READ_CTX_TAG;
    new DataView(ctx.buffer).setUint32(1, rid);
    this.reads.set(rid, { node: n.id, start: this.c.now, minIndex: this.maxAckedIndex });
    this.c.stats.reads++;
    this.c.touch(n);
    n.rn!.readIndex(ctx);
    if (this.c.trace !== null)
      this.c.log(`n${n.id} readIndex r${rid} (acked writes up to ${this.maxAckedIndex})`);
  }

  /** Where a read goes: usually the current leader, in some profiles any node that believes it leads. */
  private readTarget(): SimNode | null {
    const p = this.c.scenario.readsAtAnyLeader;
    if (p > 0 && this.c.clientRng.chance(p)) {
      let oldest: SimNode | null = null;
      for (const x of this.c.liveNodes()) {
        const r = x.raft!;
        if (r.state === StateType.StateLeader && (oldest === null || r.term < oldest.raft!.term)) oldest = x;
      }
      if (oldest !== null) return oldest;
    }
    return this.pickTarget(0.6);
  }

  onReadState(n: SimNode, rs: ReadState): void {
    const ctx = rs.requestCtx;
    if (ctx.length !== 5 || ctx[0] !== READ_CTX_TAG) {
      throw new InvariantViolation("read", `node ${n.id} got a read state with a foreign context`);
    }
    const rid = new DataView(ctx.buffer, ctx.byteOffset, ctx.byteLength).getUint32(1);
    const read = this.reads.get(rid);
    if (read === undefined)
      throw new InvariantViolation("read", `node ${n.id} got a read state for unknown read ${rid}`);
    this.c.stats.readStates++;
    this.c.checker.stats.readsChecked++;
    if (rs.index < read.minIndex) {
      const msg =
        `read r${rid} started on node ${read.node} at tick ${(read.start / TICK).toFixed(1)} after writes up to ` +
        `index ${read.minIndex} were acknowledged, but was given read index ${rs.index}`;
      if (this.c.scenario.leaseReads && !this.c.strictLeases && !this.c.opts.strictLease) {
        this.c.stats.leaseStaleReads++;
        if (this.c.trace !== null) this.c.log(`stale lease-based read: ${msg}`);
      } else {
        throw new InvariantViolation("linearizability", msg);
      }
    }
    if (!this.maybeServe(n, rid, rs.index)) n.pendingReads.push([rid, rs.index]);
  }

  maybeServe(n: SimNode, _rid: number, index: number): boolean {
    if (n.sm.applied < index) return false;
    this.c.stats.readsServed++;
    return true;
  }

  private transferOp(): void {
    const l = this.c.leader();
    if (l === null) return;
    const rng = this.c.clientRng;
    const voters = l.raft!.trk.voterNodes().filter((id) => id !== l.id);
    const target =
      voters.length > 0 && rng.chance(0.85) ? rng.pick(voters) : rng.pick([...this.c.nodes.keys()]);
    // Usually asked of the leader, sometimes of a follower (which forwards it).
    const via = rng.chance(0.8) ? l : this.pickTarget(0);
    if (via === null) return;
    this.c.touch(via);
    this.c.stats.transfers++;
    if (this.c.trace !== null) this.c.log(`n${via.id} transferLeader(${target})`);
    via.rn!.transferLeader(target);
  }

  private snapshotOp(): void {
    const n = this.pickTarget(0.3);
    if (n === null) return;
    const s = n.storage;
    const snapIndex = s.storedSnapshot().metadata.index;
    const applied = n.sm.applied;
    if (applied - snapIndex < this.c.scenario.snapGap || applied > s.lastIndex()) return;
    // The durable applied index must not pass the durable commit index, or
    // raft cannot restart (etcd-io/etcd#10217). With async storage writes the
    // apply thread can run ahead of the append thread that persists Commit.
    if (applied > s.initialState().hardState.commit) {
      this.c.fault("snapshot-deferred-commit-not-durable");
      return;
    }
    s.createSnapshot(applied, n.sm.confState, n.sm.encode());
    this.c.stats.snapshotsCreated++;
    const rng = this.c.clientRng;
    const keep = rng.pick([0, 1, 3, 10, 30]);
    const c = applied - keep;
    if (c >= s.firstIndex()) {
      s.compact(c);
      this.c.stats.compactions++;
    }
    if (this.c.trace !== null)
      this.c.log(`n${n.id} snapshot at ${applied}, compacted to ${s.firstIndex() - 1}`);
  }
}
