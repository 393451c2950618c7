// Benchmarks of the asynchronous Node API:
//   - etcd's BenchmarkOneNode: one voter, a proposer proposing "foo" as fast
//     as it can, and a Ready loop that appends to a MemoryStorage and waits
//     1 ms per Ready in place of a disk sync (Go: 2,480-2,500 ns/op). Also
//     without the wait, which is the Node's own overhead.
//   - three Nodes in one process with direct message delivery (the example's
//     Ready loop, examples/node-cluster.ts), 128-byte payloads: one proposer
//     waiting for each commit, and batched (many proposals in flight). The
//     nearest Go anchor is RawNode3Voters SIZE=256 (BATCH=1 / BATCH=256).

import { type Member, runReadyLoop } from "../examples/node-cluster.ts";
import { MemoryStorage, type Node, restartNode, SeededRandom, startNode } from "../src/index.ts";
import { allocatedBytes, heapUsed, quick, type Row, report } from "./lib.ts";
import { benchConfig, snapshotStorage } from "./voters.ts";

const rows: Row[] = [];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function oneNode(n: number, syncMs: number) {
  // etcd's newTestMemoryStorage(withPeers(1)): the configuration only, at index 0.
  const s = snapshotStorage([1n], 0, 0);
  const node = restartNode(benchConfig(1n, s));
  await node.campaign();
  const foo = new TextEncoder().encode("foo");
  let readies = 0;
  const t0 = process.hrtime.bigint();
  const proposer = (async () => {
    for (let i = 0; i < n; i++) await node.propose(foo);
  })();
  for await (const rd of node.ready()) {
    readies++;
    s.append(rd.entries);
    if (syncMs > 0) await sleep(syncMs);
    node.advance();
    if (rd.hardState.commit === n + 1) break;
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  await proposer;
  await node.stop();
  return { ns, readies };
}

{
  const n = quick ? 5_000 : 200_000;
  await oneNode(n / 4, 1); // warm-up
  const h0 = heapUsed();
  let r = { ns: 0, readies: 0 };
  const alloc = await allocatedBytes(async () => {
    r = await oneNode(n, 1);
  });
  const grown = heapUsed() - h0;
  rows.push({
    name: "OneNode (Node, 1 voter, 1 ms sync per Ready)",
    ours: r.ns,
    unit: "ns/proposal",
    go: 2480,
    note: `${Math.round(n / r.readies)} entries/Ready, ${Math.round(alloc / n)} B allocated/proposal, heap ${grown >= 0 ? "+" : ""}${(grown / 1e6).toFixed(1)} MB after stop`,
  });
  await oneNode(n / 4, 0);
  const r0 = await oneNode(n, 0);
  rows.push({
    name: "OneNode without the 1 ms sync",
    ours: r0.ns,
    unit: "ns/proposal",
    go: null,
    note: `${(n / r0.readies).toFixed(1)} entries/Ready`,
  });
}

// --- three Nodes, direct delivery ----------------------------------------------------
class Cluster {
  readonly members: (Member & { appliedCount: number })[] = [];
  private waitCount = 0;
  private waitRes: (() => void) | null = null;
  readonly loops: Promise<void>[] = [];

  constructor() {
    const ids = [1n, 2n, 3n];
    for (const id of ids) {
      const storage = new MemoryStorage();
      const node = startNode(
        benchConfig(id, storage, { random: new SeededRandom(Number(id)) }),
        ids.map((i) => ({ id: i })),
      );
      const m: Member & { appliedCount: number } = {
        node,
        storage,
        confState: null,
        appliedCount: 0,
        send: (msgs) => {
          for (const msg of msgs) this.members[Number(msg.to) - 1]!.node.step(msg).catch(() => {});
        },
        apply: () => {
          m.appliedCount++;
          if (id === 1n && this.waitRes !== null && m.appliedCount >= this.waitCount) {
            const r = this.waitRes;
            this.waitRes = null;
            r();
          }
        },
      };
      this.members.push(m);
    }
    for (const m of this.members) this.loops.push(runReadyLoop(m));
  }

  get leader(): Node {
    return this.members[0]!.node;
  }

  /** Resolves once node 1 has applied `k` proposals. */
  applied(k: number): Promise<void> {
    if (this.members[0]!.appliedCount >= k) return Promise.resolve();
    this.waitCount = k;
    return new Promise((r) => {
      this.waitRes = r;
    });
  }

  async stop(): Promise<void> {
    for (const m of this.members) await m.node.stop();
    await Promise.all(this.loops);
  }
}

async function cluster(n: number, inflight: number): Promise<number> {
  const c = new Cluster();
  // Campaigning needs the bootstrap conf changes applied (the first Ready).
  while (c.members[0]!.node.status().applied < 3) await new Promise((r) => setImmediate(r));
  await c.leader.campaign();
  const data = new Uint8Array(128).fill(0x63);
  // Wait for the election and the leader's first entry.
  while (c.members[0]!.node.status().softState.lead !== 1n) await new Promise((r) => setImmediate(r));
  const t0 = process.hrtime.bigint();
  if (inflight === 1) {
    for (let i = 0; i < n; i++) {
      await c.leader.propose(data);
      await c.applied(i + 1);
    }
  } else {
    // Keep `inflight` proposals between propose and apply.
    for (let i = 0; i < n; i += inflight) {
      const k = Math.min(inflight, n - i);
      for (let j = 0; j < k - 1; j++) c.leader.propose(data).catch(() => {});
      await c.leader.propose(data);
      // Refill once half of this window has been applied.
      await c.applied(i + k - Math.floor(inflight / 2));
    }
    await c.applied(n);
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  await tickless(() => c.members.every((m) => m.appliedCount === n));
  await c.stop();
  return ns;
}

for (const [inflight, go, label] of [
  [1, 6640, "one proposer, each waits for its commit"],
  [256, 3770, "256 proposals in flight"],
] as const) {
  const n = quick ? 2_000 : inflight === 1 ? 50_000 : 300_000;
  await cluster(n / 5, inflight); // warm-up
  const ns = await cluster(n, inflight);
  rows.push({
    name: `3 Nodes, 128 B, ${label}`,
    ours: ns,
    unit: "ns/commit",
    go,
    note: `${formatRate(ns)} committed/s; Go: RawNode3Voters SIZE=256 BATCH=${inflight}`,
  });
}

async function tickless(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((r) => setImmediate(r));
  if (!done()) throw new Error("not every member applied every proposal");
}

function formatRate(ns: number): string {
  return Math.round(1e9 / ns).toLocaleString("en-US");
}

report(rows);
