// npm run sim -- [options]
//
//   --seed N          run one seed; with --trace print every step as it happens
//   --seeds N         run N seeds (from --from, default 1) on --jobs worker threads
//   --from S          first seed of --seeds
//   --jobs J          worker threads (default: available parallelism)
//   --ticks T         override each run's length in ticks
//   --profile P       scenario family: mixed (default) or elections
//   --bug NAME        plant a known bug (--list-bugs lists them)
//   --until-fail      stop at the first failing seed (with --bug: "caught after K seeds")
//   --strict-lease    lease-based reads in every scenario with CheckQuorum (not
//                     40% of them); a stale one fails the run, with --etcd-lease
//                     too (strict leases, the default, always fail on it)
//   --etcd            etcd's raft as it is: --etcd-lease --etcd-membership
//                     --etcd-elections --no-drift
//                     (replays the runs of the simulator before strict leases)
//   --etcd-lease      lease-based reads as etcd serves them (leaseSafety "etcd")
//   --etcd-membership no shareCommitInVotes: membership deadlocks end a run as a
//                     known limitation instead of failing it
//   --etcd-elections  no keepClockOnRejectedVote: a refused vote of a later term
//                     restarts the member's election clock, as in etcd
//   --no-drift        every member ticks at the same rate
//   --trace-lines N   lines of trace printed with a failure (default 60)
//
// A failure prints the seed, the broken invariant, the last steps before it
// and the command that replays it exactly. The exit status is 1 on failure.

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { plantedBugs } from "./bugs.ts";
import { addReport, emptyTotals, formatTotals, runOne, type SeedReport } from "./run.ts";
import { type Profile, profiles } from "./scenario.ts";
import { runSeed, type SimOptions } from "./simulator.ts";

interface Args {
  seed?: number;
  seeds?: number;
  from: number;
  jobs: number;
  trace: boolean;
  traceLines: number;
  untilFail: boolean;
  base: Omit<SimOptions, "seed">;
}

function usage(msg: string): never {
  console.error(`sim: ${msg}`);
  console.error(
    "usage: npm run sim -- [--seed N [--trace] | --seeds N [--from S] [--jobs J]] [--ticks T] [--profile mixed|elections|leases|membership] [--bug NAME] [--until-fail] [--strict-lease] [--etcd | --etcd-lease --etcd-membership --etcd-elections --no-drift]",
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    from: 1,
    jobs: availableParallelism(),
    trace: false,
    traceLines: 60,
    untilFail: false,
    base: {},
  };
  const int = (i: number): number => {
    const v = argv[i];
    if (v === undefined || !/^\d+$/.test(v)) usage(`${argv[i - 1]} needs a non-negative integer`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    switch (k) {
      case "--seed":
        a.seed = int(++i);
        break;
      case "--seeds":
        a.seeds = int(++i);
        break;
      case "--from":
        a.from = int(++i);
        break;
      case "--jobs":
        a.jobs = Math.max(1, int(++i));
        break;
      case "--ticks":
        a.base.ticks = int(++i);
        break;
      case "--trace":
        a.trace = true;
        break;
      case "--trace-lines":
        a.traceLines = int(++i);
        break;
      case "--until-fail":
        a.untilFail = true;
        break;
      case "--strict-lease":
        a.base.strictLease = true;
        break;
      case "--etcd":
        a.base.etcdLease = true;
        a.base.etcdMembership = true;
        a.base.etcdElections = true;
        a.base.noDrift = true;
        break;
      case "--etcd-lease":
        a.base.etcdLease = true;
        break;
      case "--etcd-membership":
        a.base.etcdMembership = true;
        break;
      case "--etcd-elections":
        a.base.etcdElections = true;
        break;
      case "--no-drift":
        a.base.noDrift = true;
        break;
      case "--profile": {
        const p = argv[++i] as Profile;
        if (!profiles.includes(p)) usage(`unknown profile ${p}; known: ${profiles.join(", ")}`);
        a.base.profile = p;
        break;
      }
      case "--bug": {
        const b = argv[++i] ?? "";
        if (!plantedBugs.some((x) => x.name === b)) {
          usage(`unknown bug ${b}; known: ${plantedBugs.map((x) => x.name).join(", ")}`);
        }
        a.base.bug = b;
        break;
      }
      case "--list-bugs":
        for (const b of plantedBugs) console.log(`${b.name}: ${b.description}`);
        process.exit(0);
        break;
      default:
        usage(`unknown option ${k}`);
    }
  }
  if (a.seed === undefined && a.seeds === undefined) a.seeds = 100;
  return a;
}

function replayCommand(seed: number, base: Omit<SimOptions, "seed">): string {
  const parts = ["npm run sim --", `--seed ${seed}`];
  if (base.ticks !== undefined) parts.push(`--ticks ${base.ticks}`);
  if (base.profile !== undefined && base.profile !== "mixed") parts.push(`--profile ${base.profile}`);
  if (base.bug !== undefined) parts.push(`--bug ${base.bug}`);
  if (base.strictLease) parts.push("--strict-lease");
  if (base.etcdLease && base.etcdMembership && base.etcdElections && base.noDrift) parts.push("--etcd");
  else {
    if (base.etcdLease) parts.push("--etcd-lease");
    if (base.etcdMembership) parts.push("--etcd-membership");
    if (base.etcdElections) parts.push("--etcd-elections");
    if (base.noDrift) parts.push("--no-drift");
  }
  parts.push("--trace");
  return parts.join(" ");
}

/** Re-runs a failing seed in this thread, keeping the last lines of its trace. */
function explainFailure(seed: number, args: Args): void {
  const ring: string[] = [];
  let dropped = 0;
  const r = runSeed({
    ...args.base,
    seed,
    trace: (line) => {
      ring.push(line);
      if (ring.length > args.traceLines + 40) {
        ring.shift();
        dropped++;
      }
    },
  });
  console.log(`\nseed ${seed} FAILED: ${r.failure?.message ?? "(did not fail on replay!)"}`);
  console.log(`  scenario: ${r.scenario}`);
  // The failure line is followed by one line per node (the cluster state).
  const failAt = ring.findIndex((l) => l.includes(" FAILURE "));
  const end = failAt < 0 ? ring.length : failAt;
  const start = Math.max(0, end - args.traceLines);
  console.log(`  last ${end - start} steps before the failure (of ${dropped + end}):`);
  for (const l of ring.slice(start, end)) console.log(`  ${l}`);
  if (failAt >= 0) for (const l of ring.slice(failAt)) console.log(`  ${l}`);
  console.log(`  replay: ${replayCommand(seed, args.base)}`);
}

function runSingle(args: Args): number {
  const seed = args.seed!;
  if (args.trace) {
    const r = runSeed({ ...args.base, seed, trace: (line) => console.log(line) });
    console.log(
      r.ok ? `seed ${seed}: ok (${r.stats.steps} steps)` : `seed ${seed}: FAILED: ${r.failure!.message}`,
    );
    for (const l of r.knownLimitations) console.log(`known limitation: ${l}`);
    return r.ok ? 0 : 1;
  }
  const t0 = performance.now();
  const rep = runOne({ ...args.base, seed });
  const totals = emptyTotals();
  addReport(totals, rep);
  for (const l of formatTotals(totals, (performance.now() - t0) / 1000)) console.log(l);
  for (const l of rep.knownLimitations) console.log(`known limitation: ${l}`);
  if (!rep.ok) explainFailure(seed, args);
  return rep.ok ? 0 : 1;
}

async function runMany(args: Args): Promise<number> {
  const total = args.seeds!;
  const jobs = Math.min(args.jobs, Math.max(1, Math.ceil(total / 4)));
  const chunk = Math.max(1, Math.min(25, Math.ceil(total / (jobs * 8))));
  const totals = emptyTotals();
  const t0 = performance.now();
  let next = args.from;
  const end = args.from + total;
  let stop = false;
  let lastProgress = t0;
  let firstFailure: number | null = null;
  const bootUrl = new URL("./worker_boot.mjs", import.meta.url);
  const entry = new URL("./worker.ts", import.meta.url).href;
  const label = args.base.bug !== undefined ? ` with bug ${args.base.bug} planted` : "";
  console.log(`simulating seeds ${args.from}..${end - 1}${label} on ${jobs} threads`);

  await Promise.all(
    Array.from({ length: jobs }, () => {
      const w = new Worker(bootUrl, { workerData: { entry, base: args.base } });
      return new Promise<void>((resolve, reject) => {
        const feed = () => {
          if (stop || next >= end) {
            w.postMessage(null);
            return;
          }
          const count = Math.min(chunk, end - next);
          w.postMessage({ from: next, count });
          next += count;
        };
        w.on("message", (reports: SeedReport[]) => {
          for (const r of reports) {
            addReport(totals, r);
            if (!r.ok && (firstFailure === null || r.seed < firstFailure)) firstFailure = r.seed;
            if (!r.ok && args.untilFail) stop = true;
          }
          const now = performance.now();
          if (now - lastProgress > 5000) {
            lastProgress = now;
            const s = (now - t0) / 1000;
            console.log(
              `  ${totals.seeds}/${total} seeds, ${(totals.seeds / s).toFixed(1)} seeds/s, ` +
                `${Math.round(totals.steps / s).toLocaleString("en-US")} steps/s, ${totals.failed.length} failed`,
            );
          }
          feed();
        });
        w.on("error", reject);
        w.on("exit", () => resolve());
        feed();
      });
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  for (const l of formatTotals(totals, seconds)) console.log(l);
  if (args.untilFail && firstFailure !== null) {
    console.log(`first failure at seed ${firstFailure} (${firstFailure - args.from + 1} seeds in)`);
  }
  const failed = totals.failed.sort((a, b) => a.seed - b.seed);
  for (const f of failed.slice(0, 3)) explainFailure(f.seed, args);
  if (failed.length > 3) {
    console.log(`\n...and ${failed.length - 3} more failing seeds: ${failed.map((f) => f.seed).join(", ")}`);
  }
  return failed.length === 0 ? 0 : 1;
}

const args = parseArgs(process.argv.slice(2));
process.exitCode = args.seed !== undefined ? runSingle(args) : await runMany(args);
