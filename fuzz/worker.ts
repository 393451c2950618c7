// A worker thread of the fuzz CLI: fuzzes the targets it is sent, counting
// cases in shared memory so that the main thread can tell a hang.

import { parentPort, workerData } from "node:worker_threads";
import { loadTargets } from "./registry.ts";
import { fuzzTarget } from "./runner.ts";

const progress = new Int32Array((workerData as { progress: SharedArrayBuffer }).progress);
const targets = await loadTargets();
const port = parentPort!;

port.on("message", (task: { target: string; runs: number; seed: number } | null) => {
  if (task === null) {
    port.close();
    return;
  }
  const t = targets.find((x) => x.name === task.target)!;
  port.postMessage(fuzzTarget(t, task.runs, task.seed, progress));
});
port.postMessage("ready");
