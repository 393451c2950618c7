// Profile driver (not a benchmark): three Nodes, one proposer waiting for
// each commit (the core-node bench's latency-bound case), N proposals.
// node --cpu-prof --cpu-prof-dir=DIR --import tsx bench/profile-node-cluster.ts N
import { type Member, runReadyLoop } from "../examples/node-cluster.ts";
import { MemoryStorage, SeededRandom, startNode } from "../src/index.ts";
import { benchConfig } from "./voters.ts";

const n = Number(process.argv[2] ?? 50_000);
const ids = [1n, 2n, 3n];
let applied = 0;
let want = 0;
let wake: (() => void) | null = null;
const members: Member[] = ids.map((id) => {
  const storage = new MemoryStorage();
  return {
    node: startNode(
      benchConfig(id, storage, { random: new SeededRandom(Number(id)) }),
      ids.map((i) => ({ id: i })),
    ),
    storage,
    confState: null,
    send: (msgs) => {
      for (const m of msgs) members[Number(m.to) - 1]!.node.step(m).catch(() => {});
    },
    apply: () => {
      if (id !== 1n) return;
      applied++;
      if (wake !== null && applied >= want) {
        const w = wake;
        wake = null;
        w();
      }
    },
  };
});
const loops = members.map((m) => runReadyLoop(m));
const leader = members[0]!.node;
while (leader.status().applied < 3) await new Promise((r) => setImmediate(r));
await leader.campaign();
while (leader.status().softState.lead !== 1n) await new Promise((r) => setImmediate(r));
const data = new Uint8Array(128);
const t = process.hrtime.bigint();
const c0 = process.cpuUsage();
for (let i = 1; i <= n; i++) {
  await leader.propose(data);
  if (applied < i) {
    want = i;
    await new Promise<void>((r) => {
      wake = r;
    });
  }
}
const cpu = process.cpuUsage(c0);
const wall = Number(process.hrtime.bigint() - t) / n;
console.log(
  `${wall.toFixed(0)} ns/commit, cpu ${(((cpu.user + cpu.system) * 1000) / n).toFixed(0)} ns/commit`,
);
for (const m of members) await m.node.stop();
await Promise.all(loops);
