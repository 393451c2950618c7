// Shared settings of the harness's end-to-end tests. Members run from this
// checkout, or from TSRAFT_JEPSEN_KV_ROOT (another checkout) when set.
import { join } from "node:path";
import { DEFAULT_BUDGET, type RunOptions, type RunResult } from "../../../jepsen/index.ts";
import { repoRoot } from "../../support/testdata.ts";

/**
 * Timing sized for a loaded 2-core machine: 50 ms ticks and a 10-tick
 * election timeout (a stalled event loop does not depose leaders all the
 * time), clients that give up after 4 s, members answering 504 after 2 s.
 */
export function e2eOptions(over: Partial<RunOptions> & { log: (line: string) => void }): RunOptions {
  return {
    members: 3,
    clients: 12,
    keys: 4,
    timeSec: 30,
    nemesis: [],
    seed: 1,
    kvRoot: process.env.TSRAFT_JEPSEN_KV_ROOT ?? repoRoot,
    keep: false,
    tickMs: 50,
    electionTicks: 10,
    requestTimeoutMs: 2000,
    clientTimeoutMs: 4000,
    snapshotCount: 200,
    fsync: true,
    budget: DEFAULT_BUDGET,
    thinkMs: 0,
    recoverSec: 3,
    gapMs: [300, 1000],
    flapRounds: [1, 2],
    ...over,
  };
}

/** A few lines on a run for test diagnostics and failure messages. */
export function describeRun(r: RunResult, log: string[]): string {
  const keys = r.check.keys.map((k) => `${k.key}=${k.verdict}`).join(" ");
  const lines = [
    `verdict ${r.verdict} (check ${r.check.verdict}: ${keys}; ${r.check.anomalies.length} revision anomalies)`,
    `ops ${JSON.stringify(r.ops)}`,
    `faults ${JSON.stringify(r.faults)}, ${r.kills} kills: ${r.events
      .map(
        (e) =>
          `${e.kind} at ${(e.start / 1000).toFixed(0)} s for ${((e.end - e.start) / 1000).toFixed(0)} s (${e.detail})`,
      )
      .join("; ")}`,
    `final ${JSON.stringify(r.final)}`,
  ];
  if (r.aborted !== undefined) lines.push(`aborted: ${r.aborted}`);
  if (!r.valid) {
    lines.push(`run directory: ${r.dir}; history ${join(r.dir, "history.jsonl")}`);
    for (const k of r.check.keys) if (k.explanation !== undefined) lines.push(`${k.key}:`, ...k.explanation);
    lines.push(...r.check.anomalies.slice(0, 5));
    lines.push("--- harness log", ...log);
  }
  return lines.join("\n");
}
