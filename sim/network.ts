// The network and fault model. Messages travel as encoded bytes (so every
// message crosses the wire codec, in either of etcd's two wire versions) with
// a latency drawn per message; during chaos the links can drop, duplicate,
// delay (reorder) messages, and be cut symmetrically or one way; faultOp also
// crashes and restarts members. The transport reports what a real one would:
// a snapshot's delivery or loss (reportSnapshot) and, sometimes, an
// unreachable peer (reportUnreachable).
//
// Invariants:
//   - every draw here comes from netRng (delivery) or faultRng (faults), so
//     a change in the workload does not change the network's decisions;
//   - a cut link (blocked) drops a message both when it is sent and when it
//     would arrive: healing a partition does not deliver what was cut;
//   - a message to a down member is lost, never queued for its restart;
//   - reset() (the heal) clears every partition and network fault at once.

import { type Message, MessageType, StateType } from "../src/index.ts";
import { decodeMessage, encodeMessage } from "../src/wire.ts";
import type { Cluster } from "./cluster.ts";
import { describeMessage } from "./describe.ts";
import { EV_DELIVER, EV_RESTART, EV_SNAPSTATUS, EV_UNREACHABLE, type Ev } from "./events.ts";
import type { SimNode } from "./node.ts";
import { TICK } from "./scenario.ts";

export class Network {
  private sendSeq = 0;
  /** A leader whose outbound links are cut once the current step's messages are out (leases profile). */
  private isolateAfterStep: SimNode | null = null;
  /** Cut links, as linkKey(from, to). */
  private readonly blocked = new Set<number>();
  private dropRate = 0;
  private dupRate = 0;
  private delayRate = 0;
  private latMax: number;
  /** Per link, the highest send sequence number delivered (to count reordering). */
  private readonly lastDelivered = new Map<number, number>();

  constructor(private readonly c: Cluster) {
    this.latMax = c.scenario.latency[1];
  }

  /** The heal: no partitions, no loss, duplication or delay, base latency. */
  reset(): void {
    this.blocked.clear();
    this.dropRate = 0;
    this.dupRate = 0;
    this.delayRate = 0;
    this.latMax = this.c.scenario.latency[1];
  }

  /** After a step: cuts the outbound links of a leader chosen during it (its heartbeats of this step are out). */
  applyPendingIsolation(): void {
    const x = this.isolateAfterStep;
    if (x !== null) {
      this.isolateAfterStep = null;
      for (const o of this.c.nodes.keys()) if (o !== x.id) this.blocked.add(this.linkKey(x.id, o));
      this.c.fault("isolate-leader");
      if (this.c.trace !== null)
        this.c.log(`fault: isolate leader n${x.id} (outbound only) right after a heartbeat round`);
    }
  }

  // The simulator's node IDs stay far below 2^16, so a link is one number.
  private linkKey(from: bigint, to: bigint): number {
    return Number(from) * 65536 + Number(to);
  }

  private isBlocked(from: bigint, to: bigint): boolean {
    return this.blocked.size > 0 && this.blocked.has(this.linkKey(from, to));
  }

  send(from: SimNode, m: Message): void {
    this.c.noteOutgoing(from, m);
    this.c.stats.messagesSent++;
    if (m.type === MessageType.MsgSnap) this.c.stats.snapshotsSent++;
    const to = this.c.nodes.get(m.to);
    if (to === undefined) {
      this.c.fault("dropped-unknown-peer");
      return;
    }
    const p = this.c.scenario.isolateAfterHeartbeat;
    if (
      p > 0 &&
      m.type === MessageType.MsgHeartbeat &&
      this.c.phase === "chaos" &&
      this.isolateAfterStep === null &&
      from.raft?.state === StateType.StateLeader &&
      this.c.faultRng.chance(p)
    ) {
      this.isolateAfterStep = from;
    }
    const rng = this.c.netRng;
    if (this.isBlocked(m.from, m.to)) {
      this.c.fault("partition-drop");
      this.lost(from, m);
      return;
    }
    if (this.dropRate > 0 && rng.chance(this.dropRate)) {
      this.c.fault("drop");
      this.lost(from, m);
      return;
    }
    const bytes = encodeMessage(m, rng.chance(0.5) ? "P37" : "G36");
    const seqNo = this.sendSeq++;
    this.scheduleDelivery(from, m, bytes, seqNo);
    if (this.dupRate > 0 && rng.chance(this.dupRate)) {
      this.c.fault("duplicate");
      this.scheduleDelivery(from, m, bytes, seqNo);
    }
  }

  private scheduleDelivery(from: SimNode, m: Message, bytes: Uint8Array, seqNo: number): void {
    const rng = this.c.netRng;
    let lat = rng.range(this.c.scenario.latency[0], this.latMax);
    if (this.delayRate > 0 && rng.chance(this.delayRate)) {
      this.c.fault("delay");
      lat += rng.range(TICK, this.c.scenario.maxDelayTicks * TICK);
    }
    const ev = this.c.schedule(EV_DELIVER, lat, from);
    ev.bytes = bytes;
    ev.from = m.from;
    ev.to = m.to;
    ev.mtype = m.type;
    ev.num = seqNo;
  }

  // The transport noticed a message did not get through.
  private lost(from: SimNode, m: Message): void {
    if (m.type === MessageType.MsgSnap) {
      const ev = this.c.schedule(EV_SNAPSTATUS, 1 + this.c.netRng.intn(TICK), from);
      ev.to = m.to;
      ev.num = 0;
      this.c.fault("snapshot-failure-reported");
    } else if (this.c.netRng.chance(0.3)) {
      const ev = this.c.schedule(EV_UNREACHABLE, 1 + this.c.netRng.intn(TICK), from);
      ev.to = m.to;
      this.c.fault("unreachable-reported");
    }
  }

  deliver(ev: Ev): void {
    const to = this.c.nodes.get(ev.to)!;
    const sender = ev.node!;
    const isSnap = ev.mtype === MessageType.MsgSnap;
    const lostAs = (kind: string) => {
      this.c.fault(kind);
      if (isSnap && sender.inc === ev.inc) {
        const st = this.c.schedule(EV_SNAPSTATUS, 1 + this.c.netRng.intn(TICK), sender);
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
    if (ev.num < last) this.c.fault("reordered");
    else this.lastDelivered.set(key, ev.num);
    this.c.stats.messagesDelivered++;
    if (this.c.trace !== null) this.c.log(`n${to.id} recv ${describeMessage(m)}`);
    this.c.stepNode(to, m);
    if (isSnap && sender.inc === ev.inc) {
      const st = this.c.schedule(EV_SNAPSTATUS, 1 + this.c.netRng.intn(TICK), sender);
      st.inc = ev.inc;
      st.to = ev.to;
      // Occasionally the transport reports failure although the snapshot arrived.
      st.num = this.c.netRng.chance(0.05) ? 0 : 1;
    }
  }

  faultOp(): void {
    const rng = this.c.faultRng;
    const w = this.c.scenario.faultWeights;
    const kind = rng.weighted([
      w.partition,
      w.asymmetric,
      w.isolateLeader,
      w.heal,
      w.crash,
      w.restart,
      w.network,
    ]);
    const ids = [...this.c.nodes.keys()];
    switch (kind) {
      case 0: {
        // Symmetric partition into two groups.
        this.blocked.clear();
        const side = new Set(ids.filter(() => rng.chance(0.5)));
        for (const a of ids)
          for (const b of ids)
            if (a !== b && side.has(a) !== side.has(b)) this.blocked.add(this.linkKey(a, b));
        this.c.fault("partition");
        if (this.c.trace !== null)
          this.c.log(
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
        this.c.fault("partition-asymmetric");
        if (this.c.trace !== null)
          this.c.log(
            `fault: asymmetric partition (${["no inbound to", "no outbound from", "one-way links near"][mode]} n${x})`,
          );
        return;
      }
      case 2: {
        const l = this.c.leader();
        const x = l?.id ?? rng.pick(ids);
        const mode = rng.intn(3);
        for (const o of ids) {
          if (o === x) continue;
          if (mode !== 1) this.blocked.add(this.linkKey(o, x));
          if (mode !== 2) this.blocked.add(this.linkKey(x, o));
        }
        this.c.fault("isolate-leader");
        if (this.c.trace !== null)
          this.c.log(
            `fault: isolate ${l ? "leader " : ""}n${x} (${["both ways", "outbound only", "inbound only"][mode]})`,
          );
        return;
      }
      case 3:
        if (this.blocked.size > 0) {
          this.blocked.clear();
          this.c.fault("partition-healed");
          if (this.c.trace !== null) this.c.log("fault: partitions healed");
        }
        return;
      case 4: {
        const up = [...this.c.liveNodes()];
        if (up.length === 0) return;
        const l = this.c.leader();
        const n = l !== null && rng.chance(0.3) ? l : rng.pick(up);
        this.c.crash(n);
        const ev = this.c.schedule(EV_RESTART, TICK * rng.range(2, 4 * this.c.scenario.electionTick), n);
        ev.inc = n.inc;
        return;
      }
      case 5: {
        const down = [...this.c.nodes.values()].filter((n) => n.rn === null && !n.retired);
        if (down.length > 0) this.c.restart(rng.pick(down));
        return;
      }
      default: {
        const s = this.c.scenario;
        this.dropRate = rng.chance(0.3) ? 0 : rng.float() * s.maxDropRate;
        this.dupRate = rng.chance(0.3) ? 0 : rng.float() * s.maxDupRate;
        this.delayRate = rng.chance(0.3) ? 0 : rng.float() * s.maxDelayRate;
        this.latMax = rng.chance(0.5) ? s.latency[1] : s.latency[1] * rng.range(1, 8);
        this.c.fault("network-change");
        if (this.c.trace !== null)
          this.c.log(
            `fault: network drop=${this.dropRate.toFixed(3)} dup=${this.dupRate.toFixed(3)} delay=${this.delayRate.toFixed(3)} latency<=${this.latMax}`,
          );
      }
    }
  }
}
