// What a linearizable read costs with each ReadIndex mode: ReadOnlySafe (a
// heartbeat round per read), etcd's ReadOnlyLeaseBased (no round; can be
// stale, see docs/leases.md) and the strict lease (no round while the lease
// holds, a round otherwise). Three in-process RawNode voters (the
// RawNode3Voters configuration of voters.ts: ElectionTick=10,
// HeartbeatTick=1), node 1 leading.
//
//   * latency in ticks: a discrete-time run in which every member ticks once
//     per tick, a message takes 0.05 tick one way (0.1 tick round trip), and
//     reads reach the leader at random moments; the latency of a read is the
//     time from readIndex() to its ReadState. A lossy variant drops 20% of
//     the heartbeats and of their acknowledgements.
//   * CPU in µs: reads issued back to back on the leader, every message
//     delivered at once (stabilize), from readIndex() to the ReadState.
import {
  discardLogger,
  type LeaseSafety,
  type Message,
  MessageType,
  RawNode,
  ReadOnlyOption,
  Xoshiro128,
} from "../src/index.ts";
import { utf8 } from "../src/internal.ts";
import { median, quick, type Row, report, since } from "./lib.ts";
import { benchConfig, snapshotStorage } from "./voters.ts";

interface Mode {
  name: string;
  readOnlyOption: ReadOnlyOption;
  leaseSafety: LeaseSafety;
}

const MODES: Mode[] = [
  { name: "safe (ReadOnlySafe)", readOnlyOption: ReadOnlyOption.ReadOnlySafe, leaseSafety: "etcd" },
  {
    name: "lease (etcd's ReadOnlyLeaseBased)",
    readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased,
    leaseSafety: "etcd",
  },
  { name: "strict lease", readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased, leaseSafety: "strict" },
];

/** Three voters under `mode`, node 1 elected (past the strict lease's start-up hold). */
function cluster(mode: Mode): RawNode[] {
  const ids = [1n, 2n, 3n];
  const nodes = ids.map(
    (id) =>
      new RawNode(
        benchConfig(id, snapshotStorage(ids), {
          checkQuorum: true,
          readOnlyOption: mode.readOnlyOption,
          leaseSafety: mode.leaseSafety,
          logger: discardLogger,
        }),
      ),
  );
  for (const n of nodes) for (let i = 0; i < 10; i++) n.tickQuiesced();
  nodes[0]!.campaign();
  stabilize(nodes, () => {});
  if (nodes[0]!.raft.lead !== 1n) throw new Error("node 1 did not become leader");
  return nodes;
}

/** Handles Readies and delivers messages at once until quiet; onRead sees every ReadState. */
function stabilize(nodes: RawNode[], onRead: (node: number, ctx: Uint8Array) => void): number {
  let sent = 0;
  for (;;) {
    const msgs: Message[] = [];
    for (let i = 0; i < nodes.length; i++) {
      const rn = nodes[i]!;
      if (!rn.hasReady()) continue;
      const rd = rn.ready();
      const s = rn.raft.raftLog.storage as ReturnType<typeof snapshotStorage>;
      const hs = rd.hardState;
      if (hs.term !== 0 || hs.vote !== 0n || hs.commit !== 0) s.setHardState(hs);
      s.append(rd.entries);
      for (const rs of rd.readStates) onRead(i, rs.requestCtx);
      for (const m of rd.messages) msgs.push(m);
      rn.advance(rd);
    }
    if (msgs.length === 0) return sent;
    sent += msgs.length;
    for (const m of msgs) nodes[Number(m.to) - 1]!.step(m);
  }
}

// --- latency in ticks ----------------------------------------------------------

const UNITS_PER_TICK = 100;
const HOP = 5; // 0.05 tick one way

interface LatencyResult {
  mean: number;
  p99: number;
  max: number;
  msgsPerRead: number;
  local: number;
  fallback: number;
}

/** A deterministic stream of floats in [0, 1) from the project's seeded generator. */
function rng(seed: number): () => number {
  const r = new Xoshiro128(seed);
  return () => r.float();
}

function latency(mode: Mode, ticks: number, readsPerTick: number, lossy: boolean): LatencyResult {
  const nodes = cluster(mode);
  const rand = rng(42);
  const inFlight: { at: number; m: Message }[] = [];
  const issued = new Map<string, number>();
  const lat: number[] = [];
  let messages = 0;
  let readNo = 0;
  const heartbeatish = (t: MessageType) =>
    t === MessageType.MsgHeartbeat || t === MessageType.MsgHeartbeatResp;
  const end = ticks * UNITS_PER_TICK;
  for (let now = 0; now < end; now++) {
    // Deliver what arrives now.
    for (let i = 0; i < inFlight.length; ) {
      const f = inFlight[i]!;
      if (f.at > now) {
        i++;
        continue;
      }
      inFlight.splice(i, 1);
      nodes[Number(f.m.to) - 1]!.step(f.m);
    }
    if (now % UNITS_PER_TICK === 0) for (const n of nodes) n.tick();
    // Reads reach the leader at random moments (a Poisson process).
    if (rand() < readsPerTick / UNITS_PER_TICK) {
      const ctx = `r${readNo++}`;
      issued.set(ctx, now);
      nodes[0]!.readIndex(utf8(ctx));
    }
    for (let i = 0; i < nodes.length; i++) {
      const rn = nodes[i]!;
      if (!rn.hasReady()) continue;
      const rd = rn.ready();
      const s = rn.raft.raftLog.storage as ReturnType<typeof snapshotStorage>;
      const hs = rd.hardState;
      if (hs.term !== 0 || hs.vote !== 0n || hs.commit !== 0) s.setHardState(hs);
      s.append(rd.entries);
      for (const rs of rd.readStates) {
        const ctx = new TextDecoder().decode(rs.requestCtx);
        const t0 = issued.get(ctx);
        if (t0 !== undefined) {
          lat.push((now - t0) / UNITS_PER_TICK);
          issued.delete(ctx);
        }
      }
      for (const m of rd.messages) {
        messages++;
        if (lossy && heartbeatish(m.type) && rand() < 0.2) continue;
        inFlight.push({ at: now + HOP, m });
      }
      rn.advance(rd);
    }
  }
  if (nodes[0]!.raft.lead !== 1n) throw new Error(`${mode.name}: node 1 lost leadership`);
  const s = lat.slice().sort((a, b) => a - b);
  const r = nodes[0]!.raft;
  return {
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    p99: s[Math.floor(s.length * 0.99)]!,
    max: s[s.length - 1]!,
    msgsPerRead: messages / Math.max(1, readNo),
    local: r.leaseReadsLocal,
    fallback: r.leaseReadsFallback,
  };
}

// --- CPU in µs --------------------------------------------------------------------

function cpu(mode: Mode): number {
  const nodes = cluster(mode);
  // A first round gives the strict lease its quorum acknowledgement.
  nodes[0]!.tick();
  stabilize(nodes, () => {});
  let answered = 0;
  const onRead = () => {
    answered++;
  };
  const ctx = utf8("read-ctx-0000");
  const one = () => {
    nodes[0]!.readIndex(ctx);
    stabilize(nodes, onRead);
  };
  const sampleNs = quick ? 20e6 : 300e6;
  const w = process.hrtime.bigint();
  while (since(w) < sampleNs / 2) one();
  const samples: number[] = [];
  for (let k = 0; k < (quick ? 1 : 5); k++) {
    const t = process.hrtime.bigint();
    let n = 0;
    while (since(t) < sampleNs) {
      for (let i = 0; i < 64; i++) one();
      n += 64;
    }
    samples.push(since(t) / n / 1000);
  }
  if (answered === 0) throw new Error(`${mode.name}: no read answered`);
  return median(samples);
}

const rows: Row[] = [];
const TICKS = quick ? 300 : 3000;
for (const mode of MODES) {
  for (const lossy of [false, true]) {
    const r = latency(mode, TICKS, 5, lossy);
    const served =
      mode.leaseSafety === "strict" ? `; ${r.local} from the lease, ${r.fallback} through a round` : "";
    rows.push({
      name: `read latency, ${mode.name}${lossy ? ", 20% heartbeat loss" : ""}`,
      ours: r.mean,
      unit: "ticks (mean)",
      go: null,
      note: `p99 ${r.p99.toFixed(2)}, max ${r.max.toFixed(2)} ticks; ${r.msgsPerRead.toFixed(1)} msgs/read${served}`,
    });
  }
}
for (const mode of MODES) {
  rows.push({
    name: `read CPU, ${mode.name}`,
    ours: cpu(mode),
    unit: "µs/read",
    go: null,
    note: "3 voters in-process",
  });
}
report(rows);
