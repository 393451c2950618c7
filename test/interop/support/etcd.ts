// Real etcd members for the interop tests: etcd 3.4 (Debian's etcd-server)
// run as child processes on loopback, with etcd's default hash-derived
// member IDs (--initial-cluster, never explicit IDs), ports from 20000-32000
// (never 2379/2380, and below the ephemeral range), and etcdctl (Debian's
// etcd-client) as a user would run it. A missing etcd is an error, not a skip.

import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, type WriteStream } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

const PORT_LO = 20_000;
const PORT_HI = 32_000;
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once("error", () => res(false));
    s.listen(port, "127.0.0.1", () => s.close(() => res(true)));
  });
}

/** A port that was free a moment ago, in 20000-32000, not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = PORT_LO + Math.floor(Math.random() * (PORT_HI - PORT_LO));
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
}

function which(cmd: string): string | null {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

/**
 * Paths of etcd and etcdctl and etcd's version. Throws when they are missing:
 * the interop tests must fail, not skip (.ci/run installs them).
 */
export function requireEtcd(): { etcd: string; etcdctl: string; version: string } {
  const etcd = which("etcd");
  const etcdctl = which("etcdctl");
  if (etcd === null || etcdctl === null) {
    throw new Error(
      "etcd and etcdctl are required by the interop tests (Debian: apt-get install etcd-server etcd-client; .ci/run does it)",
    );
  }
  const out = spawnSync(etcd, ["--version"], { encoding: "utf8" }).stdout;
  const m = /etcd Version: (\d+\.\d+\.\d+)/.exec(out);
  if (m === null) throw new Error(`cannot read etcd's version from: ${out}`);
  return { etcd, etcdctl, version: m[1]! };
}

/**
 * JSON.parse for etcd's JSON, whose 64-bit IDs are bare numbers (most above
 * 2^53): every integer of 16 digits or more becomes a string first.
 */
export function parseJsonBig<T = unknown>(text: string): T {
  return JSON.parse(text.replace(/([:[,]\s*)(\d{16,})(?=\s*[,\]}])/g, '$1"$2"')) as T;
}

/**
 * A suite's set-up, run once by the first test that awaits it. Every test
 * awaits it first, so a missing etcd or a member that does not start fails
 * each test with the reason (a failing before() hook only cancels them, and
 * the run's summary would count no failure).
 */
export function setupOnce<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | null = null;
  return () => {
    p ??= fn();
    return p;
  };
}

/** Thrown inside a waitFor condition to stop waiting at once (e.g. a process exited). */
export class FatalWait extends Error {}

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
  everyMs = 50,
  context?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      if (err instanceof FatalWait) throw err;
      lastErr = err;
    }
    if (Date.now() > deadline) {
      const extra = context === undefined ? "" : `\n${context()}`;
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${lastErr}` : ""}${extra}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Every live etcd child, killed if the test process exits without stopping them. */
const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

export interface EtcdMemberConfig {
  name: string;
  dataDir: string;
  peerPort: number;
  clientPort: number;
  initialCluster: string;
  state: "new" | "existing";
  token: string;
  snapshotCount: number;
}

/** One etcd process. Its zap log lines (stderr) are kept and written to `<dataDir>.log`. */
export class EtcdMember {
  readonly cfg: EtcdMemberConfig;
  readonly lines: string[] = [];
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private logFile: WriteStream | null = null;

  constructor(cfg: EtcdMemberConfig) {
    this.cfg = cfg;
  }

  get name(): string {
    return this.cfg.name;
  }
  get peerUrl(): string {
    return `http://127.0.0.1:${this.cfg.peerPort}`;
  }
  get clientUrl(): string {
    return `http://127.0.0.1:${this.cfg.clientPort}`;
  }
  get endpoint(): string {
    return `127.0.0.1:${this.cfg.clientPort}`;
  }
  get running(): boolean {
    return this.proc !== null;
  }

  /** Starts the process (again, after stop/kill, on the same data directory). */
  start(extraFlags: string[] = []): void {
    if (this.proc !== null) throw new Error(`${this.name} is already running`);
    const c = this.cfg;
    const args = [
      "--name",
      c.name,
      "--data-dir",
      c.dataDir,
      "--listen-client-urls",
      this.clientUrl,
      "--advertise-client-urls",
      this.clientUrl,
      "--listen-peer-urls",
      this.peerUrl,
      "--initial-advertise-peer-urls",
      this.peerUrl,
      "--initial-cluster",
      c.initialCluster,
      "--initial-cluster-state",
      c.state,
      "--initial-cluster-token",
      c.token,
      "--snapshot-count",
      String(c.snapshotCount),
      "--logger",
      "zap",
      "--log-outputs",
      "stderr",
      ...extraFlags,
    ];
    mkdirSync(join(c.dataDir, ".."), { recursive: true });
    this.logFile ??= createWriteStream(`${c.dataDir}.log`, { flags: "a" });
    const proc = spawn("etcd", args, { stdio: ["ignore", "ignore", "pipe"] });
    this.proc = proc;
    children.add(proc);
    let partial = "";
    proc.stderr!.setEncoding("utf8");
    proc.stderr!.on("data", (chunk: string) => {
      this.logFile?.write(chunk);
      const parts = (partial + chunk).split("\n");
      partial = parts.pop()!;
      for (const l of parts) this.lines.push(l);
    });
    this.exited = new Promise<void>((resolve) => {
      proc.once("exit", () => {
        children.delete(proc);
        if (this.proc === proc) this.proc = null;
        resolve();
      });
    });
  }

  /** SIGTERM and wait (SIGKILL after 10 s). */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p === null) return;
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
    await this.exited;
    clearTimeout(t);
  }

  /** SIGKILL: a crash. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (p === null) return;
    p.kill("SIGKILL");
    await this.exited;
  }

  /** Log lines (parsed zap JSON) whose message matches. */
  logs(msg: RegExp): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const l of this.lines) {
      if (!l.startsWith("{")) continue;
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(l) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (typeof j.msg === "string" && msg.test(j.msg)) out.push(j);
    }
    return out;
  }

  tail(n = 30): string {
    return `--- last ${n} log lines of ${this.name}:\n${this.lines.slice(-n).join("\n")}`;
  }

  closeLog(): void {
    this.logFile?.end();
    this.logFile = null;
  }
}

/** Runs etcdctl (API v3) against `endpoints`; resolves with stdout, rejects with stderr. */
export function etcdctl(endpoints: string[], args: string[], timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "etcdctl",
      [`--endpoints=${endpoints.join(",")}`, "--command-timeout=10s", ...args],
      { env: { ...process.env, ETCDCTL_API: "3" }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`etcdctl ${args.join(" ")}: ${String(stderr).trim() || err.message}`));
        else resolve(String(stdout));
      },
    );
  });
}

export interface EndpointStatus {
  endpoint: string;
  memberId: bigint;
  clusterId: bigint;
  leader: bigint;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  version: string;
}

/** `etcdctl endpoint status -w json`, IDs as bigints. */
export async function endpointStatus(endpoints: string[]): Promise<EndpointStatus[]> {
  const out = await etcdctl(endpoints, ["endpoint", "status", "-w", "json"]);
  type Raw = {
    Endpoint: string;
    Status: {
      header: { cluster_id: string; member_id: string };
      leader: string;
      raftIndex: number;
      raftTerm: number;
      raftAppliedIndex: number;
      version: string;
    };
  };
  return parseJsonBig<Raw[]>(out).map((r) => ({
    endpoint: r.Endpoint,
    memberId: BigInt(r.Status.header.member_id),
    clusterId: BigInt(r.Status.header.cluster_id),
    leader: BigInt(r.Status.leader),
    raftIndex: r.Status.raftIndex,
    raftTerm: r.Status.raftTerm,
    raftAppliedIndex: r.Status.raftAppliedIndex,
    version: r.Status.version,
  }));
}

/**
 * etcd's member ID for a member in --initial-cluster: the first 8 bytes
 * (big-endian) of sha1(sorted peer URLs joined + cluster token).
 */
export function etcdMemberId(peerUrls: string[], token: string): bigint {
  const h = createHash("sha1")
    .update([...peerUrls].sort().join("") + token)
    .digest();
  return h.readBigUInt64BE(0);
}

/** etcd's cluster ID: the first 8 bytes of sha1 of the sorted member IDs as 8-byte big-endian words. */
export function etcdClusterId(ids: bigint[]): bigint {
  const sorted = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const b = Buffer.alloc(8 * sorted.length);
  for (const [i, id] of sorted.entries()) b.writeBigUInt64BE(id, 8 * i);
  return createHash("sha1").update(b).digest().readBigUInt64BE(0);
}

/**
 * A base directory, a cluster token and `size` members (not started) with
 * fresh ports. `extra` members (name=URL) join --initial-cluster: members
 * that are not etcd (a tsraft member bootstrapping with them).
 */
export async function etcdCluster(
  base: string,
  size: number,
  snapshotCount: number,
  prefix = "e",
  extra: string[] = [],
  token = `tsraft-interop-${process.pid}-${Date.now()}`,
): Promise<EtcdMember[]> {
  if (!existsSync(base)) mkdirSync(base, { recursive: true });
  const ports: Array<[number, number]> = [];
  for (let i = 0; i < size; i++) ports.push([await freePort(), await freePort()]);
  const initialCluster = [...ports.map(([p], i) => `${prefix}${i + 1}=http://127.0.0.1:${p}`), ...extra].join(
    ",",
  );
  return ports.map(
    ([peerPort, clientPort], i) =>
      new EtcdMember({
        name: `${prefix}${i + 1}`,
        dataDir: join(base, `${prefix}${i + 1}`),
        peerPort,
        clientPort,
        initialCluster,
        state: "new",
        token,
        snapshotCount,
      }),
  );
}

/** Waits until every member answers and they agree on a leader; returns their statuses. */
export async function waitHealthy(members: EtcdMember[], timeoutMs = 30_000): Promise<EndpointStatus[]> {
  return waitFor(
    `etcd members ${members.map((m) => m.name).join(",")} healthy with one leader`,
    async () => {
      for (const m of members) if (!m.running) throw new FatalWait(`${m.name} exited\n${m.tail()}`);
      const st = await endpointStatus(members.map((m) => m.endpoint));
      if (st.length !== members.length) return false;
      const leader = st[0]!.leader;
      return leader !== 0n && st.every((s) => s.leader === leader) ? st : false;
    },
    timeoutMs,
    200,
  );
}

/**
 * Writes `count` keys `<prefix><n>` = `value-<n>` (one raft entry each)
 * through etcd's gRPC API, `concurrency` requests in flight: etcdctl costs a
 * process per put, which would take minutes.
 */
export async function putKeys(
  endpoints: string[],
  prefix: string,
  count: number,
  concurrency = 64,
): Promise<void> {
  const { Etcd3 } = await import("etcd3");
  const client = new Etcd3({ hosts: endpoints });
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const n = next++;
        await client.put(`${prefix}${String(n).padStart(6, "0")}`).value(`value-${n}`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    client.close();
  }
}
