// npm run jepsen -- [options]
//
// Runs tsraft-kv as real processes under faults with clients recording every
// operation, then checks the history for linearizability and the members for
// agreement. `--check FILE` re-checks a recorded history. Exit status: 0
// when every run is valid, 1 on a violation (or a failed final check), 3
// when a check ran out of budget ("unknown") and nothing was invalid, 2 on
// bad options.

import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError, Option } from "commander";
import { type CheckReport, checkHistory, DEFAULT_BUDGET } from "./checker.ts";
import { CLIENT_APIS, type ClientApi } from "./client.ts";
import { HistoryFormatError, JepsenConfigError } from "./errors.ts";
import { readHistoryFile } from "./history.ts";
import { FAULT_KINDS, type FaultKind } from "./nemesis.ts";
import { type RunOptions, type RunResult, runOnce } from "./runner.ts";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function positiveInt(name: string, min = 1) {
  return (v: string): number => {
    if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return Number(v);
  };
}

/** Parses --nemesis: a comma-separated list of kinds, "all" or "none". */
export function parseNemesis(v: string): FaultKind[] {
  if (v === "all") return [...FAULT_KINDS];
  if (v === "none" || v === "") return [];
  const out: FaultKind[] = [];
  for (const k of v.split(",").map((s) => s.trim())) {
    if (!(FAULT_KINDS as readonly string[]).includes(k))
      throw new InvalidArgumentError(
        `unknown nemesis ${JSON.stringify(k)} (use ${FAULT_KINDS.join(", ")}, all or none)`,
      );
    if (!out.includes(k as FaultKind)) out.push(k as FaultKind);
  }
  return out;
}

interface Flags {
  api: ClientApi;
  members: number;
  clients?: number;
  keys: number;
  time: number;
  decks?: number;
  nemesis: FaultKind[];
  seed?: number;
  runs: number;
  untilFail: boolean;
  plantedBug?: string;
  kvRoot: string;
  dir?: string;
  keep: boolean;
  tickMs: number;
  electionTicks: number;
  requestTimeout: number;
  clientTimeout: number;
  snapshotCount: number;
  fsync: boolean;
  budget: number;
  thinkMs: number;
  recover: number;
  gap: string;
  flapRounds: string;
  check?: string;
}

function program(): Command {
  return new Command("jepsen")
    .description(
      "A Jepsen-style test of tsraft-kv: real member processes, faults, a linearizability checker.",
    )
    .addOption(
      new Option("--api <api>", "what the clients speak: tsraft-kv's REST API or etcd's v3 gRPC KV API")
        .choices(CLIENT_APIS)
        .default("rest"),
    )
    .option("--members <n>", "cluster size", positiveInt("--members", 1), 3)
    .option("--clients <n>", "client loops (default: 5 per member)", positiveInt("--clients"))
    .option("--keys <n>", "keys (registers) the clients use", positiveInt("--keys"), 5)
    .option("--time <seconds>", "seconds of load and faults per run", positiveInt("--time"), 60)
    .option(
      "--decks <n>",
      "instead of --time: each fault kind n times (seeded order), however long it takes",
      positiveInt("--decks"),
    )
    .option("--nemesis <list>", `faults: ${FAULT_KINDS.join(",")}, all or none`, parseNemesis, [
      ...FAULT_KINDS,
    ])
    .option(
      "--seed <n>",
      "seed of every harness decision (default: random, printed)",
      positiveInt("--seed", 0),
    )
    .option("--runs <n>", "runs, each on a fresh cluster (seeds seed, seed+1, ...)", positiveInt("--runs"), 1)
    .option("--until-fail", "stop at the first run that is not valid", false)
    .option("--planted-bug <name>", "passed to the members as TSRAFT_PLANTED_BUG")
    .option(
      "--kv-root <dir>",
      "tsraft checkout whose src/cli/tsraft-kv.ts runs (env TSRAFT_JEPSEN_KV_ROOT)",
      process.env.TSRAFT_JEPSEN_KV_ROOT ?? repoRoot,
    )
    .option("--dir <dir>", "where run directories are created (default: the OS temp dir)")
    .option("--keep", "keep the run directory of valid runs too", false)
    .option("--tick-ms <ms>", "members' raft tick", positiveInt("--tick-ms"), 50)
    .option("--election-ticks <n>", "members' election timeout in ticks", positiveInt("--election-ticks"), 10)
    .option("--request-timeout <ms>", "members' --request-timeout", positiveInt("--request-timeout"), 2000)
    .option(
      "--client-timeout <ms>",
      "clients give up (info) after this",
      positiveInt("--client-timeout"),
      4000,
    )
    .option(
      "--snapshot-count <n>",
      "members' --snapshot-count (small: snapshots happen)",
      positiveInt("--snapshot-count"),
      500,
    )
    .option("--no-fsync", "members skip fdatasync (SIGKILL keeps the page cache: still safe here)")
    .option("--budget <steps>", "checker steps per key and pass", positiveInt("--budget"), DEFAULT_BUDGET)
    .option(
      "--think-ms <ms>",
      "random pause up to this between a client's operations",
      positiveInt("--think-ms", 0),
      0,
    )
    .option(
      "--recover <seconds>",
      "clients go on this long after the final heal",
      positiveInt("--recover", 1),
      3,
    )
    .option("--gap <ms-range>", "quiet time between faults, e.g. 1000-3000", "1000-3000")
    .option("--flap-rounds <range>", "kill-restart rounds per flap, e.g. 1-3", "1-3")
    .addOption(new Option("--check <file>", "re-check a recorded history (JSON lines) and exit"));
}

function parseRange(flag: string, s: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(s);
  if (m === null || Number(m[1]) > Number(m[2]))
    throw new JepsenConfigError(`${flag} must be LO-HI, got ${s}`);
  return [Number(m[1]), Number(m[2])];
}

function printCheck(check: CheckReport, out: (s: string) => void): void {
  for (const k of check.keys) {
    out(
      `  key ${k.key}: ${k.verdict.toUpperCase()} (${k.ops} ops, ${k.searched} searched, ${k.steps} steps, ${k.ms.toFixed(0)} ms` +
        `${k.pass !== undefined ? `, ${k.pass} pass` : ""})`,
    );
    if (k.verdict !== "ok" && k.explanation !== undefined) for (const l of k.explanation) out(`      ${l}`);
  }
  for (const a of check.anomalies.slice(0, 10)) out(`  revision anomaly: ${a}`);
  if (check.anomalies.length > 10) out(`  ... ${check.anomalies.length - 10} more revision anomalies`);
}

/** Operations in a count map (its "refused" entries are a subset of "fail"). */
function totalOps(ops: Record<string, number>): number {
  let n = 0;
  for (const [k, v] of Object.entries(ops)) if (!k.endsWith(" refused")) n += v;
  return n;
}

function fmtOps(ops: Record<string, number>): string {
  const parts: string[] = [];
  for (const f of ["read", "write", "cas"]) {
    const refused = ops[`${f} refused`] ?? 0;
    const t = ["ok", "fail", "info"]
      .map(
        (ty) =>
          `${ty} ${ops[`${f} ${ty}`] ?? 0}${ty === "fail" && refused > 0 ? ` (${refused} refused)` : ""}`,
      )
      .join(" ");
    parts.push(`${f} ${t}`);
  }
  return parts.join(" | ");
}

function printRun(r: RunResult, i: number, n: number, out: (s: string) => void): void {
  const total = totalOps(r.ops);
  out(`run ${i}/${n}: seed ${r.seed}, ${(r.wallMs / 1000).toFixed(0)} s wall`);
  out(
    `  ops: ${total} in ${r.loadSec.toFixed(0)} s (${(total / Math.max(r.loadSec, 1)).toFixed(0)}/s) — ${fmtOps(r.ops)}`,
  );
  const faults = Object.entries(r.faults)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  out(`  faults: ${faults === "" ? "none" : faults} (${r.kills} processes SIGKILLed)`);
  printCheck(r.check, out);
  const f = r.final;
  if (f.done)
    out(
      `  final: leader commit ${f.leaderCommit}; ${f.stuck.length === 0 ? "every member caught up" : `stuck: ${f.stuck.join("; ")}`}; ` +
        `${f.divergent.length === 0 ? "values equal on every member" : `DIVERGENT: ${f.divergent.join("; ")}`}`,
    );
  if (f.unreadable.length > 0) out(`  unreadable: ${f.unreadable.join("; ")}`);
  if (f.crashes.length > 0) out(`  CRASHES (exits the harness did not cause): ${f.crashes.join("; ")}`);
  if (f.unavailable) out("  UNAVAILABLE: no write succeeded after the final heal");
  if (r.aborted !== undefined) out(`  ABORTED: ${r.aborted}`);
  out(`  verdict: ${r.verdict.toUpperCase()}`);
  if (!r.valid) {
    out(`  run directory kept: ${r.dir} (member logs m*.log)`);
    out(`  history: ${r.historyPath}  (re-check: npm run jepsen -- --check ${r.historyPath})`);
  }
}

export async function main(
  argv: string[],
  out: (s: string) => void = (s) => console.log(s),
): Promise<number> {
  const cmd = program()
    .exitOverride()
    .configureOutput({ writeOut: (s) => out(s.trimEnd()), writeErr: (s) => out(s.trimEnd()) });
  let flags: Flags;
  try {
    cmd.parse(argv, { from: "user" });
    flags = cmd.opts<Flags>();
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  if (flags.check !== undefined && !existsSync(flags.check)) {
    out(`jepsen: no such history file: ${flags.check}`);
    return 2;
  }

  if (flags.check !== undefined) {
    let h: ReturnType<typeof readHistoryFile>;
    try {
      h = readHistoryFile(flags.check);
    } catch (e) {
      if (!(e instanceof HistoryFormatError)) throw e;
      out(`jepsen: ${flags.check}: ${e.message}`);
      return 2;
    }
    out(`${flags.check}: ${h.ops.length} operations`);
    const check = checkHistory(h.ops, { budget: flags.budget });
    printCheck(check, out);
    out(`verdict: ${check.verdict === "ok" ? "VALID" : check.verdict.toUpperCase()}`);
    return check.verdict === "ok" ? 0 : check.verdict === "violation" ? 1 : 3;
  }

  let gapMs: [number, number];
  let flapRounds: [number, number];
  try {
    gapMs = parseRange("--gap", flags.gap);
    flapRounds = parseRange("--flap-rounds", flags.flapRounds);
    if (flapRounds[0] < 1) throw new JepsenConfigError("--flap-rounds must be at least 1");
  } catch (e) {
    out(`jepsen: ${(e as Error).message}`);
    return 2;
  }
  const seed0 = flags.seed ?? Math.floor(Math.random() * 1e9);
  const base: Omit<RunOptions, "seed"> = {
    members: flags.members,
    clients: flags.clients ?? 5 * flags.members,
    keys: flags.keys,
    timeSec: flags.time,
    decks: flags.decks,
    nemesis: flags.nemesis,
    kvRoot: resolve(flags.kvRoot),
    baseDir: flags.dir,
    keep: flags.keep,
    tickMs: flags.tickMs,
    electionTicks: flags.electionTicks,
    requestTimeoutMs: flags.requestTimeout,
    clientTimeoutMs: flags.clientTimeout,
    api: flags.api,
    snapshotCount: flags.snapshotCount,
    fsync: flags.fsync,
    plantedBug: flags.plantedBug,
    budget: flags.budget,
    thinkMs: flags.thinkMs,
    recoverSec: flags.recover,
    gapMs,
    flapRounds,
    log: out,
  };
  out(
    `tsraft jepsen: ${base.members} members, ${base.clients} ${flags.api} clients, ${base.keys} keys, ` +
      `${base.decks !== undefined ? `${base.decks} deck(s) of faults` : `${base.timeSec} s`} per run, ` +
      `nemesis ${base.nemesis.join(",") || "none"}, seed ${seed0}` +
      (base.plantedBug !== undefined ? `, planted bug ${base.plantedBug}` : ""),
  );
  const results: RunResult[] = [];
  for (let i = 0; i < flags.runs; i++) {
    const o = { ...base, seed: seed0 + i };
    const r = await runOnce(o);
    results.push(r);
    printRun(r, i + 1, flags.runs, out);
    if (flags.untilFail && !r.valid) break;
  }
  const ops: Record<string, number> = {};
  const faults: Record<string, number> = {};
  let kills = 0;
  for (const r of results) {
    for (const [k, v] of Object.entries(r.ops)) ops[k] = (ops[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.faults)) faults[k] = (faults[k] ?? 0) + v;
    kills += r.kills;
  }
  const count = (v: string) => results.filter((r) => r.verdict === v).length;
  out(
    `total: ${results.length} runs (${count("valid")} valid, ${count("invalid")} invalid, ${count("unknown")} unknown); ` +
      `${totalOps(ops)} ops — ${fmtOps(ops)}`,
  );
  out(
    `faults: ${Object.entries(faults)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")} (${kills} SIGKILLs)`,
  );
  if (count("invalid") > 0) return 1;
  if (count("unknown") > 0) return 3;
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // Node exits with status 0 when its event loop drains, even while main()
  // still awaits something: never let a stalled harness look like success.
  process.on("beforeExit", () => {
    console.error("jepsen: internal error: the harness stalled (nothing left to wait on) before finishing");
    process.exit(2);
  });
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`jepsen: ${(e as Error)?.stack ?? e}`);
      process.exit(2);
    },
  );
}
