// Running many seeds and adding up what they did: used by the CLI (in
// worker threads) and by the tests (in-process).

import { runSeed, type SimOptions, type SimResult } from "./simulator.ts";

/** What a seed reports back (small enough to post between threads). */
export interface SeedReport {
  seed: number;
  ok: boolean;
  failure: SimResult["failure"];
  knownLimitations: string[];
  stats: SimResult["stats"];
}

export function runOne(opts: SimOptions): SeedReport {
  const r = runSeed(opts);
  return { seed: r.seed, ok: r.ok, failure: r.failure, knownLimitations: r.knownLimitations, stats: r.stats };
}

export interface Totals {
  seeds: number;
  failed: SeedReport[];
  limited: SeedReport[];
  steps: number;
  ticks: number;
  counters: Record<string, number>;
  faults: Record<string, number>;
  livenessChecks: number;
  livenessMaxTicks: number;
  livenessSumTicks: number;
}

const COUNTERS = [
  "messagesSent",
  "messagesDelivered",
  "proposals",
  "proposalsDropped",
  "writesAcked",
  "reads",
  "readStates",
  "readsServed",
  "leaseStaleReads",
  "leaseReadsLocal",
  "leaseReadsFallback",
  "confChangesProposed",
  "confChangesApplied",
  "transfers",
  "snapshotsCreated",
  "snapshotsSent",
  "snapshotsRestored",
  "compactions",
  "elections",
  "healCycles",
  "stepErrors",
] as const;

export function emptyTotals(): Totals {
  return {
    seeds: 0,
    failed: [],
    limited: [],
    steps: 0,
    ticks: 0,
    counters: {},
    faults: {},
    livenessChecks: 0,
    livenessMaxTicks: 0,
    livenessSumTicks: 0,
  };
}

export function addReport(t: Totals, r: SeedReport): void {
  t.seeds++;
  if (!r.ok) t.failed.push(r);
  if (r.knownLimitations.length > 0) t.limited.push(r);
  t.steps += r.stats.steps;
  t.ticks += r.stats.ticks;
  for (const k of COUNTERS) t.counters[k] = (t.counters[k] ?? 0) + r.stats[k];
  for (const [k, v] of Object.entries(r.stats.faults)) t.faults[k] = (t.faults[k] ?? 0) + v;
  for (const lt of r.stats.livenessTicks) {
    t.livenessChecks++;
    t.livenessSumTicks += lt;
    if (lt > t.livenessMaxTicks) t.livenessMaxTicks = lt;
  }
}

/** Runs seeds [from, from+count) in this thread. */
export function runRange(from: number, count: number, base: Omit<SimOptions, "seed">): Totals {
  const t = emptyTotals();
  for (let seed = from; seed < from + count; seed++) addReport(t, runOne({ ...base, seed }));
  return t;
}

/** Injected faults, as opposed to their consequences (the drops they caused). */
export const INJECTED_FAULTS = [
  "drop",
  "duplicate",
  "delay",
  "partition",
  "partition-asymmetric",
  "isolate-leader",
  "partition-healed",
  "crash",
  "restart",
  "network-change",
  "tick-drift",
] as const;

export function formatTotals(t: Totals, seconds: number): string[] {
  const n = (x: number) => x.toLocaleString("en-US");
  const out: string[] = [];
  out.push(
    `${n(t.seeds)} seeds, ${n(t.steps)} steps, ${n(t.ticks)} ticks simulated in ${seconds.toFixed(1)}s: ` +
      `${(t.seeds / seconds).toFixed(1)} seeds/s, ${n(Math.round(t.steps / seconds))} steps/s`,
  );
  const injected = INJECTED_FAULTS.map((k) => `${k} ${n(t.faults[k] ?? 0)}`).join(", ");
  const total = INJECTED_FAULTS.reduce((s, k) => s + (t.faults[k] ?? 0), 0);
  out.push(`faults injected: ${n(total)} (${injected})`);
  const consequences = Object.keys(t.faults)
    .filter((k) => !(INJECTED_FAULTS as readonly string[]).includes(k))
    .sort()
    .map((k) => `${k} ${n(t.faults[k]!)}`)
    .join(", ");
  if (consequences !== "") out.push(`fault consequences: ${consequences}`);
  const c = t.counters;
  out.push(
    `workload: ${n(c.proposals ?? 0)} proposals (${n(c.proposalsDropped ?? 0)} dropped), ${n(c.writesAcked ?? 0)} writes acked, ` +
      `${n(c.reads ?? 0)} reads (${n(c.readStates ?? 0)} answered, ${n(c.readsServed ?? 0)} served), ` +
      `${n(c.confChangesProposed ?? 0)} conf changes proposed (${n(c.confChangesApplied ?? 0)} applications), ` +
      `${n(c.transfers ?? 0)} leader transfers, ${n(c.snapshotsCreated ?? 0)} snapshots + ${n(c.compactions ?? 0)} compactions, ` +
      `${n(c.snapshotsSent ?? 0)} snapshots sent / ${n(c.snapshotsRestored ?? 0)} restored, ${n(c.elections ?? 0)} leaders elected`,
  );
  if (t.livenessChecks > 0) {
    out.push(
      `liveness: ${n(t.livenessChecks)} heals, new commit after ${(t.livenessSumTicks / t.livenessChecks).toFixed(1)} ticks on ` +
        `average, ${t.livenessMaxTicks} at most`,
    );
  }
  if ((c.leaseReadsLocal ?? 0) + (c.leaseReadsFallback ?? 0) > 0) {
    out.push(
      `strict lease reads: ${n(c.leaseReadsLocal ?? 0)} answered from the lease, ${n(c.leaseReadsFallback ?? 0)} through a quorum round`,
    );
  }
  const failedAs = (kinds: string[]) => t.failed.filter((r) => kinds.includes(r.failure?.kind ?? "")).length;
  out.push(
    `stale reads: ${n(c.leaseStaleReads ?? 0)} counted (etcd's leases), ` +
      `${failedAs(["linearizability", "lease-outlives-promises"])} failed runs; membership deadlocks: ` +
      `${failedAs(["membership-deadlock"])} failed runs, ${t.limited.length} runs ended as a known limitation`,
  );
  if ((c.leaseStaleReads ?? 0) > 0) {
    out.push(
      `lease-based reads that returned a stale index (known limitation, see README): ${n(c.leaseStaleReads!)}`,
    );
  }
  if (t.limited.length > 0) {
    out.push(
      `runs ended by a known limitation (membership deadlock, see README): ${t.limited.length} ` +
        `(seeds ${t.limited
          .slice(0, 10)
          .map((r) => r.seed)
          .join(", ")}${t.limited.length > 10 ? ", ..." : ""})`,
    );
  }
  out.push(t.failed.length === 0 ? "no failures" : `${t.failed.length} FAILED seeds`);
  return out;
}
