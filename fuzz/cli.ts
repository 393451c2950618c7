// npm run fuzz -- [options]
//
//   --runs N        cases per target (default 10000)
//   --target NAME   only this target (repeatable); --list lists them
//   --seed S        fast-check seed (default 1; each target derives its own)
//   --jobs J        worker threads (default: available parallelism)
//   --stall S       seconds without a finished case that count as a hang (default 20)
//
// Every target must turn every input into a value or its typed error. A
// failure prints the (shrunk) counterexample and how to replay it; a case
// that never finishes is reported as a hang. Exit status 1 on failure.

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { loadTargets } from "./registry.ts";
import type { FuzzResult } from "./runner.ts";

function usage(msg: string): never {
  console.error(`fuzz: ${msg}`);
  console.error("usage: npm run fuzz -- [--runs N] [--target NAME]... [--seed S] [--jobs J] [--list]");
  process.exit(2);
}

const argv = process.argv.slice(2);
let runs = 10_000;
let seed = 1;
let jobs = availableParallelism();
let stall = 20;
const only: string[] = [];
const all = await loadTargets();
for (let i = 0; i < argv.length; i++) {
  const k = argv[i]!;
  const num = (): number => {
    const v = argv[++i];
    if (v === undefined || !/^\d+$/.test(v)) usage(`${k} needs a non-negative integer`);
    return Number(v);
  };
  if (k === "--runs") runs = num();
  else if (k === "--seed") seed = num();
  else if (k === "--jobs") jobs = Math.max(1, num());
  else if (k === "--stall") stall = Math.max(1, num());
  else if (k === "--target") only.push(argv[++i] ?? "");
  else if (k === "--list") {
    for (const t of all) console.log(`${t.name}: ${t.description}`);
    process.exit(0);
  } else usage(`unknown option ${k}`);
}
for (const n of only) if (!all.some((t) => t.name === n)) usage(`unknown target ${n}`);
const targets = only.length > 0 ? all.filter((t) => only.includes(t.name)) : all;

// Each target gets its own seed, so that results do not depend on scheduling.
const tasks = targets.map((t, i) => ({ target: t.name, runs, seed: seed * 1000 + i }));
const results: FuzzResult[] = [];
const hangs: string[] = [];
const t0 = performance.now();
console.log(`fuzzing ${targets.length} targets, ${runs.toLocaleString("en-US")} cases each, seed ${seed}`);

await Promise.all(
  Array.from({ length: Math.min(jobs, tasks.length) }, () => {
    const progress = new SharedArrayBuffer(4);
    const counter = new Int32Array(progress);
    const w = new Worker(new URL("../sim/worker_boot.mjs", import.meta.url), {
      workerData: { entry: new URL("./worker.ts", import.meta.url).href, progress },
    });
    return new Promise<void>((resolve, reject) => {
      let current: (typeof tasks)[number] | undefined;
      let last = 0;
      let lastChange = performance.now();
      const watchdog = setInterval(() => {
        const n = Atomics.load(counter, 0);
        if (n !== last) {
          last = n;
          lastChange = performance.now();
        } else if (current !== undefined && performance.now() - lastChange > stall * 1000) {
          hangs.push(
            `${current.target}: no case finished for ${stall}s (seed ${current.seed}, after ${n} cases)`,
          );
          clearInterval(watchdog);
          void w.terminate();
        }
      }, 1000);
      const feed = () => {
        current = tasks.shift();
        lastChange = performance.now();
        w.postMessage(current ?? null);
      };
      w.on("message", (m: FuzzResult | "ready") => {
        if (m !== "ready") {
          results.push(m);
          const rate = m.runs / Math.max(m.seconds, 1e-9);
          console.log(
            `  ${m.target.padEnd(26)} ${m.runs.toLocaleString("en-US").padStart(11)} cases  ` +
              `${Math.round(rate).toLocaleString("en-US").padStart(9)} cases/s  ${m.failure === null ? "ok" : "FAILED"}`,
          );
        }
        feed();
      });
      w.on("error", reject);
      w.on("exit", () => {
        clearInterval(watchdog);
        resolve();
      });
    });
  }),
);

const seconds = (performance.now() - t0) / 1000;
const total = results.reduce((s, r) => s + r.runs, 0);
console.log(
  `${total.toLocaleString("en-US")} cases in ${seconds.toFixed(1)}s: ${Math.round(total / seconds).toLocaleString("en-US")} cases/s`,
);
const failed = results.filter((r) => r.failure !== null);
for (const r of failed) {
  console.log(`\n${r.target} FAILED after ${r.runs} cases: ${r.failure!.message}`);
  console.log(`  counterexample: ${r.failure!.counterexample}`);
  console.log(`  replay: npm run fuzz -- --target ${r.target} --runs ${runs} --seed ${seed}`);
}
for (const h of hangs) console.log(`\nHANG ${h}`);
if (failed.length === 0 && hangs.length === 0) console.log("no failures");
process.exitCode = failed.length === 0 && hangs.length === 0 ? 0 : 1;
