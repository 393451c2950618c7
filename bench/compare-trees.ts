// RawNode3Voters in two source trees, in the same run: the tree this script
// lives in and another checkout (by default /work/baseline, the tree before
// the 64-bit ID migration). Each measurement is a fresh process started from
// inside its own package (`node --import tsx bench/profile-voters.ts SIZE
// BATCH N` with that tree as the working directory: run from outside, tsx
// compiles the library as CommonJS and it runs several times slower). The two
// trees alternate, and which goes first alternates per round, so that a noisy
// neighbour hurts both alike. Reports CPU ns per proposal (user + system of
// the measured loop), median of the rounds and the spread (min–max).
//
//   node --import tsx bench/compare-trees.ts [--other DIR] [--rounds 3] [--n 200000]
//       [--configs 3x1,3x16,3x256,256x1,256x16,256x256]

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { printTable } from "./support/table.ts";
import { fmt } from "./support/timing.ts";

const here = fileURLToPath(new URL("..", import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : def;
};
const other = opt("other", "/work/baseline");
const rounds = Number(opt("rounds", "3"));
const n = Number(opt("n", "200000"));
const configs = opt("configs", "3x1,3x16,3x256,256x1,256x16,256x256")
  .split(",")
  .map((c) => c.split("x").map(Number) as [number, number]);
// Go's etcd raft on the same workload and machine type (PERF.md, "Later measurements", CPU ns/proposal).
const GO: Record<string, number> = {
  "3x1": 7240,
  "3x16": 5711,
  "3x256": 4983,
  "256x1": 6749,
  "256x16": 6569,
  "256x256": 4723,
};

interface Sample {
  wall: number;
  cpu: number;
}

function runOnce(tree: string, size: number, batch: number): Sample {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", "bench/profile-voters.ts", String(size), String(batch), String(n)],
    { cwd: tree, encoding: "utf8" },
  );
  const m = /(\d+) ns\/proposal, cpu (\d+) ns\/proposal/.exec(r.stdout);
  if (r.status !== 0 || m === null) throw new Error(`${tree}: ${r.stdout}${r.stderr}`);
  return { wall: Number(m[1]), cpu: Number(m[2]) };
}

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const trees = { before: other, after: here };
const samples = new Map<string, { before: Sample[]; after: Sample[] }>();
for (const [size, batch] of configs) samples.set(`${size}x${batch}`, { before: [], after: [] });

console.log(`RawNode3Voters, ${n.toLocaleString("en-US")} proposals per run, ${rounds} rounds`);
console.log(`before: ${trees.before}\nafter:  ${trees.after}`);
for (let round = 0; round < rounds; round++) {
  for (const [size, batch] of configs) {
    const key = `${size}x${batch}`;
    const order: Array<"before" | "after"> =
      (round + configs.findIndex(([s, b]) => s === size && b === batch)) % 2 === 0
        ? ["before", "after"]
        : ["after", "before"];
    for (const which of order) {
      const s = runOnce(trees[which], size, batch);
      samples.get(key)![which].push(s);
      console.log(
        `  round ${round + 1} ${key.padEnd(7)} ${which.padEnd(6)} cpu ${fmt(s.cpu)} ns  wall ${fmt(s.wall)} ns`,
      );
    }
  }
}

const rows: string[][] = [];
let ok = true;
for (const [key, s] of samples) {
  const b = s.before.map((x) => x.cpu);
  const a = s.after.map((x) => x.cpu);
  const mb = median(b);
  const ma = median(a);
  const ratio = ma / mb;
  const go = GO[key];
  const pass = ratio <= 1.15 && (go === undefined || ma < go);
  if (!pass) ok = false;
  rows.push([
    key.replace("x", " B × "),
    `${fmt(mb)} (${fmt(Math.min(...b))}–${fmt(Math.max(...b))})`,
    `${fmt(ma)} (${fmt(Math.min(...a))}–${fmt(Math.max(...a))})`,
    `${((ratio - 1) * 100).toFixed(1)}%`,
    go === undefined ? "-" : fmt(go),
    pass ? "ok" : "FAIL",
  ]);
}
printTable(["size × batch", "before: median (min–max)", "after: median (min–max)", "change", "Go", ""], rows);
console.log(ok ? "within 15% of before and below Go everywhere" : "some configuration is out of bounds");
process.exit(ok ? 0 : 1);
