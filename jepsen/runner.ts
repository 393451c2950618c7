// One run: start the cluster, run the clients and the nemesis for the given
// time, heal everything, let the clients go on for a moment (the cluster
// must serve again), stop them, wait for quiet, then check:
//   - the history is linearizable (checker.ts), every revision consistent;
//   - every member catches up to the leader's commit index within 60 s (none stuck);
//   - every member holds the same value for every key, read locally
//     (serializable) once caught up; those reads join the history as
//     ordinary reads, so an acknowledged write missing from a member's copy
//     is a violation too;
//   - some write succeeded after the heal (the cluster is available again);
//   - no member process died without the harness killing it.

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CheckReport, checkHistory } from "./checker.ts";
import { type ClientApi, newKvClient } from "./client.ts";
import { Cluster, sleep } from "./cluster.ts";
import { writeHistoryFile } from "./history.ts";
import { type FaultEvent, type FaultKind, Nemesis } from "./nemesis.ts";
import { Prng } from "./rng.ts";
import { Recorder, Workload } from "./workload.ts";

export interface RunOptions {
  members: number;
  clients: number;
  keys: number;
  /** Seconds of faults and load. */
  timeSec: number;
  /**
   * Instead of `timeSec`: deal this many decks of faults (each kind in
   * `nemesis` once per deck, in a seeded order), however long they take,
   * then heal. For runs that must cover every kind on slow machines.
   */
  decks?: number;
  nemesis: FaultKind[];
  seed: number;
  /** The tsraft checkout whose tsraft-kv runs. */
  kvRoot: string;
  /** Parent directory of the run directory (default: the OS temp dir). */
  baseDir?: string;
  /** Keep the run directory even when the run is valid. */
  keep: boolean;
  tickMs: number;
  electionTicks: number;
  requestTimeoutMs: number;
  clientTimeoutMs: number;
  /**
   * The API the clients (and the final local reads) speak: tsraft-kv's REST
   * API or etcd's v3 gRPC KV API. Default rest.
   */
  api?: ClientApi;
  snapshotCount: number;
  fsync: boolean;
  plantedBug?: string;
  /** Checker step budget per key and pass. */
  budget: number;
  thinkMs: number;
  /** Seconds the clients keep going after the final heal. */
  recoverSec: number;
  /** Quiet gap between faults, ms. */
  gapMs: [number, number];
  /** Kill-restart rounds per flap. */
  flapRounds: [number, number];
  log: (line: string) => void;
}

export interface OpCounts {
  [fnType: string]: number;
}

export interface FinalCheck {
  /** Members whose applied index did not reach the leader's commit index in time. */
  stuck: string[];
  /** Keys whose value differs between members (key: member=value ...). */
  divergent: string[];
  /** Members that could not be read at the end. */
  unreadable: string[];
  /** Unexpected process exits (member: code or signal). */
  crashes: string[];
  /** No write succeeded after the final heal. */
  unavailable: boolean;
  leaderCommit: number;
  /** False when the run ended before the final checks (aborted). */
  done: boolean;
}

export interface RunResult {
  /** Seconds from the first invocation to the last completion of a client operation. */
  loadSec: number;
  dir: string;
  historyPath: string;
  seed: number;
  ops: OpCounts;
  faults: Record<string, number>;
  kills: number;
  events: FaultEvent[];
  check: CheckReport;
  final: FinalCheck;
  /** Set when the run could not complete a step (the history is still checked). */
  aborted?: string;
  valid: boolean;
  /** "valid", "invalid" or "unknown". */
  verdict: string;
  wallMs: number;
}

export async function runOnce(o: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const base = o.baseDir ?? tmpdir();
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, "tsraft-jepsen-"));
  const rec = new Recorder();
  const clock = () => rec.now();
  const say = (line: string) => o.log(`[${(clock() / 1000).toFixed(1).padStart(6)} s] ${line}`);
  const cluster = await Cluster.create({
    members: o.members,
    dir,
    kvRoot: o.kvRoot,
    tickMs: o.tickMs,
    electionTicks: o.electionTicks,
    requestTimeoutMs: o.requestTimeoutMs,
    snapshotCount: o.snapshotCount,
    fsync: o.fsync,
    plantedBug: o.plantedBug,
    clock,
  });
  const keys = Array.from({ length: o.keys }, (_, i) => `k${i}`);
  const nemesis = new Nemesis(
    cluster,
    new Prng(o.seed, 1),
    {
      kinds: o.nemesis,
      electionMs: o.tickMs * o.electionTicks,
      gapMs: o.gapMs,
      startTimeoutMs: 120_000,
      flapRounds: o.flapRounds,
    },
    clock,
    say,
  );
  const workload = new Workload(
    cluster,
    rec,
    {
      clients: o.clients,
      keys,
      reads: 0.5,
      writes: 0.25,
      home: 0.75,
      thinkMs: o.thinkMs,
      seed: o.seed,
    },
    await newKvClient(o.api ?? "rest", o.clientTimeoutMs),
  );
  nemesis.onFocus = (slot) => {
    workload.focus = slot;
  };
  const final: FinalCheck = {
    stuck: [],
    divergent: [],
    unreadable: [],
    crashes: [],
    unavailable: false,
    leaderCommit: 0,
    done: false,
  };
  let aborted: string | undefined;
  let clientsRunning = false;
  try {
    say(`run dir ${dir}`);
    for (const m of cluster.members) cluster.start(m);
    // The first start may compile the TypeScript sources (tsx's cache is cold).
    await Promise.all(cluster.members.map((m) => cluster.waitHealthy(m, 120_000)));
    const howLong = o.decks !== undefined ? `${o.decks} deck(s) of faults` : `${o.timeSec} s`;
    say(`${o.members} members healthy; ${o.clients} clients on ${o.keys} keys for ${howLong}`);
    workload.start();
    clientsRunning = true;
    try {
      if (o.decks !== undefined && o.nemesis.length > 0) {
        await nemesis.run(() => false, o.decks);
        await sleep(o.gapMs[0]);
      } else {
        const end = Date.now() + o.timeSec * 1000;
        await nemesis.run(() => Date.now() >= end);
        while (Date.now() < end) await sleep(Math.min(200, end - Date.now()));
      }
    } finally {
      say("healing");
      await nemesis.healAll(180_000);
    }
    const healedAt = clock();
    say(`healed; clients go on for ${o.recoverSec} s`);
    await sleep(o.recoverSec * 1000);
    // The cluster must serve again: some write must succeed after the heal
    // (given up to 30 s more on a slow machine).
    const served = () => workload.okWritesAt.some((t) => t > healedAt);
    for (let i = 0; i < 60 && !served(); i++) await sleep(500);
    await workload.stop();
    clientsRunning = false;
    final.unavailable = !served();
    await finalChecks(cluster, rec, keys, final, say, o.api ?? "rest");
    final.done = true;
  } catch (e) {
    aborted = (e as Error).message;
    say(`aborted: ${aborted}`);
  } finally {
    if (clientsRunning) await workload.stop();
    for (const m of cluster.members) for (const x of m.unexpectedExits) final.crashes.push(`${m.name}: ${x}`);
    await cluster.shutdown();
  }

  const historyPath = join(dir, "history.jsonl");
  const faults: Record<string, number> = {};
  let kills = 0;
  for (const ev of nemesis.events) {
    faults[ev.kind] = (faults[ev.kind] ?? 0) + 1;
    kills += ev.kills;
  }
  writeHistoryFile(historyPath, {
    meta: {
      seed: o.seed,
      api: o.api ?? "rest",
      members: o.members,
      clients: o.clients,
      keys: o.keys,
      timeSec: o.timeSec,
      nemesis: o.nemesis,
      plantedBug: o.plantedBug ?? null,
      faults: nemesis.events,
    },
    ops: rec.ops,
  });
  say(`checking ${rec.ops.length} operations`);
  const check = checkHistory(rec.ops, { budget: o.budget });
  const ops: OpCounts = {};
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const op of rec.ops) {
    if (op.process < 0) continue;
    const k = `${op.f} ${op.type}`;
    ops[k] = (ops[k] ?? 0) + 1;
    // Attempts at a member that was down: counted apart, they say nothing about the cluster.
    if (op.error === "ECONNREFUSED") ops[`${op.f} refused`] = (ops[`${op.f} refused`] ?? 0) + 1;
    first = Math.min(first, op.invoke);
    last = Math.max(last, op.complete);
  }
  const finalBad =
    final.stuck.length > 0 ||
    final.divergent.length > 0 ||
    final.unreadable.length > 0 ||
    final.crashes.length > 0 ||
    final.unavailable;
  const valid = check.verdict === "ok" && !finalBad && aborted === undefined;
  const verdict = valid ? "valid" : check.verdict === "violation" || finalBad ? "invalid" : "unknown";
  if (valid && !o.keep) rmSync(dir, { recursive: true, force: true });
  return {
    loadSec: last > first ? (last - first) / 1000 : 0,
    dir,
    historyPath,
    seed: o.seed,
    ops,
    faults,
    kills,
    events: nemesis.events,
    check,
    final,
    aborted,
    valid,
    verdict,
    wallMs: performance.now() - started,
  };
}

/**
 * After the heal and a quiet moment: the leader's commit index, every member
 * caught up to it, then each member's local value of every key.
 */
async function finalChecks(
  cluster: Cluster,
  rec: Recorder,
  keys: string[],
  final: FinalCheck,
  say: (line: string) => void,
  api: ClientApi,
): Promise<void> {
  await sleep(1000);
  const t0 = rec.now();
  let leader = null;
  for (let i = 0; i < 100 && leader === null; i++) {
    leader = await cluster.agreedLeader();
    if (leader === null) await sleep(100);
  }
  if (leader === null) {
    final.stuck.push("no agreed leader after the heal");
    return;
  }
  const commit = (await cluster.status(leader)).commit;
  final.leaderCommit = commit;
  const client = await newKvClient(api, 5000);
  const values = new Map<string, Map<string, string | null>>();
  try {
    for (const m of cluster.members) {
      let applied = -1;
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        try {
          applied = (await cluster.status(m)).applied;
          if (applied >= commit) break;
        } catch {
          // not answering: keep trying until the deadline
        }
        await sleep(100);
      }
      if (applied < commit) {
        final.stuck.push(`${m.name} applied ${applied} < leader commit ${commit}`);
        continue;
      }
      for (const key of keys) {
        const out = await client.read(m.clientURL, key, true);
        if (out.type !== "ok") {
          final.unreadable.push(`${m.name} ${key}: ${out.error}`);
          continue;
        }
        rec.add({
          process: -1,
          key,
          f: "read",
          value: out.value!,
          type: "ok",
          invoke: t0,
          complete: rec.now(),
          node: m.name,
          ...(out.revision !== undefined ? { revision: out.revision } : {}),
        });
        let vs = values.get(key);
        if (vs === undefined) values.set(key, (vs = new Map()));
        vs.set(m.name, out.value!);
      }
    }
  } finally {
    client.close();
  }
  for (const [key, vs] of values) {
    if (new Set(vs.values()).size > 1)
      final.divergent.push(
        `${key}: ${[...vs].map(([n, v]) => `${n}=${v === null ? "(absent)" : v}`).join(" ")}`,
      );
  }
  say(
    `final: leader ${leader.name} commit ${commit}; ${final.stuck.length} stuck, ${final.divergent.length} divergent`,
  );
}
