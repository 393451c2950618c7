// Allocation profile driver (not a benchmark): samples every allocation made
// while RawNode3Voters runs, including objects already collected, and prints
// the top allocation sites by bytes.
// node --import tsx bench/profile-alloc.ts SIZE BATCH N
import { Session } from "node:inspector/promises";
import { Voters } from "./voters.ts";

const size = Number(process.argv[2] ?? 256);
const batch = Number(process.argv[3] ?? 1);
const n = Number(process.argv[4] ?? 100_000);
const v = new Voters(3);
const data = new Uint8Array(size).fill(0x61);
for (let i = 0; i < 20_000; i += batch) v.round(data, batch); // warm-up
const s = new Session();
s.connect();
await s.post("HeapProfiler.startSampling", {
  samplingInterval: 256,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
for (let i = 0; i < n; i += batch) v.round(data, batch);
const { profile } = await s.post("HeapProfiler.stopSampling");
interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: Node[];
}
const bySite = new Map<string, number>();
let total = 0;
const walk = (node: Node, parent: string) => {
  const cf = node.callFrame;
  const here = `${cf.functionName || "(anon)"} ${cf.url.split("/").slice(-2).join("/")}`;
  if (node.selfSize > 0) {
    const key = `${here} <- ${parent}`;
    bySite.set(key, (bySite.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
  }
  for (const c of node.children) walk(c, cf.functionName || "(anon)");
};
walk(profile.head as Node, "");
console.log(`~${Math.round(total / n)} B allocated per proposal (sampled)`);
for (const [k, b] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  console.log(`${String(Math.round(b / n)).padStart(6)} B/proposal  ${k}`);
}
