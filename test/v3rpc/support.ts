// Test support for the v3 API: our single-member server and a real etcd 3.4
// (Debian's etcd-server) side by side on free ports, and etcdctl 3.4
// (Debian's etcd-client) run against either.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import {
  SingleMemberBackend,
  startV3Server,
  type V3Server,
  type V3ServerOptions,
} from "../../src/v3rpc/index.ts";
import { freePort, waitFor } from "../kv/support/cluster.ts";

export const ETCD = "/usr/bin/etcd";
export const ETCDCTL = "/usr/bin/etcdctl";

/** These tests need Debian's etcd 3.4 (.ci/run installs it); say so plainly instead of ENOENT. */
function requireBinary(path: string, pkg: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: apt-get install ${pkg} (etcd 3.4)`);
}

export interface Endpoint {
  /** host:port for etcdctl --endpoints */
  ep: string;
  url: string;
  close(): Promise<void>;
}

export interface TsEndpoint extends Endpoint {
  server: V3Server;
  backend: SingleMemberBackend;
}

/** Our server, with the member identity etcd derives from the same peer URL (so IDs match). */
export async function startTs(
  peerUrl: string,
  opts: { name?: string; raftTerm?: bigint; v3?: Partial<V3ServerOptions> } = {},
): Promise<TsEndpoint> {
  const port = await freePort();
  const backend = new SingleMemberBackend({
    name: opts.name ?? "default",
    peerURLs: [peerUrl],
    raftTerm: opts.raftTerm,
  });
  const server = await startV3Server({ ...opts.v3, backend, port, host: "127.0.0.1" });
  const url = `http://127.0.0.1:${server.port}`;
  backend.setClientURLs([url]);
  return {
    ep: `127.0.0.1:${server.port}`,
    url,
    server,
    backend,
    async close() {
      await server.close();
      backend.close();
    },
  };
}

/**
 * For a test file that compares our server with a real etcd: starts a single
 * etcd 3.4 member and our server before the file's tests (same peer URL, so
 * the member and cluster IDs come out identical; raft term 2, a fresh single
 * etcd member's first election, so even binary output compares) and closes
 * both after them. `use` receives the two once they are up.
 */
export function etcdAndTsForFile(use: (etcd: EtcdEndpoint, ts: TsEndpoint) => void): void {
  let etcd: EtcdEndpoint | undefined;
  let ts: TsEndpoint | undefined;
  before(async () => {
    etcd = await startEtcd();
    ts = await startTs(etcd.peerUrl, { raftTerm: 2n });
    use(etcd, ts);
  });
  after(async () => {
    await ts?.close();
    await etcd?.close();
  });
}

export interface EtcdEndpoint extends Endpoint {
  peerUrl: string;
  proc: ChildProcess;
  log: string[];
}

/** A real etcd 3.4, single member, in a temp dir; resolves once it answers. */
export async function startEtcd(): Promise<EtcdEndpoint> {
  requireBinary(ETCD, "etcd-server");
  const dir = mkdtempSync(join(tmpdir(), "etcd-v3-"));
  const cport = await freePort();
  const pport = await freePort();
  const url = `http://127.0.0.1:${cport}`;
  const peerUrl = `http://127.0.0.1:${pport}`;
  const log: string[] = [];
  const proc = spawn(
    ETCD,
    [
      "--name",
      "default",
      "--data-dir",
      join(dir, "data"),
      "--listen-client-urls",
      url,
      "--advertise-client-urls",
      url,
      "--listen-peer-urls",
      peerUrl,
      "--initial-advertise-peer-urls",
      peerUrl,
      "--initial-cluster",
      `default=${peerUrl}`,
      "--log-outputs",
      "stderr",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  proc.stderr!.on("data", (d: Buffer) => {
    log.push(d.toString());
    if (log.length > 200) log.shift();
  });
  const exited = new Promise<never>((_, rej) =>
    proc.once("exit", (c) => rej(new Error(`etcd exited ${c}: ${log.join("").slice(-2000)}`))),
  );
  await Promise.race([
    waitFor(
      "etcd health",
      async () => {
        const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
        return r.ok && ((await r.json()) as { health: string }).health === "true";
      },
      20_000,
      100,
    ),
    exited,
  ]);
  exited.catch(() => {});
  return {
    ep: `127.0.0.1:${cport}`,
    url,
    peerUrl,
    proc,
    log,
    async close() {
      if (proc.exitCode === null) {
        const gone = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGKILL");
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface CtlResult {
  code: number;
  out: string;
  err: string;
}

/** Runs etcdctl (API v3) against an endpoint; never rejects on a non-zero exit. */
export function ctl(ep: string, args: string[], input?: string, timeoutMs = 15_000): Promise<CtlResult> {
  requireBinary(ETCDCTL, "etcd-client");
  return new Promise((resolve) => {
    const child = execFile(
      ETCDCTL,
      [`--endpoints=${ep}`, ...args],
      { env: { ...process.env, ETCDCTL_API: "3" }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === "number" ? code : 1, out: stdout, err: stderr });
      },
    );
    if (input !== undefined) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

/** etcdctl's stderr without clientv3's JSON warning lines. */
export function errLines(r: CtlResult): string {
  return r.err
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("{"))
    .join("\n");
}

/** Replaces raft terms/indexes (raft runs only in etcd) in etcdctl -w json output. */
export function normRaft(s: string): string {
  return s
    .replace(/"raft_term":\d+/g, '"raft_term":T')
    .replace(/"raftIndex":\d+/g, '"raftIndex":I')
    .replace(/"raftAppliedIndex":\d+/g, '"raftAppliedIndex":I')
    .replace(/"raftTerm":\d+/g, '"raftTerm":T')
    .replace(/"RaftTerm" : \d+/g, '"RaftTerm" : T');
}

/** A long-running etcdctl (watch, keep-alive) whose output is collected. */
export class CtlProc {
  readonly proc: ChildProcess;
  out = "";
  err = "";
  readonly exited: Promise<number | null>;
  constructor(ep: string, args: string[]) {
    this.proc = spawn(ETCDCTL, [`--endpoints=${ep}`, ...args], {
      env: { ...process.env, ETCDCTL_API: "3" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.proc.stdout!.on("data", (d: Buffer) => {
      this.out += d.toString();
    });
    this.proc.stderr!.on("data", (d: Buffer) => {
      this.err += d.toString();
    });
    // "close", not "exit": the output streams are complete only then.
    this.exited = new Promise((r) => this.proc.once("close", (c) => r(c)));
  }
  /** Waits until stdout holds at least n lines. */
  lines(n: number, timeoutMs = 10_000): Promise<string[]> {
    return waitFor(
      `${n} lines of etcdctl output (have: ${JSON.stringify(this.out)}, err: ${this.err.slice(-500)})`,
      async () => {
        const ls = this.out.split("\n").filter((l) => l !== "");
        return ls.length >= n ? ls : undefined;
      },
      timeoutMs,
      20,
    );
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGTERM");
      await this.exited;
    }
  }
}

export { freePort, waitFor };
