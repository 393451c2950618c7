// rafthttp benchmarks on loopback. The sending member runs here, the
// receiving one in a worker thread (bench/rafthttp.peer.ts), each on its own
// core as separate member processes would be:
//  - MsgApp throughput (100 entries × 256 B per message, and 1 × 256 B) over
//    the msgappv2 stream, vs a plain keep-alive HTTP POST of the same encoded
//    bytes per message (4 in flight like etcd's pipeline, and 1 in flight);
//  - heartbeat round trip (MsgHeartbeat → MsgHeartbeatResp) over the message
//    stream vs over POSTs, p50/p99.

import * as http from "node:http";
import { Worker } from "node:worker_threads";
import { discardLogger } from "../src/index.ts";
import { type RaftReceiver, Transport } from "../src/rafthttp/index.ts";
import { Entry, encodeMessage, Message, MessageType } from "../src/raftpb/index.ts";

const ENTRY_BYTES = 256;
const N_STREAM = Number(process.env.RAFTHTTP_BENCH_N ?? 30_000);
const N_POST = Math.max(2000, Math.floor(N_STREAM / 5));
const WINDOW = 1024;
const RTT_N = 2000;

const counterBuf = new SharedArrayBuffer(4);
const counter = new Int32Array(counterBuf);
const received = (): number => Atomics.load(counter, 0);

/** Resolves once the peer has received `n` messages in total (checked between I/O events). */
function receivedAtLeast(n: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (received() >= n) resolve();
      else setImmediate(check);
    };
    check();
  });
}

class LeaderRaft implements RaftReceiver {
  count = 0;
  wake: (() => void) | null = null;
  process(): void {
    this.count++;
    const w = this.wake;
    this.wake = null;
    w?.();
  }
  next(): Promise<void> {
    return new Promise((r) => {
      this.wake = r;
    });
  }
  isIDRemoved(): boolean {
    return false;
  }
  reportUnreachable(): void {}
  reportSnapshot(): void {}
}

function makeEntries(n: number): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < n; i++) out.push(new Entry(1, 0, 0, Buffer.alloc(ENTRY_BYTES, i)));
  return out;
}

function appMessage(index: number, es: Entry[]): Message {
  for (let i = 0; i < es.length; i++) es[i]!.index = index + 1 + i;
  return Message.create({
    type: MessageType.MsgApp,
    from: 1n,
    to: 2n,
    term: 1,
    logTerm: 1,
    index,
    entries: es,
    commit: index,
  });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Rate {
  msgs: number;
  mb: number;
}

async function streamThroughput(a: Transport, perMsg: number, n: number): Promise<Rate> {
  const es = makeEntries(perMsg);
  const base = received();
  const bytes0 = a.stats().peers["2"]!.sentBytes;
  const start = performance.now();
  let index = 0;
  let sent = 0;
  const batch: Message[] = [];
  while (sent < n) {
    while (sent < n && sent - (received() - base) < WINDOW) {
      batch.length = 0;
      for (let k = 0; k < 64 && sent < n; k++, sent++) {
        batch.push(appMessage(index, es));
        index += perMsg;
      }
      a.send(batch);
    }
    await receivedAtLeast(base + sent - WINDOW / 2);
  }
  await receivedAtLeast(base + n);
  const secs = (performance.now() - start) / 1000;
  const bytes = a.stats().peers["2"]!.sentBytes - bytes0;
  return { msgs: n / secs, mb: bytes / secs / 1e6 };
}

function post(agent: http.Agent, port: number, body: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: "/raft",
      agent,
      headers: { "Content-Type": "application/protobuf" },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      res.resume();
      res.on("end", resolve);
    });
    req.end(body);
  });
}

async function postThroughput(port: number, perMsg: number, n: number, inflight: number): Promise<Rate> {
  const agent = new http.Agent({ keepAlive: true });
  const es = makeEntries(perMsg);
  let index = 0;
  let bytes = 0;
  const start = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      const body = encodeMessage(appMessage(index, es));
      index += perMsg;
      bytes += body.length;
      await post(agent, port, body);
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  const secs = (performance.now() - start) / 1000;
  agent.destroy();
  return { msgs: n / secs, mb: bytes / secs / 1e6 };
}

async function streamRtt(a: Transport, ra: LeaderRaft, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const answered = ra.next();
    a.send([Message.create({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1, commit: i })]);
    await answered;
    out.push(performance.now() - t0);
  }
  return out.sort((x, y) => x - y);
}

async function postRtt(port: number, n: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true });
  const body = encodeMessage(Message.create({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1 }));
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await post(agent, port, body);
    out.push(performance.now() - t0);
  }
  agent.destroy();
  return out.sort((x, y) => x - y);
}

const f = (x: number, d = 0): string => x.toFixed(d);

const ROUNDS = 3;

function median(rs: Rate[]): Rate {
  const sorted = [...rs].sort((x, y) => x.msgs - y.msgs);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Alternates the paths for ROUNDS rounds (the machine's load drifts) and reports medians. */
async function compare(
  a: Transport,
  postPort: number,
  perMsg: number,
  n: number,
  nPost: number,
): Promise<void> {
  const size = encodeMessage(appMessage(0, makeEntries(perMsg))).length;
  console.log(
    `MsgApp of ${perMsg} entr${perMsg === 1 ? "y" : "ies"} × ${ENTRY_BYTES} B (${size} B encoded), median of ${ROUNDS}:`,
  );
  await streamThroughput(a, perMsg, Math.floor(n / 10));
  await postThroughput(postPort, perMsg, Math.floor(nPost / 10), 4);
  const ss: Rate[] = [];
  const p4s: Rate[] = [];
  const p1s: Rate[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    ss.push(await streamThroughput(a, perMsg, n));
    p4s.push(await postThroughput(postPort, perMsg, nPost, 4));
    p1s.push(await postThroughput(postPort, perMsg, nPost, 1));
  }
  const s = median(ss);
  const p4 = median(p4s);
  const p1 = median(p1s);
  const best = p4.msgs > p1.msgs ? p4 : p1;
  const all = (rs: Rate[]): string => rs.map((x) => f(x.msgs)).join("/");
  console.log(
    `  stream (msgappv2)              ${f(s.msgs).padStart(8)} msgs/s  ${f(s.mb, 1).padStart(7)} MB/s  [${all(ss)}]`,
  );
  console.log(
    `  POST per message, 4 in flight  ${f(p4.msgs).padStart(8)} msgs/s  ${f(p4.mb, 1).padStart(7)} MB/s  [${all(p4s)}]`,
  );
  console.log(
    `  POST per message, 1 in flight  ${f(p1.msgs).padStart(8)} msgs/s  ${f(p1.mb, 1).padStart(7)} MB/s  [${all(p1s)}]`,
  );
  console.log(`  stream / best POST: ${(s.msgs / best.msgs).toFixed(1)}x msgs/s`);
}

async function main(): Promise<void> {
  const ra = new LeaderRaft();
  const a = new Transport({ id: 1n, clusterId: 1n, raft: ra, logger: discardLogger });
  const pa = await a.listen(0);
  a.start();
  // Workers do not inherit the TypeScript loader: register it, then load the peer.
  const boot = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((m) => { m.register(); return import(${JSON.stringify(new URL("./rafthttp.peer.ts", import.meta.url).href)}); });`;
  const worker = new Worker(boot, {
    eval: true,
    workerData: { counter: counterBuf, peerUrl: `http://127.0.0.1:${pa.port}` },
  });
  const info = await new Promise<{ url: string; postPort: number }>((r) => worker.once("message", r));
  a.addPeer(2n, [info.url]);
  while (!(a.stats().peers["2"]!.streams.msgappv2 && a.stats().peers["2"]!.streams.message)) {
    await new Promise((r) => setTimeout(r, 5));
  }
  console.log(
    `rafthttp: loopback, sender in the main thread, receiver in a worker (node ${process.version})`,
  );
  await compare(a, info.postPort, 100, N_STREAM, N_POST);
  await compare(a, info.postPort, 1, N_STREAM * 10, N_POST * 2);

  await streamRtt(a, ra, 200);
  const rs = await streamRtt(a, ra, RTT_N);
  await postRtt(info.postPort, 200);
  const rp = await postRtt(info.postPort, RTT_N);
  console.log(`heartbeat round trip (${RTT_N} sequential):`);
  console.log(`  over the streams   p50 ${f(pct(rs, 50) * 1000)} µs  p99 ${f(pct(rs, 99) * 1000)} µs`);
  console.log(`  POST per message   p50 ${f(pct(rp, 50) * 1000)} µs  p99 ${f(pct(rp, 99) * 1000)} µs`);
  const lat = a.stats().peers["2"]!.follower.latency;
  console.log(
    `  follower latency stat: average ${lat.average.toFixed(3)} ms, max ${lat.maximum.toFixed(3)} ms`,
  );

  worker.postMessage("stop");
  await new Promise((r) => worker.once("message", r));
  await worker.terminate();
  await a.stop();
}

await main();
