// WAL benchmarks (`npm run bench -- wal`). In one run, on the same disk:
//  1. raw: append 4 KiB + fdatasync in a loop (the disk's durable-append rate,
//     as ../shared/tools/fsync_rate.js measures it);
//  2. WAL.save throughput with batches of 1, 10, 100 and 1000 entries of 256 bytes,
//     each batch synced (entries/s, MB/s of payload, latency);
//  3. the worst save latency around segment cuts (64,000,000-byte segments);
//  4. readAll replay speed of a 256 MiB log;
//  5. CRC-32C: @node-rs/crc32 against a plain JavaScript table implementation;
//  6. restart: DiskStorage.open of a preallocated segment holding 10 entries
//     and of 100,000 entries of 32 B, readWalMetadata, and a single-member
//     host from `new Host(...).start()` to leader (median of 5 each).
// Env: WAL_BENCH_DIR (default: os.tmpdir()), WAL_BENCH_SECONDS (default 3),
// WAL_BENCH_REPLAY_MIB (default 256), WAL_BENCH_BASELINE: the root of another
// tree (a checkout of an older commit, with node_modules) whose
// DiskStorage.open and host restart are timed on the same files, alternately
// with ours, in the same run. WAL_BENCH_ONLY=restart runs phase 6 alone.
// Files are removed at the end.

import * as fs from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { crc32c } from "@node-rs/crc32";
import { crc32cUpdate } from "../src/fileutil/index.ts";
import { discardLogger } from "../src/raft/index.ts";
import { Entry, HardState } from "../src/raftpb/index.ts";
import { WAL, WalSnapshot } from "../src/wal/index.ts";

const SECONDS = Number(process.env.WAL_BENCH_SECONDS ?? 3);
const REPLAY_MIB = Number(process.env.WAL_BENCH_REPLAY_MIB ?? 256);
const root = fs.mkdtempSync(join(process.env.WAL_BENCH_DIR ?? tmpdir(), "tsraft-wal-bench-"));
const quiet = { logger: discardLogger };

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

const rows: string[][] = [];
function row(...cells: (string | number)[]): void {
  rows.push(cells.map(String));
}

// 1. Raw durable appends of `size` bytes.
function raw(size: number): { opsPerSec: number; p50: number; p99: number } {
  const file = join(root, "raw.dat");
  const fd = fs.openSync(file, "w+");
  const buf = Buffer.alloc(size, 0x61);
  const lat: number[] = [];
  let pos = 0;
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  for (;;) {
    const a = performance.now();
    if (a >= end) break;
    fs.writeSync(fd, buf, 0, buf.length, pos);
    pos += buf.length;
    fs.fdatasyncSync(fd);
    lat.push((performance.now() - a) * 1000);
  }
  const el = (performance.now() - t0) / 1000;
  fs.closeSync(fd);
  fs.unlinkSync(file);
  lat.sort((x, y) => x - y);
  return { opsPerSec: lat.length / el, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

// raft hands storage freshly built entries; building them is raft's cost, not
// the WAL's, so the benchmark reuses one batch and only renumbers it.
const batches = new Map<string, Entry[]>();
function batchOf(first: number, n: number, size: number, term = 1): Entry[] {
  const k = `${n}/${size}`;
  let out = batches.get(k);
  if (out === undefined) {
    const payload = new Uint8Array(size).fill(0x62);
    out = [];
    for (let i = 0; i < n; i++) out.push(new Entry(term, 0, 0, payload));
    batches.set(k, out);
  }
  for (let i = 0; i < n; i++) out[i]!.index = first + i;
  return out;
}

// 2. save() with each batch synced.
async function saves(
  batch: number,
  unsafeNoFsync = false,
): Promise<{ savesPerSec: number; entsPerSec: number; mbps: number; p50: number; p99: number; max: number }> {
  const dir = join(root, `save-${batch}`);
  const w = await WAL.create(dir, new Uint8Array(16), { ...quiet, unsafeNoFsync });
  let next = 1;
  // Warm up the JIT and the preallocated segment.
  for (let i = 0; i < 50; i++) {
    await w.save(new HardState(1, 1n, next - 1), batchOf(next, batch, 256), true);
    next += batch;
  }
  const lat: number[] = [];
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  for (;;) {
    const a = performance.now();
    if (a >= end) break;
    await w.save(new HardState(1, 1n, next - 1), batchOf(next, batch, 256), true);
    next += batch;
    lat.push((performance.now() - a) * 1000);
  }
  const el = (performance.now() - t0) / 1000;
  await w.close();
  fs.rmSync(dir, { recursive: true, force: true });
  lat.sort((x, y) => x - y);
  const n = lat.length;
  return {
    savesPerSec: n / el,
    entsPerSec: (n * batch) / el,
    mbps: (n * batch * 256) / el / 1e6,
    p50: pct(lat, 0.5),
    p99: pct(lat, 0.99),
    max: lat[n - 1] ?? 0,
  };
}

// 3. Save latency around cuts with etcd's segment size.
async function cuts(): Promise<{
  cuts: number;
  worstCut: number;
  worstAfter: number;
  p50: number;
  p99: number;
}> {
  const dir = join(root, "cuts");
  const w = await WAL.create(dir, new Uint8Array(16), quiet);
  let next = 1;
  const lat: number[] = [];
  const cutLat: number[] = [];
  const afterLat: number[] = [];
  let since = Number.POSITIVE_INFINITY;
  let segs = 1;
  const batch = 100;
  while (segs < 4) {
    const before = w.tailSegment;
    const a = performance.now();
    await w.save(new HardState(1, 1n, next - 1), batchOf(next, batch, 1024), true);
    const us = (performance.now() - a) * 1000;
    next += batch;
    if (w.tailSegment !== before) {
      segs++;
      cutLat.push(us);
      since = 0;
    } else if (since < 10) {
      afterLat.push(us);
      since++;
    } else {
      lat.push(us);
    }
  }
  await w.close();
  fs.rmSync(dir, { recursive: true, force: true });
  lat.sort((x, y) => x - y);
  return {
    cuts: cutLat.length,
    worstCut: Math.max(...cutLat),
    worstAfter: Math.max(...afterLat),
    p50: pct(lat, 0.5),
    p99: pct(lat, 0.99),
  };
}

// 4. Replay speed.
async function replay(): Promise<{
  bytes: number;
  entries: number;
  seconds: number;
  mbps: number;
  segments: number;
}> {
  const dir = join(root, "replay");
  const w = await WAL.create(dir, new Uint8Array(16), { ...quiet, unsafeNoFsync: true });
  const target = REPLAY_MIB * 1024 * 1024;
  let next = 1;
  let written = 0;
  while (written < target) {
    const b = batchOf(next, 1000, 256);
    await w.save(new HardState(1, 1n, next - 1), b);
    next += 1000;
    written += 1000 * 256;
  }
  await w.close();
  const names = fs.readdirSync(dir).filter((n) => n.endsWith(".wal"));
  let bytes = 0;
  for (const n of names) bytes += fs.statSync(join(dir, n)).size;
  // The tail segment is preallocated; count only its data (the last saved offset).
  const tail = names.sort()[names.length - 1]!;
  const r0 = await WAL.open(dir, new WalSnapshot(), quiet);
  (globalThis as { gc?: () => void }).gc?.();
  const t0 = performance.now();
  const got = await r0.readAll();
  const seconds = (performance.now() - t0) / 1000;
  const dataBytes = bytes - fs.statSync(join(dir, tail)).size + r0.tailOffset;
  await r0.close();
  if (got.entries.length !== next - 1) throw new Error(`replayed ${got.entries.length} of ${next - 1}`);
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    bytes: dataBytes,
    entries: got.entries.length,
    seconds,
    mbps: dataBytes / seconds / 1e6,
    segments: names.length,
  };
}

// 5. CRC-32C throughput: native package vs a table-driven JS loop.
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
function jsCrc32c(prev: number, data: Uint8Array): number {
  let c = ~prev >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
function crcBench(size: number, f: (p: number, d: Uint8Array) => number): number {
  const d = new Uint8Array(size).fill(7);
  const iters = Math.max(1000, Math.floor(64e6 / size));
  let c = 0;
  for (let i = 0; i < 1000; i++) c = f(c, d);
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) c = f(c, d);
  const s = (performance.now() - t0) / 1000;
  if (c === -1) console.log(c);
  return (iters * size) / s / 1e6;
}

// 6. Restart. A tree is this one or WAL_BENCH_BASELINE's (loaded from its own files).
// DiskStorage moved from src/wal to src/storage: a tree has it in one or the other.
type WalModule = typeof import("../src/wal/index.ts") & typeof import("../src/storage/index.ts");
type HostModule = typeof import("../src/host/index.ts");
interface Tree {
  label: string;
  wal: WalModule;
  host: HostModule | null;
}

async function loadTree(label: string, dir: string): Promise<Tree> {
  const storagePath = join(dir, "src/storage/index.ts");
  const wal = {
    ...(await import(join(dir, "src/wal/index.ts"))),
    ...(fs.existsSync(storagePath) ? await import(storagePath) : {}),
  } as WalModule;
  const hostPath = join(dir, "src/host/index.ts");
  const host = fs.existsSync(hostPath) ? ((await import(hostPath)) as HostModule) : null;
  return { label, wal, host };
}

// The smallest state machine: a sum of the commands' first bytes.
class Sum {
  value = 0;
  apply(cmds: readonly { data: Uint8Array }[]): number[] {
    return cmds.map((c) => {
      this.value += c.data[0] ?? 0;
      return this.value;
    });
  }
  async *snapshot(): AsyncIterable<Uint8Array> {
    yield new TextEncoder().encode(String(this.value));
  }
  async restore(image: AsyncIterable<Uint8Array>): Promise<void> {
    let s = "";
    for await (const c of image) s += new TextDecoder().decode(c);
    this.value = Number(s);
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once("error", () => res(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)));
  });
}

async function benchPort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (await canListen(port)) return port;
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function openMs(t: Tree, dir: string): Promise<number> {
  const a = performance.now();
  const s = await t.wal.DiskStorage.open(dir, quiet);
  const ms = performance.now() - a;
  await s.close();
  return ms;
}

async function restart(trees: Tree[]): Promise<void> {
  const ours = trees[0]!;
  // A member that wrote 10 entries (the 64 MB tail is almost empty), and one with 100,000.
  const small = join(root, "open-small");
  const big = join(root, "open-100k");
  for (const [dir, total] of [
    [small, 10],
    [big, 100_000],
  ] as const) {
    const s = await ours.wal.DiskStorage.open(dir, { ...quiet, unsafeNoFsync: true });
    const payload = new Uint8Array(32).fill(0x61);
    for (let i = 1; i <= total; i += 1000) {
      const n = Math.min(1000, total - i + 1);
      const b: Entry[] = [];
      for (let k = 0; k < n; k++) b.push(new Entry(1, i + k, 0, payload));
      await s.save({ hardState: new HardState(1, 1n, i + n - 1), entries: b });
    }
    await s.close();
  }
  const runs = 5;
  for (const [name, dir] of [
    ["DiskStorage.open, 64 MB segment with 10 entries", small],
    ["DiskStorage.open, 100,000 entries of 32 B", big],
  ] as const) {
    const times = trees.map(() => [] as number[]);
    for (let r = 0; r < runs; r++)
      for (let k = 0; k < trees.length; k++) times[k]!.push(await openMs(trees[k]!, dir));
    row(
      name,
      `${median(times[0]!).toFixed(1)} ms`,
      "",
      "",
      "",
      trees.length > 1 ? `baseline ${median(times[1]!).toFixed(1)} ms` : "median of 5",
    );
  }
  const meta: number[] = [];
  for (let r = 0; r < runs; r++) {
    const a = performance.now();
    await ours.wal.readWalMetadata(join(big, "wal"));
    meta.push(performance.now() - a);
  }
  row("readWalMetadata", `${(median(meta) * 1000).toFixed(0)} µs`, "", "", "", "the host's identity check");
  const hosts = trees.filter((t) => t.host !== null);
  if (hosts.length === 0) return;
  // A single-member host with 2,000 applied commands, restarted again and again.
  const port = await benchPort();
  const cfg = {
    name: "m1",
    dataDir: join(root, "host"),
    initialCluster: [{ name: "m1", peerURLs: [`http://127.0.0.1:${port}`] }],
    listenPeerURL: `http://127.0.0.1:${port}`,
    unsafeNoFsync: true,
    tickMs: 20,
    electionTicks: 10,
    heartbeatTicks: 1,
    logger: discardLogger,
  };
  const boot = async (t: Tree) => {
    const h = new t.host!.Host({ ...cfg, stateMachine: new Sum() } as ConstructorParameters<
      HostModule["Host"]
    >[0]);
    const a = performance.now();
    await h.start();
    const started = performance.now() - a;
    while (h.leader() !== h.id) await new Promise((r) => setTimeout(r, 1));
    return { h, started, leader: performance.now() - a };
  };
  const first = await boot(hosts[0]!);
  for (let i = 0; i < 2000; i++) await first.h.propose(new Uint8Array([1]));
  await first.h.stop();
  const started = hosts.map(() => [] as number[]);
  const leader = hosts.map(() => [] as number[]);
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < hosts.length; k++) {
      const b = await boot(hosts[k]!);
      started[k]!.push(b.started);
      leader[k]!.push(b.leader);
      await b.h.stop();
    }
  }
  row(
    "host restart to leader, 2,000 entries",
    `${median(leader[0]!).toFixed(0)} ms`,
    "",
    "",
    "",
    `start() ${median(started[0]!).toFixed(0)} ms` +
      (hosts.length > 1
        ? `; baseline ${median(leader[1]!).toFixed(0)} ms (start() ${median(started[1]!).toFixed(0)} ms)`
        : ""),
  );
}

function printRows(): void {
  const head = ["workload", "rate", "entries/s", "MB/s", "p50 / p99 µs", "note"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((rr) => rr[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((x, i) => x.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const rr of rows) console.log(line(rr));
}

async function restartPhase(): Promise<void> {
  const trees = [await loadTree("ours", resolve(import.meta.dirname, ".."))];
  const base = process.env.WAL_BENCH_BASELINE;
  if (base !== undefined && base !== "") trees.push(await loadTree("baseline", resolve(base)));
  await restart(trees);
}

try {
  if (process.env.WAL_BENCH_ONLY === "restart") {
    await restartPhase();
    printRows();
  } else {
    await allPhases();
  }
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}

async function allPhases(): Promise<void> {
  console.log(`WAL benchmark in ${root} (${SECONDS} s per phase)`);
  const r = raw(4096);
  row(
    "raw append 4 KiB + fdatasync",
    `${r.opsPerSec.toFixed(0)} ops/s`,
    "",
    `${((r.opsPerSec * 4096) / 1e6).toFixed(1)}`,
    `${r.p50.toFixed(0)} / ${r.p99.toFixed(0)}`,
    "the disk's sync rate",
  );
  // A batch of 100 entries of 256 B is 28,800 bytes of frames.
  const r29 = raw(28800);
  row(
    "raw append 28.8 KB + fdatasync",
    `${r29.opsPerSec.toFixed(0)} ops/s`,
    "",
    `${((r29.opsPerSec * 28800) / 1e6).toFixed(1)}`,
    `${r29.p50.toFixed(0)} / ${r29.p99.toFixed(0)}`,
    "same bytes per sync as batch 100",
  );
  const res: Record<number, Awaited<ReturnType<typeof saves>>> = {};
  for (const b of [1, 10, 100, 1000]) {
    const s = await saves(b);
    res[b] = s;
    row(
      `save, batch ${b} x 256 B, synced`,
      `${s.savesPerSec.toFixed(0)} saves/s`,
      `${s.entsPerSec.toFixed(0)}`,
      s.mbps.toFixed(1),
      `${s.p50.toFixed(0)} / ${s.p99.toFixed(0)}`,
      b === 1
        ? `${((s.savesPerSec / r.opsPerSec) * 100).toFixed(0)}% of raw 4 KiB`
        : b === 100
          ? `${((s.savesPerSec / r29.opsPerSec) * 100).toFixed(0)}% of raw 28.8 KB; WAL bytes ${((s.savesPerSec * 28800) / 1e6).toFixed(0)} MB/s`
          : `${(1e9 / s.entsPerSec).toFixed(0)} ns/entry`,
    );
  }
  const cpu = await saves(100, true);
  row(
    "save, batch 100 x 256 B, no fsync",
    `${cpu.savesPerSec.toFixed(0)} saves/s`,
    `${cpu.entsPerSec.toFixed(0)}`,
    cpu.mbps.toFixed(1),
    `${cpu.p50.toFixed(0)} / ${cpu.p99.toFixed(0)}`,
    "CPU + page-cache write only",
  );
  const c = await cuts();
  row(
    `cuts (${c.cuts}), batch 100 x 1 KiB`,
    `worst cut save ${(c.worstCut / 1000).toFixed(2)} ms`,
    "",
    "",
    `${c.p50.toFixed(0)} / ${c.p99.toFixed(0)}`,
    `worst of 10 saves after a cut ${(c.worstAfter / 1000).toFixed(2)} ms`,
  );
  const rp = await replay();
  row(
    `readAll ${(rp.bytes / 1048576).toFixed(0)} MiB, ${rp.segments} segments`,
    `${rp.seconds.toFixed(2)} s`,
    `${(rp.entries / rp.seconds).toFixed(0)}`,
    rp.mbps.toFixed(0),
    "",
    "",
  );
  await restartPhase();
  printRows();
  // Why crc32cUpdate calls the package from 64 bytes up and uses a table below.
  const nat = (p: number, d: Uint8Array) => crc32c(d, p);
  const sizes = [8, 16, 24, 64, 256, 65536];
  console.log(
    `\nCRC-32C MB/s, @node-rs/crc32 vs JS table: ${sizes
      .map((n) => `${n} B ${crcBench(n, nat).toFixed(0)} vs ${crcBench(n, jsCrc32c).toFixed(0)}`)
      .join("; ")}; crc32cUpdate at 256 B ${crcBench(256, crc32cUpdate).toFixed(0)}`,
  );
  const ok1 = res[1]!.savesPerSec >= 0.9 * r.opsPerSec;
  const ok100 = res[100]!.mbps >= 100;
  const okReplay = rp.mbps >= 200;
  console.log(
    `targets: batch-1 >= 90% of raw: ${ok1 ? "met" : "MISSED"}; batch-100 >= 100 MB/s: ${ok100 ? "met" : "MISSED"}; readAll >= 200 MB/s: ${okReplay ? "met" : "MISSED"}`,
  );
}
