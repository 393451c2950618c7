// A worker thread of the simulation CLI: runs the seed ranges it is sent and
// posts back one report per seed.

import { parentPort, workerData } from "node:worker_threads";
import { runOne } from "./run.ts";
import type { SimOptions } from "./simulator.ts";

const base = (workerData as { base: Omit<SimOptions, "seed"> }).base;
const port = parentPort!;

port.on("message", (task: { from: number; count: number } | null) => {
  if (task === null) {
    port.close();
    return;
  }
  const reports = [];
  for (let seed = task.from; seed < task.from + task.count; seed++) reports.push(runOne({ ...base, seed }));
  port.postMessage(reports);
});
