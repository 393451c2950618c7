// node --import tsx bench/v3-grpc.ts [--endpoints host:port[,host:port...]] [--clients 1,16,64]
//                                     [--duration S] [--conns N] [--json]
//
// Closed-loop etcd v3 gRPC put load with @grpc/grpc-js: 8-byte keys drawn
// from 100,000, 256-byte values, at each client count in turn. Runs against
// any etcd-API endpoint (tsraft-kv, etcd); without --endpoints it starts a
// single-member tsraft v3 server in a child process (no raft, no disk: the
// API layer's own cost) and also reports that process's CPU time per put
// (from /proc, so it holds up on a busy machine where puts/s do not).
// Prints puts/s and latency percentiles per client count; --json prints
// one JSON line per client count instead.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { create, KV } from "../src/etcdpb/index.ts";
import { etcdServiceDefinition, SingleMemberBackend, startV3Server } from "../src/v3rpc/index.ts";

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : dflt;
};
const durationS = Number(arg("--duration", "5"));
const clientCounts = arg("--clients", "1,16,64").split(",").map(Number);
const json = args.includes("--json");
const KEYSPACE = 100_000;
const VALUE = new Uint8Array(256).fill(0x61);

let endpoints = arg("--endpoints", "")
  .split(",")
  .filter((e) => e !== "");
let child: ChildProcess | undefined;
if (process.argv[2] === "--serve") {
  const backend = new SingleMemberBackend();
  const server = await startV3Server({ backend, port: 0 });
  console.log(`PORT ${server.port}`);
  await new Promise(() => {});
}
if (endpoints.length === 0) {
  child = spawn(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, "--serve"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((res) => {
    let out = "";
    child!.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) res(Number(m[1]));
    });
  });
  endpoints = [`127.0.0.1:${port}`];
}

/** CPU seconds (user + system) the server child has used so far. */
function childCpu(): number {
  if (child?.pid === undefined) return Number.NaN;
  const f = readFileSync(`/proc/${child.pid}/stat`, "utf8");
  const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const KVClient = grpc.makeGenericClientConstructor(etcdServiceDefinition(KV), "KV");

function key(i: number): Uint8Array {
  // 8 bytes: "k" + 7 decimal digits
  return new TextEncoder().encode(`k${String(i).padStart(7, "0")}`);
}
const keys = Array.from({ length: KEYSPACE }, (_, i) => key(i));

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(clients: number): Promise<void> {
  const conns = Number(arg("--conns", String(Math.min(clients, 16))));
  const channels = Array.from(
    { length: conns },
    (_, i) => new KVClient(endpoints[i % endpoints.length]!, grpc.credentials.createInsecure()),
  );
  const lat: number[] = [];
  let errors = 0;
  let done = 0;
  let rnd = 12345;
  const next = () => {
    rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
    return rnd % KEYSPACE;
  };
  const reqs = keys.map((k) => create(KV.method.put.input, { key: k, value: VALUE }));
  // warm-up: one put per channel
  await Promise.all(channels.map((c) => new Promise((r) => c.Put(reqs[0], r))));
  const deadline = performance.now() + durationS * 1000;
  const start = performance.now();
  const cpu0 = childCpu();
  const worker = async (w: number) => {
    const c = channels[w % conns]!;
    while (performance.now() < deadline) {
      const t0 = performance.now();
      await new Promise<void>((res) =>
        c.Put(reqs[next()], (err: unknown) => {
          if (err) errors++;
          else {
            lat.push(performance.now() - t0);
            done++;
          }
          res();
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, w) => worker(w)));
  const secs = (performance.now() - start) / 1000;
  const cpuUsPerPut = ((childCpu() - cpu0) * 1e6) / done;
  for (const c of channels) c.close();
  const sorted = Float64Array.from(lat).sort();
  const r = {
    clients,
    putsPerSec: Math.round(done / secs),
    errors,
    p50ms: +percentile(sorted, 50).toFixed(3),
    p99ms: +percentile(sorted, 99).toFixed(3),
    p999ms: +percentile(sorted, 99.9).toFixed(3),
    serverCpuUsPerPut: Number.isNaN(cpuUsPerPut) ? undefined : Math.round(cpuUsPerPut),
  };
  if (json) console.log(JSON.stringify(r));
  else
    console.log(
      `${String(clients).padStart(4)} clients  ${String(r.putsPerSec).padStart(8)} puts/s  p50 ${r.p50ms} ms  p99 ${r.p99ms} ms  p99.9 ${r.p999ms} ms  errors ${errors}${r.serverCpuUsPerPut === undefined ? "" : `  server CPU ${r.serverCpuUsPerPut} µs/put`}`,
    );
}

if (!json)
  console.log(
    `etcd v3 gRPC put load against ${endpoints.join(",")}: 8 B keys over ${KEYSPACE}, 256 B values`,
  );
for (const c of clientCounts) await run(c);
child?.kill();
