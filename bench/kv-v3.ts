// npm run bench:kv -- --api grpc [--duration S] [--warmup S] [--warmup-ops N] [--jit-warmup S] [--clients 1,16,64] [--mixed-clients 16,64]
//   [--watchers 1000] [--watchers-per-stream 10] [--watch-channels 6] [--watch-rate 50] [--watch-seconds 10] [--watch-warmup 2]
//   [--only puts,mixed,watch] [--systems tsraft-kv,etcd,tsraft-kv@DIR] [--profile DIR] [--json FILE] [--nice N]
//
// Issue 15's comparison of tsraft-kv with etcd 3.4 over etcd's v3 gRPC API,
// in ONE run on this machine: three tsraft-kv member processes (compiled CLI,
// fsync on) and three etcd 3.4 members run side by side, and one client
// (bench/support/v3_client.ts, the same code for both) drives each in turn.
//   1. puts: 1/16/64 closed-loop clients sending to the leader, 8-byte keys
//      drawn from 100,000, 256-byte values: writes/s, p50/p99, leader CPU
//      per put (utime+stime from /proc/<leader pid>/stat around the window);
//   2. mixed: 90% linearizable Range of one key, 10% puts, 16/64 clients;
//   3. watch fan-out: 1,000 watchers on a prefix spread over all members, a
//      fixed put rate through the leader; delivery latency (put sent → event
//      at each watcher) p50/p99/max, and events lost (must be 0). 50 puts/s
//      by default: every put is 1,000 WatchResponses, and this one Node
//      client decodes ~10 µs of CPU per response, so at 200 puts/s
//      (200,000 responses/s) the client, not the server, would set the
//      latency on 2 cores; --watch-rate 200 runs it anyway. Each system
//      first runs the same fan-out for --watch-warmup seconds, not counted
//      (its p99/max are printed as the cold start, with any event it lost or
//      duplicated): the puts' warm-up does not run the watch delivery path,
//      and a member's first deliveries run it cold (before the watch frame
//      writer, tsraft-kv's first 25 puts waited 130-300 ms; a second
//      fan-out on the same members did not).
// Steps alternate which system goes first so that the machine's load (other
// processes, the page cache, the soak) hits both alike; the load average is
// printed with every row. CPU per operation is the figure that survives a
// noisy machine best; throughput and latency move ±25% run to run.
// --profile DIR runs the tsraft-kv members with node --cpu-prof (profiles in
// DIR/<system> when the members exit at the end). A system "tsraft-kv@DIR"
// runs the compiled CLI of another checkout (e.g. `git archive` of the
// previous commit, with a node_modules link), for a before/after of a change
// in one run: both under the same load, alternating which goes first. --nice N runs the client and both
// clusters at nice N (e.g. -10 as root on a machine busy with other work).
import { execFileSync } from "node:child_process";
import {
  closeSync,
  fdatasyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { cpus, getPriority, loadavg, setPriority, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { repoRoot } from "../test/support/testdata.ts";
import { fmt } from "./support/timing.ts";
import {
  type ClosedLoopResult,
  closedLoop,
  encodePut,
  type FanoutResult,
  HOT_KEY,
  openChannels,
  watchFanout,
} from "./support/v3_client.ts";
import { type BenchCluster, cpuSeconds, ETCD_BIN, EtcdBench, TsraftBench } from "./support/v3_clusters.ts";

interface Options {
  duration: number;
  warmup: number;
  jitWarmup: number;
  warmupOps: number;
  clients: number[];
  mixedClients: number[];
  watchers: number;
  perStream: number;
  watchChannels: number;
  watchRate: number;
  watchSeconds: number;
  watchWarmup: number;
  only: Set<string>;
  systems: string[];
  profile: string | undefined;
  nice: number | undefined;
  json: string | undefined;
}

function parse(args: string[]): Options {
  const arg = (name: string, dflt: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1]! : dflt;
  };
  const nums = (s: string) =>
    s
      .split(",")
      .filter((x) => x !== "")
      .map(Number);
  const o: Options = {
    duration: Number(arg("--duration", "8")),
    warmup: Number(arg("--warmup", "1")),
    jitWarmup: Number(arg("--jit-warmup", "30")),
    warmupOps: Number(arg("--warmup-ops", "5000")),
    clients: nums(arg("--clients", "1,16,64")),
    mixedClients: nums(arg("--mixed-clients", "16,64")),
    watchers: Number(arg("--watchers", "1000")),
    perStream: Number(arg("--watchers-per-stream", "10")),
    watchChannels: Number(arg("--watch-channels", "6")),
    watchRate: Number(arg("--watch-rate", "50")),
    watchSeconds: Number(arg("--watch-seconds", "10")),
    watchWarmup: Number(arg("--watch-warmup", "2")),
    only: new Set(arg("--only", "puts,mixed,watch").split(",")),
    systems: arg("--systems", "tsraft-kv,etcd").split(","),
    profile: args.includes("--profile") ? resolve(arg("--profile", "")) : undefined,
    nice: args.includes("--nice") ? Number(arg("--nice", "")) : undefined,
    json: args.includes("--json") ? resolve(arg("--json", "")) : undefined,
  };
  const bad = [
    o.duration,
    o.warmup,
    o.jitWarmup,
    o.watchers,
    o.perStream,
    o.watchChannels,
    o.watchRate,
    o.watchSeconds,
    o.watchWarmup,
  ]
    .concat(o.clients, o.mixedClients)
    .some((n) => !Number.isFinite(n) || n < 0);
  if (bad) throw new Error(`bench:kv --api grpc: every numeric option must be a non-negative number`);
  for (const s of o.systems)
    if (s !== "tsraft-kv" && s !== "etcd" && !s.startsWith("tsraft-kv@"))
      throw new Error(`--systems: unknown system ${s} (tsraft-kv, etcd or tsraft-kv@DIR)`);
  return o;
}

const load1 = () => loadavg()[0]!;
const ms = (v: number) => (Number.isNaN(v) ? "-" : v < 10 ? v.toFixed(2) : v.toFixed(1));

/**
 * `etcd_disk_wal_fsync_duration_seconds_count` from a member's /metrics (the
 * same name in both systems): operations per fdatasync is how well a system
 * batches, the first thing to compare when CPU per operation differs.
 */
async function walFsyncCount(endpoint: string): Promise<number> {
  try {
    const r = await fetch(`http://${endpoint}/metrics`);
    const m = /^etcd_disk_wal_fsync_duration_seconds_count(?:\{[^}]*\})? (\S+)$/m.exec(await r.text());
    return m === null ? Number.NaN : Number(m[1]);
  } catch {
    return Number.NaN;
  }
}

/** CPU of the leader and of all members across a measured window. */
class CpuWindow {
  private l0 = 0;
  private a0 = 0;
  private c0 = process.cpuUsage();
  private t0 = 0;
  leaderS = 0;
  allS = 0;
  /** This process's (the client's) CPU as a share of one core over the window. */
  clientShare = 0;
  /** The leader's WAL fdatasyncs over the window (its /metrics, both systems), NaN if unreadable. */
  private f0: Promise<number> = Promise.resolve(Number.NaN);
  private f1: Promise<number> = Promise.resolve(Number.NaN);
  constructor(
    private readonly pids: number[],
    private readonly leader: number,
    private readonly leaderEndpoint?: string,
  ) {}
  /** fdatasyncs of the leader's WAL during the window (after `after` ran). */
  async fsyncs(): Promise<number> {
    return (await this.f1) - (await this.f0);
  }
  before = () => {
    if (this.leaderEndpoint !== undefined) this.f0 = walFsyncCount(this.leaderEndpoint);
    this.l0 = cpuSeconds(this.pids[this.leader]!);
    this.a0 = this.pids.reduce((s, p) => s + cpuSeconds(p), 0);
    this.c0 = process.cpuUsage();
    this.t0 = performance.now();
  };
  after = () => {
    if (this.leaderEndpoint !== undefined) this.f1 = walFsyncCount(this.leaderEndpoint);
    this.leaderS = cpuSeconds(this.pids[this.leader]!) - this.l0;
    this.allS = this.pids.reduce((s, p) => s + cpuSeconds(p), 0) - this.a0;
    const c = process.cpuUsage(this.c0);
    this.clientShare = (c.user + c.system) / 1000 / (performance.now() - this.t0);
  };
}

interface LoopRow {
  system: string;
  clients: number;
  res: ClosedLoopResult;
  ops: number;
  leaderUsPerOp: number;
  clusterUsPerOp: number;
  /** Operations per leader WAL fdatasync (NaN when the leader's /metrics could not be read). */
  opsPerFsync: number;
  load: number;
  clientShare: number;
  leaderChanged: boolean;
}

interface FanoutRow {
  system: string;
  res: FanoutResult;
  /** The warm-up fan-out (not counted), when one ran. */
  cold: FanoutResult | undefined;
  leaderUsPerPut: number;
  clusterUsPerEvent: number;
  load: number;
  clientShare: number;
  leaderChanged: boolean;
}

async function loopStep(
  c: BenchCluster,
  o: Options,
  clients: number,
  readFraction: number,
  seed: number,
): Promise<LoopRow> {
  const leader = await c.leader();
  const chans = await openChannels([c.endpoints[leader]!], Math.max(1, Math.min(clients, 16)));
  const cpu = new CpuWindow(c.pids(), leader, c.endpoints[leader]);
  const load = load1();
  try {
    const res = await closedLoop(chans, clients, o.duration, readFraction, seed, {
      warmupS: o.warmup,
      before: cpu.before,
      after: cpu.after,
    });
    const ops = res.puts.n + res.ranges.n;
    return {
      system: c.kind,
      clients,
      res,
      ops,
      leaderUsPerOp: (cpu.leaderS * 1e6) / ops,
      clusterUsPerOp: (cpu.allS * 1e6) / ops,
      load,
      clientShare: cpu.clientShare,
      opsPerFsync: ops / (await cpu.fsyncs()),
      leaderChanged: (await c.leader()) !== leader,
    };
  } finally {
    for (const ch of chans) ch.close();
  }
}

let fanoutRun = 0;
async function fanoutStep(c: BenchCluster, o: Options): Promise<FanoutRow> {
  const leader = await c.leader();
  const watchChans = await openChannels(c.endpoints, Math.max(1, o.watchChannels));
  const [putChan] = await openChannels([c.endpoints[leader]!], 1);
  const cpu = new CpuWindow(c.pids(), leader);
  const shape = (seconds: number) => ({
    watchers: o.watchers,
    perStream: Math.max(1, o.perStream),
    rate: o.watchRate,
    seconds,
    prefix: `w${fanoutRun++}/`,
    graceS: 5,
    maxDrainS: 60,
  });
  try {
    const cold =
      o.watchWarmup > 0 ? await watchFanout(watchChans, putChan!, shape(o.watchWarmup)) : undefined;
    const load = load1();
    const res = await watchFanout(watchChans, putChan!, shape(o.watchSeconds), {
      before: cpu.before,
      after: cpu.after,
    });
    return {
      system: c.kind,
      res,
      cold,
      leaderUsPerPut: (cpu.leaderS * 1e6) / res.puts,
      clusterUsPerEvent: (cpu.allS * 1e6) / Math.max(1, res.delivery.n),
      load,
      clientShare: cpu.clientShare,
      leaderChanged: (await c.leader()) !== leader,
    };
  } finally {
    for (const ch of [...watchChans, putChan!]) ch.close();
  }
}

function mdTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (i === 0 ? ` ${"-".repeat(w)} ` : ` ${"-".repeat(w - 1)}: `)).join("|")}|`,
    ...rows.map(line),
  ].join("\n");
}

/**
 * 4 KiB appends with fdatasync in a temp dir for up to 2 s (at most 200):
 * both systems fsync every raft batch, so a slow disk explains slow puts.
 */
function diskSyncRate(): string {
  const dir = mkdtempSync(join(tmpdir(), "v3bench-sync-"));
  try {
    const fd = openSync(join(dir, "f"), "w");
    const buf = Buffer.alloc(4096, 1);
    const lat: number[] = [];
    const end = performance.now() + 2000;
    while (lat.length < 200 && performance.now() < end) {
      const t0 = performance.now();
      writeSync(fd, buf);
      fdatasyncSync(fd);
      lat.push(performance.now() - t0);
    }
    closeSync(fd);
    lat.sort((a, b) => a - b);
    const total = lat.reduce((a, b) => a + b, 0);
    return `4 KiB append + fdatasync: ${fmt(lat.length / (total / 1000))}/s, p50 ${ms(lat[lat.length >> 1]!)} ms, max ${ms(lat[lat.length - 1]!)} ms (${lat.length} syncs)`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function git(args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: repoRoot, encoding: "utf8" }).trim();
  } catch {
    return "?";
  }
}

export async function main(args: string[]): Promise<void> {
  const o = parse(args);
  if (o.nice !== undefined) {
    // Both clusters and the client at one priority: member processes inherit
    // the nice value of this (main) thread when they are spawned, every
    // thread they start inherits theirs. On a machine shared with other
    // work this measures the two systems against each other rather than
    // against the rest of the machine (a negative value needs root).
    setPriority(0, o.nice);
    console.log(`nice ${getPriority(0)}: both clusters and the client run at this priority`);
  }
  const commit = `${git(["rev-parse", "--short", "HEAD"])}${git(["status", "--porcelain", "--", "src", "bench"]) === "" ? "" : " (+ uncommitted changes in src/ or bench/)"}`;
  const etcdVersion = execFileSync(ETCD_BIN, ["--version"], { encoding: "utf8" }).split("\n")[0]!;
  console.log(
    `etcd v3 gRPC comparison: ${new Date().toISOString()}, commit ${commit}, node ${process.version}, ${etcdVersion}, ${cpus().length} CPUs, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  console.log(
    `puts: 8 B keys over 100k, 256 B values, ${o.duration} s per step after ${o.warmup} s warm-up, to the leader; fsync on (both)`,
  );

  console.log(`disk: ${diskSyncRate()}`);

  const clusters: BenchCluster[] = [];
  const started = performance.now();
  try {
    if (o.profile !== undefined) mkdirSync(o.profile, { recursive: true });
    for (const s of o.systems) {
      const t0 = performance.now();
      const prof =
        o.profile === undefined
          ? []
          : ["--cpu-prof", `--cpu-prof-dir=${join(o.profile, s.replace(/[^A-Za-z0-9._-]+/g, "_"))}`];
      // KV_BENCH_NODE_ARGS: more Node flags for tsraft-kv's members, e.g.
      // "--perf-basic-prof" for a Linux `perf record -p <leader pid>` (CPU time only,
      // kernel included, which a V8 profile's wall-clock samples are not).
      prof.push(...(process.env.KV_BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a !== ""));
      const c =
        s === "etcd"
          ? await EtcdBench.start()
          : await TsraftBench.start(prof, [], s.startsWith("tsraft-kv@") ? s.slice(10) : undefined);
      clusters.push(c);
      const l = await c.leader();
      console.log(
        `${c.kind}: 3 members at ${c.endpoints.join(",")}, leader #${l + 1} (pid ${c.pids()[l]}), up in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    }
    // A fresh Node process runs the request path in V8's interpreter and
    // baseline tiers until it is hot; on a loaded machine the first steps
    // would then measure the compiler (a profile of a cold leader showed
    // ~21% of its CPU in TurboFan and most frames unoptimized). Both systems
    // get the same unmeasured warm-up: 16 clients, half puts and half ranges,
    // until --warmup-ops operations (at most --jit-warmup seconds).
    if (o.jitWarmup > 0) {
      for (const c of clusters) {
        const l = await c.leader();
        const chans = await openChannels([c.endpoints[l]!], 16);
        const t0 = performance.now();
        let ops = 0;
        // By operation count, not time: V8 optimizes after so many calls, so a
        // starved process needs longer; capped at jitWarmup seconds.
        while (ops < o.warmupOps && performance.now() - t0 < o.jitWarmup * 1000) {
          const w = await closedLoop(chans, 16, 1, 0.5, 99 + ops);
          ops += w.puts.n + w.ranges.n;
        }
        for (const ch of chans) ch.close();
        const secs = (performance.now() - t0) / 1000;
        console.log(`${c.kind}: warm-up ${fmt(ops)} ops in ${secs.toFixed(1)} s (not counted)`);
      }
    }
    // Alternate which system goes first, step by step.
    let step = 0;
    const each = async <T>(fn: (c: BenchCluster) => Promise<T>): Promise<T[]> => {
      const order = step++ % 2 === 0 ? clusters : [...clusters].reverse();
      const out = new Map<BenchCluster, T>();
      for (const c of order) out.set(c, await fn(c));
      return clusters.map((c) => out.get(c)!);
    };
    const loopLine = (r: LoopRow) =>
      `  ${r.system.padEnd(9)} ${String(r.clients).padStart(3)} clients: ${fmt(r.ops / r.res.seconds)} ops/s, put p50/p99 ${ms(r.res.puts.percentiles([50])[0]!)}/${ms(r.res.puts.percentiles([99])[0]!)} ms${r.res.ranges.n > 0 ? `, range p50/p99 ${ms(r.res.ranges.percentiles([50])[0]!)}/${ms(r.res.ranges.percentiles([99])[0]!)} ms` : ""}, leader ${fmt(r.leaderUsPerOp)} µs CPU/op (all members ${fmt(r.clusterUsPerOp)}), errors ${r.res.errors}${r.res.firstError ? ` (${r.res.firstError})` : ""}${r.res.emptyRanges ? `, EMPTY RANGES ${r.res.emptyRanges}` : ""}, ${r.opsPerFsync.toFixed(1)} ops/fsync, client ${(r.clientShare * 100).toFixed(0)}% CPU, load ${r.load.toFixed(2)}${r.leaderChanged ? ", LEADER CHANGED" : ""}`;

    const puts: LoopRow[][] = [];
    if (o.only.has("puts")) {
      console.log("\n1. puts");
      for (const n of o.clients) {
        const rows = await each((c) => loopStep(c, o, n, 0, 1000 + n));
        for (const r of rows) console.log(loopLine(r));
        puts.push(rows);
      }
    }
    const mixed: LoopRow[][] = [];
    if (o.only.has("mixed")) {
      console.log("\n2. mixed: 90% linearizable range of one key, 10% puts");
      await each(async (c) => {
        const [ch] = await openChannels([c.endpoints[await c.leader()]!], 1);
        await ch!.put(encodePut(HOT_KEY, new Uint8Array(256).fill(0x62)));
        ch!.close();
      });
      for (const n of o.mixedClients) {
        const rows = await each((c) => loopStep(c, o, n, 0.9, 2000 + n));
        for (const r of rows) console.log(loopLine(r));
        mixed.push(rows);
      }
    }
    let fan: FanoutRow[] = [];
    if (o.only.has("watch")) {
      console.log(
        `\n3. watch fan-out: ${o.watchers} watchers (${o.perStream} per stream, ${o.watchChannels} channels over all members), ${o.watchRate} puts/s for ${o.watchSeconds} s to the leader, after ${o.watchWarmup} s of the same not counted`,
      );
      fan = await each((c) => fanoutStep(c, o));
      for (const r of fan) {
        const [p50, p99, max] = r.res.delivery.percentiles([50, 99, 100]);
        console.log(
          `  ${r.system.padEnd(9)} delivery p50/p99/max ${ms(p50!)}/${ms(p99!)}/${ms(max!)} ms, lost ${r.res.lost}${r.res.stillArriving ? " (events still arriving when the wait ended: a backlog)" : ""}, duplicates ${r.res.duplicates}, anomalies ${r.res.anomalies}, put errors ${r.res.putErrors}, sent ${r.res.achievedRate.toFixed(0)}/s, leader ${fmt(r.leaderUsPerPut)} µs CPU/put, client ${(r.clientShare * 100).toFixed(0)}% CPU, load ${r.load.toFixed(2)}${r.leaderChanged ? ", LEADER CHANGED" : ""}; worst delivery per second of puts ${r.res.worstBySecond.map((x) => x.toFixed(0)).join(" ")} ms`,
        );
      }
    }

    // ---- the three tables -------------------------------------------------------------
    const names = clusters.map((c) => c.kind);
    // The ratio column: tsraft-kv / etcd, or first / second system in an A/B of two trees.
    let ts = names.indexOf("tsraft-kv");
    let et = names.indexOf("etcd");
    if ((ts < 0 || et < 0) && names.length === 2) [ts, et] = [0, 1];
    const both = ts >= 0 && et >= 0;
    console.log(
      `\nResults (${new Date().toISOString()}, commit ${commit}, load average at the end ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}; whole run ${((performance.now() - started) / 1000).toFixed(0)} s)`,
    );
    if (puts.length > 0) {
      console.log(
        "\nTable 1. Puts (closed loop, to the leader): writes/s, latency ms, leader CPU µs per put",
      );
      const h = ["clients"];
      for (const n of names) h.push(`${n} w/s`, "p50", "p99", "leader µs/put");
      if (both) h.push(names[et] === "etcd" ? "w/s ratio" : `w/s ${names[ts]}/${names[et]}`);
      h.push("load");
      console.log(
        mdTable(
          h,
          puts.map((rows) => {
            const cells = [String(rows[0]!.clients)];
            for (const r of rows) {
              const [p50, p99] = r.res.puts.percentiles([50, 99]);
              cells.push(
                `${fmt(r.ops / r.res.seconds)}${r.res.errors ? ` (${r.res.errors} err)` : ""}${r.leaderChanged ? " *" : ""}`,
                ms(p50!),
                ms(p99!),
                fmt(r.leaderUsPerOp),
              );
            }
            if (both)
              cells.push(
                `${(rows[ts]!.ops / rows[ts]!.res.seconds / (rows[et]!.ops / rows[et]!.res.seconds)).toFixed(2)}x`,
              );
            cells.push(rows.map((r) => r.load.toFixed(1)).join("/"));
            return cells;
          }),
        ),
      );
    }
    // A client count given more than once (--clients 1,16,64,1,16,64,...):
    // the median of its repeats per system, which steadies figures that move
    // ±20% from one step to the next on a shared machine.
    const counts = [...new Set(puts.map((rows) => rows[0]!.clients))];
    if (puts.length > counts.length) {
      const median = (xs: number[]) => {
        const v = [...xs].sort((a, b) => a - b);
        const m = v.length >>> 1;
        return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
      };
      console.log(
        "\nTable 1b. Puts, median of the repeated steps: writes/s, p99 ms, leader and all members' CPU µs per put, ops per leader fdatasync",
      );
      const h = ["clients", "steps"];
      for (const n of names) h.push(`${n} w/s`, "p99", "leader µs/put", "all µs/put", "ops/fsync");
      if (both) h.push("w/s ratio", "leader CPU ratio");
      console.log(
        mdTable(
          h,
          counts.map((n) => {
            const reps = puts.filter((rows) => rows[0]!.clients === n);
            const cells = [String(n), String(reps.length)];
            const per = names.map((_, i) => {
              const rs = reps.map((rows) => rows[i]!);
              return {
                wps: median(rs.map((r) => r.ops / r.res.seconds)),
                p99: median(rs.map((r) => r.res.puts.percentiles([99])[0]!)),
                leader: median(rs.map((r) => r.leaderUsPerOp)),
                all: median(rs.map((r) => r.clusterUsPerOp)),
                perFsync: median(rs.map((r) => r.opsPerFsync)),
              };
            });
            for (const m of per)
              cells.push(fmt(m.wps), ms(m.p99), fmt(m.leader), fmt(m.all), m.perFsync.toFixed(1));
            if (both)
              cells.push(
                `${(per[ts]!.wps / per[et]!.wps).toFixed(2)}x`,
                `${(per[ts]!.leader / per[et]!.leader).toFixed(2)}x`,
              );
            return cells;
          }),
        ),
      );
    }
    if (mixed.length > 0) {
      console.log(
        "\nTable 2. Mixed 90% linearizable Range (one key) / 10% Put: ops/s, latency ms per kind, leader CPU µs per op",
      );
      const h = ["clients"];
      for (const n of names) h.push(`${n} ops/s`, "range p50", "p99", "put p50", "p99", "leader µs/op");
      h.push("load");
      console.log(
        mdTable(
          h,
          mixed.map((rows) => {
            const cells = [String(rows[0]!.clients)];
            for (const r of rows) {
              const [rp50, rp99] = r.res.ranges.percentiles([50, 99]);
              const [pp50, pp99] = r.res.puts.percentiles([50, 99]);
              cells.push(
                `${fmt(r.ops / r.res.seconds)}${r.res.errors || r.res.emptyRanges ? ` (${r.res.errors + r.res.emptyRanges} err)` : ""}${r.leaderChanged ? " *" : ""}`,
                ms(rp50!),
                ms(rp99!),
                ms(pp50!),
                ms(pp99!),
                fmt(r.leaderUsPerOp),
              );
            }
            cells.push(rows.map((r) => r.load.toFixed(1)).join("/"));
            return cells;
          }),
        ),
      );
    }
    if (fan.length > 0) {
      console.log(
        `\nTable 3. Watch fan-out: ${o.watchers} watchers on a prefix, ${o.watchRate} puts/s for ${o.watchSeconds} s after ${o.watchWarmup} s not counted; delivery = put sent → event at the watcher`,
      );
      const row = (label: string, f: (r: FanoutRow) => string) => [label, ...fan.map(f)];
      const pct = (r: FanoutRow, i: number) => ms(r.res.delivery.percentiles([50, 99, 100])[i]!);
      console.log(
        mdTable(
          ["", ...names],
          [
            row("events expected", (r) => fmt(r.res.watchers * r.res.puts)),
            row("delivery p50 ms", (r) => pct(r, 0)),
            row("delivery p99 ms", (r) => pct(r, 1)),
            row("delivery max ms", (r) => pct(r, 2)),
            row(`cold start p99 / max ms (first ${o.watchWarmup} s, not counted)`, (r) => {
              if (r.cold === undefined) return "—";
              const [p99, max] = r.cold.delivery.percentiles([99, 100]);
              const bad = r.cold.lost + r.cold.duplicates + r.cold.anomalies;
              return `${ms(p99!)} / ${ms(max!)}${bad > 0 ? ` (lost ${r.cold.lost}, duplicates ${r.cold.duplicates}, anomalies ${r.cold.anomalies})` : ""}`;
            }),
            row("events lost", (r) =>
              r.res.stillArriving ? `${r.res.lost} (still arriving at the 60 s cap)` : String(r.res.lost),
            ),
            row("duplicates / anomalies", (r) => `${r.res.duplicates} / ${r.res.anomalies}`),
            row("put errors", (r) => String(r.res.putErrors)),
            row("puts sent per s", (r) => r.res.achievedRate.toFixed(0)),
            row("last event after last put, s", (r) => r.res.drainS.toFixed(2)),
            row("leader CPU µs per put", (r) => fmt(r.leaderUsPerPut)),
            row("all members' CPU µs per event", (r) => fmt(r.clusterUsPerEvent, 1)),
            row(
              "load average (1 min)",
              (r) => `${r.load.toFixed(2)}${r.leaderChanged ? " (leader changed)" : ""}`,
            ),
          ],
        ),
      );
    }
    console.log(
      "\n* = the leader changed during the step. Anchors (../shared/anchors/PERF.md, etcd 3.4 gRPC, quiet machine): 1/16/64 clients 1,114 / 4,377 / 6,926-7,633 w/s, p99 1.7 / 9.2 / 21.5 ms, leader ≈106 µs CPU/put at 64.",
    );
    if (o.json !== undefined) {
      const flat = (r: LoopRow) => ({
        system: r.system,
        clients: r.clients,
        opsPerSec: r.ops / r.res.seconds,
        put: r.res.puts.percentiles([50, 99]),
        range: r.res.ranges.percentiles([50, 99]),
        errors: r.res.errors,
        leaderUsPerOp: r.leaderUsPerOp,
        clusterUsPerOp: r.clusterUsPerOp,
        opsPerFsync: r.opsPerFsync,
        load: r.load,
        leaderChanged: r.leaderChanged,
      });
      writeFileSync(
        o.json,
        JSON.stringify({
          date: new Date().toISOString(),
          commit,
          options: { ...o, only: [...o.only] },
          puts: puts.flat().map(flat),
          mixed: mixed.flat().map(flat),
          fanout: fan.map((r) => ({
            system: r.system,
            delivery: r.res.delivery.percentiles([50, 99, 100]),
            lost: r.res.lost,
            duplicates: r.res.duplicates,
            anomalies: r.res.anomalies,
            putErrors: r.res.putErrors,
            leaderUsPerPut: r.leaderUsPerPut,
            clusterUsPerEvent: r.clusterUsPerEvent,
            load: r.load,
          })),
        }),
      );
    }
  } finally {
    await Promise.all(clusters.map((c) => c.close()));
  }
}

// Run directly: node --import tsx bench/kv-v3.ts [options]
if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(repoRoot, "bench/kv-v3.ts"))
  await main(process.argv.slice(2));
