// node --import tsx bench/v3-api-ab.ts --trees DIR_A,DIR_B[,...] [--rounds 3] [--clients 16,64]
//     [--duration 5] [--watchers 1000] [--watch-rate 50] [--watch-seconds 5]
//
// Same-run before/after of the v3 API layer of several source trees (e.g.
// `git archive` of the commit before a change and of the change, each with a
// node_modules link), without raft or a disk: each tree serves etcd's gRPC
// API from a single-member server (bench/v3-grpc.ts --serve: SingleMemberBackend,
// the MVCC store applied in process) started from inside that tree, and one
// client (bench/support/v3_client.ts) drives them in turn, rounds alternating
// the order. What it measures is the CPU the server process spends per
// operation (utime+stime from /proc around the window): the gRPC/HTTP/2
// path, the client-port listener, request decoding, MVCC and response
// encoding — the work a cluster member does per request on top of raft,
// the WAL and peers. On a machine whose disk or CPU is saturated by other
// work this figure holds up where a cluster's writes/s and latency do not.
// Steps: closed-loop puts at each --clients count, then a watch fan-out
// (--watchers watches on a prefix over 6 channels, 10 per stream, puts at
// --watch-rate): server CPU per delivered event and delivery p50/p99.
import { type ChildProcess, spawn } from "node:child_process";
import { loadavg } from "node:os";
import { basename, resolve } from "node:path";
import { fmt } from "./support/timing.ts";
import { closedLoop, openChannels, watchFanout } from "./support/v3_client.ts";
import { cpuSeconds } from "./support/v3_clusters.ts";

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const trees = arg("--trees", "")
  .split(",")
  .filter((t) => t !== "")
  .map((t) => resolve(t));
if (trees.length === 0) throw new Error("--trees DIR_A,DIR_B is required");
const rounds = Number(arg("--rounds", "3"));
const clientCounts = arg("--clients", "16,64").split(",").map(Number);
const duration = Number(arg("--duration", "5"));
const watchers = Number(arg("--watchers", "1000"));
const watchRate = Number(arg("--watch-rate", "50"));
const watchSeconds = Number(arg("--watch-seconds", "5"));

interface Server {
  name: string;
  proc: ChildProcess;
  endpoint: string;
}

function startServer(tree: string): Promise<Server> {
  const proc = spawn(process.execPath, ["--import", "tsx", "bench/v3-grpc.ts", "--serve"], {
    cwd: tree,
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((res, rej) => {
    let out = "";
    proc.once("exit", (code) => rej(new Error(`server in ${tree} exited (${code})`)));
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) res({ name: basename(tree), proc, endpoint: `127.0.0.1:${m[1]}` });
    });
  });
}

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const servers: Server[] = [];
try {
  for (const t of trees) servers.push(await startServer(t));
  console.log(
    `v3 API layer A/B: ${servers.map((s) => s.name).join(" vs ")}; ${rounds} rounds, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  // Warm-up (unmeasured): V8 optimizes each server's request path.
  for (const s of servers) {
    const chans = await openChannels([s.endpoint], 16);
    await closedLoop(chans, 16, 5, 0, 7);
    for (const c of chans) c.close();
  }
  // results[step][server] = samples per round
  const putCpu = new Map<string, number[]>();
  const putRate = new Map<string, number[]>();
  const evCpu = new Map<string, number[]>();
  const evP50 = new Map<string, number[]>();
  const evP99 = new Map<string, number[]>();
  const add = (m: Map<string, number[]>, k: string, v: number) => {
    const a = m.get(k) ?? [];
    a.push(v);
    m.set(k, a);
  };
  const loads: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    loads.push(loadavg()[0]!);
    for (const s of order) {
      for (const n of clientCounts) {
        const chans = await openChannels([s.endpoint], Math.min(n, 16));
        let c0 = 0;
        let c1 = 0;
        const res = await closedLoop(chans, n, duration, 0, 100 + round, {
          warmupS: 0.5,
          before: () => {
            c0 = cpuSeconds(s.proc.pid!);
          },
          after: () => {
            c1 = cpuSeconds(s.proc.pid!);
          },
        });
        for (const c of chans) c.close();
        add(putCpu, `${s.name} ${n}`, ((c1 - c0) * 1e6) / Math.max(1, res.puts.n));
        add(putRate, `${s.name} ${n}`, res.puts.n / res.seconds);
      }
      if (watchers > 0) {
        const wch = await openChannels([s.endpoint], 6);
        const [pch] = await openChannels([s.endpoint], 1);
        let c0 = 0;
        let c1 = 0;
        const f = await watchFanout(
          wch,
          pch!,
          {
            watchers,
            perStream: 10,
            rate: watchRate,
            seconds: watchSeconds,
            prefix: `ab${round}/`,
            graceS: 3,
            maxDrainS: 60,
          },
          {
            before: () => {
              c0 = cpuSeconds(s.proc.pid!);
            },
            after: () => {
              c1 = cpuSeconds(s.proc.pid!);
            },
          },
        );
        for (const c of [...wch, pch!]) c.close();
        if (f.lost > 0 || f.duplicates > 0 || f.anomalies > 0)
          console.log(
            `  ${s.name}: fan-out lost ${f.lost}, duplicates ${f.duplicates}, anomalies ${f.anomalies}`,
          );
        add(evCpu, s.name, ((c1 - c0) * 1e6) / Math.max(1, f.delivery.n));
        const [p50, p99] = f.delivery.percentiles([50, 99]);
        add(evP50, s.name, p50!);
        add(evP99, s.name, p99!);
      }
    }
    console.log(`round ${round + 1} done (load ${loads[round]!.toFixed(1)})`);
  }
  console.log(
    `\nServer CPU µs per put (median of ${rounds} rounds; min–max), puts/s median; load average per round ${loads.map((l) => l.toFixed(1)).join(", ")}`,
  );
  for (const n of clientCounts)
    for (const s of servers) {
      const c = putCpu.get(`${s.name} ${n}`)!;
      console.log(
        `  ${s.name.padEnd(12)} ${String(n).padStart(3)} clients: ${fmt(median(c))} µs/put (${fmt(Math.min(...c))}–${fmt(Math.max(...c))}), ${fmt(median(putRate.get(`${s.name} ${n}`)!))} puts/s`,
      );
    }
  if (watchers > 0) {
    console.log(
      `\nWatch fan-out, ${watchers} watchers, ${watchRate} puts/s for ${watchSeconds} s: server CPU µs per event, delivery ms (medians)`,
    );
    for (const s of servers) {
      const c = evCpu.get(s.name)!;
      console.log(
        `  ${s.name.padEnd(12)} ${fmt(median(c), 1)} µs/event (${fmt(Math.min(...c), 1)}–${fmt(Math.max(...c), 1)}), delivery p50 ${fmt(median(evP50.get(s.name)!), 1)} ms, p99 ${fmt(median(evP99.get(s.name)!), 1)} ms`,
      );
    }
  }
} finally {
  for (const s of servers) s.proc.kill();
}
