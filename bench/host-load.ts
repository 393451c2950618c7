// npm run bench:host [-- --duration S --clients N --rounds R]
//
// The host's write rate against tsraft-kv's, in the same run on the same
// machine (issue 13: the host must not cost what the core saves). Each side
// is three member processes with fsync on and etcd's default timing, loaded
// by the shared closed-loop generator (../shared/tools/loadgen.js) with N
// clients (default 64) sending to the leader:
//
//  - host: examples/counter.ts (a counter state machine on tsraft/host),
//    POST /add with an 8-byte command, answered once applied;
//  - tsraft-kv: PUT /kv/<8-byte key> with a 256-byte value (as bench:kv).
//
// With --rounds R the two alternate R times (host, kv, host, kv, …) so that
// a change in the machine's background load hits both; every run is printed
// and the table shows the median of each.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, http, ProcCluster, waitFor } from "../test/kv/support/cluster.ts";
import { repoRoot } from "../test/support/testdata.ts";
import { printTable } from "./support/table.ts";
import { fmt } from "./support/timing.ts";

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : dflt;
};
const duration = Number(arg("--duration", "20"));
const clients = Number(arg("--clients", "64"));
const rounds = Number(arg("--rounds", "1"));
const loadgen = resolve(repoRoot, "../shared/tools/loadgen.js");
const counterFormat = resolve(repoRoot, "bench/support/counter-format.cjs");

interface LoadResult {
  opsPerSec: number;
  ops: number;
  errors: number;
  latMs: { p50: number; p99: number };
}

interface Run {
  load: LoadResult;
  leaderCpuUs: number;
}

function runLoad(url: string, format: string): Promise<LoadResult> {
  const flags = [
    "--urls",
    url,
    "--clients",
    String(clients),
    "--duration",
    String(duration),
    "--warmup",
    "2",
  ];
  flags.push("--key-size", "8", "--value-size", "256", "--key-space", "100000", "--format", format);
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [loadgen, ...flags], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (b) => {
      out += b;
    });
    p.on("exit", (code) =>
      code === 0 ? res(JSON.parse(out.trim().split("\n").pop()!)) : rej(new Error(`loadgen exit ${code}`)),
    );
  });
}

/** User+system CPU seconds consumed by a process so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function measure(url: string, pid: number, format: string): Promise<Run> {
  const c0 = cpuSeconds(pid);
  const load = await runLoad(url, format);
  const c1 = cpuSeconds(pid);
  // CPU over warmup+run is charged to the measured ops; the warmup share is small.
  const leaderCpuUs = ((c1 - c0) / (load.opsPerSec * (duration + 2))) * 1e6;
  return { load, leaderCpuUs };
}

interface CounterMember {
  name: string;
  peer: string;
  api: string;
  proc: ChildProcess;
  log: string[];
}

/** Three examples/counter.ts processes (fsync on, default timing); returns the run against the leader. */
async function benchHost(): Promise<Run> {
  const root = mkdtempSync(join(tmpdir(), "tsraft-host-bench-"));
  const members: CounterMember[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < 6; i++) ports.push(await freePort());
    const names = ["m1", "m2", "m3"];
    const initial = names.map((n, i) => `${n}=http://127.0.0.1:${ports[i]}`).join(",");
    for (const [i, name] of names.entries()) {
      const api = `127.0.0.1:${ports[3 + i]}`;
      const flags = [
        "--name",
        name,
        "--initial-cluster",
        initial,
        "--data-dir",
        join(root, name),
        "--http",
        api,
      ];
      const proc = spawn(
        process.execPath,
        ["--conditions=source", "--import", "tsx", resolve(repoRoot, "examples/counter.ts"), ...flags],
        { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
      );
      const m = {
        name,
        peer: `http://127.0.0.1:${ports[i]}`,
        api: `http://${api}`,
        proc,
        log: [] as string[],
      };
      const collect = (b: Buffer) => m.log.push(b.toString());
      proc.stdout!.on("data", collect);
      proc.stderr!.on("data", collect);
      members.push(m);
    }
    for (const m of members) {
      await waitFor(
        `${m.name} serving`,
        async () => {
          if (m.proc.exitCode !== null) throw new Error(`${m.name} exited: ${m.log.join("")}`);
          return (await http("GET", `${m.api}/value`)).status === 200;
        },
        60_000,
      );
    }
    const leader = await waitFor("a leader", async () => {
      for (const m of members) {
        const s = (await http("GET", `${m.api}/status`)).json() as { id: string; leader: string };
        if (s.id === s.leader) return m;
      }
      return undefined;
    });
    console.log(`  host (examples/counter.ts): leader ${leader.name} at ${leader.api}`);
    const run = await measure(leader.api, leader.proc.pid!, `module:${counterFormat}`);
    // Sanity: every measured add was applied (the total also holds warmup adds and any errors).
    const total = Number((await http("GET", `${leader.api}/value`)).text);
    if (!(total >= run.load.ops))
      throw new Error(`counter total ${total} < ${run.load.ops} acknowledged adds`);
    return run;
  } finally {
    await Promise.all(
      members.map(
        (m) =>
          new Promise<void>((r) => {
            if (m.proc.exitCode !== null || m.proc.signalCode !== null) return r();
            m.proc.once("exit", () => r());
            m.proc.kill("SIGTERM");
            setTimeout(() => m.proc.kill("SIGKILL"), 5000).unref();
          }),
      ),
    );
    rmSync(root, { recursive: true, force: true });
  }
}

/** Three tsraft-kv members (as bench:kv runs them); returns the run against the leader. */
async function benchKv(): Promise<Run> {
  const c = new ProcCluster();
  c.fastTiming = false;
  try {
    const names = ["m1", "m2", "m3"];
    for (const n of names) await c.add(n);
    const initial = c.initialCluster(names);
    for (const m of c.members) c.start(m, ["--initial-cluster", initial]);
    for (const m of c.members) await c.healthy(m);
    const leader = await c.leader(c.members);
    console.log(`  tsraft-kv: leader ${leader.name} at ${leader.client}`);
    return await measure(leader.client, leader.proc!.pid!, "raw-put");
  } finally {
    await c.stopAll();
    await c.cleanup();
  }
}

function show(what: string, r: Run): void {
  const l = r.load;
  console.log(
    `  ${what}: ${fmt(l.opsPerSec)} req/s, p50 ${l.latMs.p50} ms, p99 ${l.latMs.p99} ms, errors ${l.errors}, ` +
      `leader CPU ${fmt(r.leaderCpuUs)} µs/op`,
  );
}

function median(runs: Run[]): Run {
  // Each column's median on its own (with an even count, the lower middle).
  const by = (f: (r: Run) => number) => runs.map(f).sort((a, b) => a - b)[Math.floor((runs.length - 1) / 2)]!;
  return {
    load: {
      opsPerSec: by((r) => r.load.opsPerSec),
      ops: by((r) => r.load.ops),
      errors: by((r) => r.load.errors),
      latMs: { p50: by((r) => r.load.latMs.p50), p99: by((r) => r.load.latMs.p99) },
    },
    leaderCpuUs: by((r) => r.leaderCpuUs),
  };
}

if (!existsSync(loadgen)) {
  console.error(`load generator not found at ${loadgen}`);
  process.exit(1);
}
console.log(
  `write load: ${clients} closed-loop clients to the leader, ${duration} s per run (+2 s warmup), ` +
    `fsync on, three member processes on this machine, ${rounds} round(s)\n`,
);
const host: Run[] = [];
const kv: Run[] = [];
for (let i = 0; i < rounds; i++) {
  console.log(`round ${i + 1}`);
  host.push(await benchHost());
  show("host", host[host.length - 1]!);
  kv.push(await benchKv());
  show("tsraft-kv", kv[kv.length - 1]!);
}
const [h, k] = [median(host), median(kv)];
console.log("");
printTable(
  ["cluster", "clients", "req/s", "p50 ms", "p99 ms", "errors", "leader CPU µs/op"],
  (
    [
      ["host: examples/counter.ts (POST /add, 8 B command)", h],
      ["tsraft-kv (PUT, 8 B key, 256 B value)", k],
    ] as const
  ).map(([name, run]) => {
    return [
      name,
      String(clients),
      fmt(run.load.opsPerSec),
      String(run.load.latMs.p50),
      String(run.load.latMs.p99),
      String(run.load.errors),
      fmt(run.leaderCpuUs),
    ];
  }),
);
const ratio = h.load.opsPerSec / k.load.opsPerSec;
console.log(
  `\nhost / tsraft-kv write rate: ${fmt(ratio, 2)}x (${ratio >= 1 ? "meets" : "BELOW"} issue 13's bar: at least tsraft-kv's rate)`,
);
