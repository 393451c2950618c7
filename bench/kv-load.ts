// npm run bench:kv [-- --duration S --clients 1,16,64 --no-etcd]
// npm run bench:kv -- --api grpc [...]   (etcd v3 gRPC API vs etcd 3.4: see bench/kv-v3.ts)
//
// Closed-loop put load against a three-member tsraft-kv cluster (fsync on),
// with 8-byte keys and 256-byte values at 1, 16 and 64 clients, using the
// shared load generator (../shared/tools/loadgen.js). When Debian's etcd is
// installed, the same load runs against a three-member etcd cluster through
// its HTTP JSON gateway in the same run, and the table shows both.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { http, ProcCluster } from "../test/kv/support/cluster.ts";
import { repoRoot } from "../test/support/testdata.ts";
import { fmt, printTable } from "./support/timing.ts";

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : dflt;
};
// --api grpc: the etcd v3 gRPC comparison (puts, mixed, watch fan-out) in bench/kv-v3.ts.
if (arg("--api", "rest") === "grpc") {
  const { main } = await import("./kv-v3.ts");
  await main(args.filter((a, i) => a !== "--api" && args[i - 1] !== "--api"));
  process.exit(0);
}
const duration = Number(arg("--duration", "10"));
const clientCounts = arg("--clients", "1,16,64").split(",").map(Number);
const withEtcd = !args.includes("--no-etcd");
const tools = resolve(repoRoot, "../shared/tools");
const loadgen = join(tools, "loadgen.js");

interface LoadResult {
  opsPerSec: number;
  errors: number;
  latMs: { p50: number; p99: number };
}

function runLoad(url: string, clients: number, format: string): Promise<LoadResult> {
  return new Promise((res, rej) => {
    const p = spawn(
      process.execPath,
      [
        loadgen,
        "--urls",
        url,
        "--clients",
        String(clients),
        "--duration",
        String(duration),
        "--warmup",
        "2",
        "--key-size",
        "8",
        "--value-size",
        "256",
        "--key-space",
        "100000",
        "--format",
        format,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
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

interface Row {
  clients: number;
  load: LoadResult;
  leaderCpuUs: number;
}

async function measure(url: string, pid: number, format: string): Promise<Row[]> {
  const rows: Row[] = [];
  for (const clients of clientCounts) {
    const c0 = cpuSeconds(pid);
    const load = await runLoad(url, clients, format);
    const c1 = cpuSeconds(pid);
    const ops = load.opsPerSec * duration;
    // CPU over warmup+run is charged to the measured ops; the warmup share is small.
    rows.push({ clients, load, leaderCpuUs: ((c1 - c0) / (ops * ((duration + 2) / duration))) * 1e6 });
    console.log(
      `  ${clients} clients: ${fmt(load.opsPerSec)} req/s p99 ${load.latMs.p99} ms (errors ${load.errors})`,
    );
  }
  return rows;
}

async function benchTsraft(): Promise<Row[]> {
  const c = new ProcCluster();
  c.fastTiming = false;
  // Extra member flags for experiments, e.g. KV_BENCH_MEMBER_ARGS="--snapshot-count 1000000".
  c.extraArgs = (process.env.KV_BENCH_MEMBER_ARGS ?? "").split(" ").filter((a) => a !== "");
  // Node flags for the members, e.g. KV_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
  c.nodeArgs = (process.env.KV_BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
  try {
    const names = ["m1", "m2", "m3"];
    for (const n of names) await c.add(n);
    const initial = c.initialCluster(names);
    for (const m of c.members) c.start(m, ["--initial-cluster", initial]);
    for (const m of c.members) await c.healthy(m);
    const leader = await c.leader(c.members);
    console.log(`tsraft-kv: leader ${leader.name} at ${leader.client}`);
    return await measure(leader.client, leader.proc!.pid!, "raw-put");
  } finally {
    // SIGTERM first so that profilers (if any) can write their output.
    await c.stopAll();
    await c.cleanup();
  }
}

async function benchEtcd(): Promise<Row[] | null> {
  if (!withEtcd) return null;
  const which = spawnSync("sh", ["-c", "command -v etcd"], { encoding: "utf8" });
  if (which.status !== 0) {
    console.log(
      "etcd: not installed (apt-get install etcd-server etcd-client); skipping the etcd comparison",
    );
    return null;
  }
  const base = mkdtempSync(join(tmpdir(), "etcd-bench-"));
  const script = join(tools, "etcd_cluster.sh");
  try {
    execFileSync("bash", [script, "start", base], { stdio: "ignore" });
    const endpoints = ["http://127.0.0.1:2379", "http://127.0.0.1:22379", "http://127.0.0.1:32379"];
    let leaderIdx = 0;
    for (let i = 0; i < endpoints.length; i++) {
      const r = await http("POST", `${endpoints[i]}/v3/maintenance/status`, "{}");
      const st = r.json() as { leader: string; header: { member_id: string } };
      if (st.leader === st.header.member_id) leaderIdx = i;
    }
    const pid = Number(readFileSync(join(base, `m${leaderIdx + 1}.pid`), "utf8"));
    console.log(`etcd: leader m${leaderIdx + 1} at ${endpoints[leaderIdx]}`);
    return await measure(endpoints[leaderIdx]!, pid, "etcd-v3-json");
  } finally {
    execFileSync("bash", [script, "stop", base], { stdio: "ignore" });
    rmSync(base, { recursive: true, force: true });
  }
}

if (!existsSync(loadgen)) {
  console.error(`load generator not found at ${loadgen}`);
  process.exit(1);
}
console.log(
  `put load: 8-byte keys, 256-byte values, ${duration} s per run, fsync on, three members on this machine\n`,
);
const ours = await benchTsraft();
const etcd = await benchEtcd();
console.log("");
printTable(
  [
    "clients",
    "tsraft-kv req/s",
    "p50 ms",
    "p99 ms",
    "leader CPU µs/put",
    "etcd (HTTP gw) req/s",
    "p50 ms",
    "p99 ms",
    "leader CPU µs/put",
    "throughput ratio",
  ],
  ours.map((r, i) => {
    const e = etcd?.[i];
    return [
      String(r.clients),
      fmt(r.load.opsPerSec),
      String(r.load.latMs.p50),
      String(r.load.latMs.p99),
      fmt(r.leaderCpuUs),
      e ? fmt(e.load.opsPerSec) : "-",
      e ? String(e.load.latMs.p50) : "-",
      e ? String(e.load.latMs.p99) : "-",
      e ? fmt(e.leaderCpuUs) : "-",
      e ? `${fmt(r.load.opsPerSec / e.load.opsPerSec, 2)}x` : "-",
    ];
  }),
);
console.log(
  "\nanchors (PERF.md, etcd 3.4 gRPC at 64 clients): 6,926-7,633 req/s, p99 21.5 ms, leader ≈106 µs CPU/put",
);
