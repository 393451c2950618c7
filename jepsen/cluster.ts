// tsraft-kv members as real processes, each behind its peer proxy.
//
// A member's slot (0..n-1) is fixed for the run: its name (m1..mn), client
// port, real peer port, proxy port and data directory. Its raft ID changes
// when the membership nemesis removes it and it joins again. Each process
// writes its output to <run dir>/<name>.log, appended across restarts with
// a harness line before each start.

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { ClusterSetupError } from "./errors.ts";
import { type CutMode, Network, PeerProxy, type SenderDirectory } from "./proxy.ts";

export interface ClusterOptions {
  members: number;
  /** The run directory: data directories and logs go under it. */
  dir: string;
  /** A tsraft checkout: its src/cli/tsraft-kv.ts is what runs. */
  kvRoot: string;
  tickMs: number;
  electionTicks: number;
  /** The members' --request-timeout (ms). */
  requestTimeoutMs: number;
  snapshotCount: number;
  fsync: boolean;
  /** Passed to every member as TSRAFT_PLANTED_BUG. */
  plantedBug?: string;
  /** Milliseconds since the run began, for log lines. */
  clock: () => number;
  host?: string;
}

export type MemberState = "down" | "up" | "paused" | "removed";

export class Member {
  readonly slot: number;
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly proxy: PeerProxy;
  readonly dataDir: string;
  readonly logPath: string;
  proc: ChildProcess | null = null;
  /** Raft member ID in hex, once known ("" before). */
  id = "";
  /**
   * The client URL it joined through, once it joined with --join: it is
   * restarted with the same flag (its --initial-cluster identity is the
   * member it was before, which tsraft-kv would rightly refuse).
   */
  joinedVia: string | null = null;
  state: MemberState = "down";
  starts = 0;
  /** Exit codes and signals of processes that ended without the harness asking. */
  readonly unexpectedExits: string[] = [];
  private expectExit = false;
  private readonly host: string;

  constructor(
    slot: number,
    clientPort: number,
    peerPort: number,
    proxy: PeerProxy,
    dir: string,
    host: string,
  ) {
    this.slot = slot;
    this.name = `m${slot + 1}`;
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.proxy = proxy;
    this.dataDir = join(dir, this.name);
    this.logPath = join(dir, `${this.name}.log`);
    this.host = host;
  }

  get clientURL(): string {
    return `http://${this.host}:${this.clientPort}`;
  }

  /** What other members dial: the proxy. */
  get advertisedPeerURL(): string {
    return this.proxy.url;
  }

  get listenPeerURL(): string {
    return `http://${this.host}:${this.peerPort}`;
  }

  get running(): boolean {
    const p = this.proc;
    return p !== null && p.exitCode === null && p.signalCode === null;
  }

  /** Marks the next exit as the harness's doing (kill, removal). */
  expectingExit(v: boolean): void {
    this.expectExit = v;
  }

  onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (!this.expectExit) this.unexpectedExits.push(signal ?? String(code));
    this.expectExit = false;
    this.proc = null;
    if (this.state !== "removed") this.state = "down";
  }
}

const PORT_LO = 20_000;
const PORT_HI = 32_000;
const handedOut = new Set<number>();

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once("error", () => res(false));
    s.listen(port, host, () => s.close(() => res(true)));
  });
}

/**
 * A port that was free a moment ago, from 20000-32000: below Linux's
 * ephemeral range, so that no outgoing connection takes it between now and
 * the member binding it.
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  for (;;) {
    const port = PORT_LO + Math.floor(Math.random() * (PORT_HI - PORT_LO));
    if (handedOut.has(port) || !(await canListen(port, host))) continue;
    handedOut.add(port);
    return port;
  }
}

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const adminAgent = new Agent({ keepAlive: false });

/** A small HTTP call for the harness itself (status, membership), not recorded in the history. */
export function adminRequest(
  url: string,
  method = "GET",
  body?: string,
  timeoutMs = 3000,
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method,
      agent: adminAgent,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
    });
    const timer = setTimeout(() => req.destroy(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      res.on("end", () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        });
      });
    });
    req.end(body);
  });
}

export interface MemberStatus {
  id: string;
  leader: string;
  term: number;
  commit: number;
  applied: number;
  raftState: string;
  isLearner: boolean;
  members: Array<{ id: string; name: string; peerURLs: string[]; isLearner: boolean }>;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Cluster implements SenderDirectory {
  readonly opts: ClusterOptions;
  readonly members: Member[] = [];
  readonly net: Network;
  private readonly host: string;
  private readonly cli: string;

  private constructor(opts: ClusterOptions) {
    this.opts = opts;
    this.host = opts.host ?? "127.0.0.1";
    this.net = new Network(this);
    this.cli = resolve(opts.kvRoot, "src/cli/tsraft-kv.ts");
    if (!existsSync(this.cli)) throw new ClusterSetupError(`no tsraft-kv CLI at ${this.cli}`);
  }

  /** Allocates ports and starts the proxies; no member process yet. */
  static async create(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts);
    mkdirSync(opts.dir, { recursive: true });
    for (let i = 0; i < opts.members; i++) {
      const proxy = new PeerProxy(c.net, i, await freePort(c.host), await freePort(c.host), c.host);
      const m = new Member(i, await freePort(c.host), proxy.targetPort, proxy, opts.dir, c.host);
      c.members.push(m);
      await proxy.start();
    }
    return c;
  }

  slotOfPeerURL(url: string): number {
    const u = url.replace(/\/$/, "");
    return this.members.findIndex((m) => m.advertisedPeerURL === u);
  }

  slotOfId(hex: string): number {
    return this.members.findIndex((m) => m.id !== "" && m.id === hex);
  }

  initialCluster(): string {
    return this.members.map((m) => `${m.name}=${m.advertisedPeerURL}`).join(",");
  }

  private log(m: Member, line: string): void {
    const fd = openSync(m.logPath, "a");
    try {
      writeSync(fd, `=== harness ${this.opts.clock().toFixed(0)} ms: ${line}\n`);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Starts a member's process: with its existing data directory (or a new
   * one for the initial cluster), or `join` (a client URL) to join as a new
   * member, possibly a learner.
   */
  start(m: Member, join?: { via: string; learner: boolean }): void {
    if (m.running) throw new ClusterSetupError(`${m.name} is already running`);
    const o = this.opts;
    const args = [
      "--import",
      "tsx",
      this.cli,
      "--name",
      m.name,
      "--listen-peer",
      m.listenPeerURL,
      "--advertise-peer",
      m.advertisedPeerURL,
      "--listen-client",
      m.clientURL,
      "--data-dir",
      m.dataDir,
      "--tick-ms",
      String(o.tickMs),
      "--election-ticks",
      String(o.electionTicks),
      "--request-timeout",
      String(o.requestTimeoutMs),
      "--snapshot-count",
      String(o.snapshotCount),
      "--log-level",
      "info",
    ];
    if (join !== undefined) {
      m.joinedVia = join.via;
      args.push("--join", join.via);
      if (join.learner) args.push("--learner");
    } else if (m.joinedVia !== null) args.push("--join", m.joinedVia);
    else args.push("--initial-cluster", this.initialCluster());
    if (!o.fsync) args.push("--unsafe-no-fsync");
    m.starts++;
    this.log(
      m,
      `start #${m.starts}${join ? ` (join via ${join.via}${join.learner ? " as learner" : ""})` : ""}`,
    );
    const fd = openSync(m.logPath, "a");
    const env = { ...process.env };
    if (o.plantedBug !== undefined) env.TSRAFT_PLANTED_BUG = o.plantedBug;
    else delete env.TSRAFT_PLANTED_BUG;
    const p = spawn(process.execPath, args, { cwd: o.kvRoot, stdio: ["ignore", fd, fd], env });
    closeSync(fd);
    m.proc = p;
    m.state = "up";
    m.expectingExit(false);
    p.once("exit", (code, signal) => {
      if (m.proc === p) m.onExit(code, signal);
    });
  }

  /** SIGKILL; resolves once the process is gone. */
  async kill(m: Member, why = "kill"): Promise<void> {
    const p = m.proc;
    if (p === null || !m.running) return;
    this.log(m, `SIGKILL (${why})`);
    m.expectingExit(true);
    const gone = new Promise<void>((r) => p.once("exit", () => r()));
    if (m.state === "paused") p.kill("SIGCONT");
    p.kill("SIGKILL");
    await gone;
  }

  pause(m: Member): void {
    if (!m.running || m.state === "paused") return;
    this.log(m, "SIGSTOP");
    m.proc!.kill("SIGSTOP");
    m.state = "paused";
  }

  resume(m: Member): void {
    if (m.state !== "paused") return;
    this.log(m, "SIGCONT");
    if (m.running) m.proc!.kill("SIGCONT");
    m.state = m.running ? "up" : "down";
  }

  async status(m: Member, timeoutMs = 2000): Promise<MemberStatus> {
    const r = await adminRequest(`${m.clientURL}/status`, "GET", undefined, timeoutMs);
    if (r.status !== 200) throw new Error(`${m.name} /status: ${r.status} ${r.body}`);
    return JSON.parse(r.body) as MemberStatus;
  }

  /**
   * Waits until the member answers /health with 200 (it knows a leader).
   * Fails at once if its process exits.
   */
  async waitHealthy(m: Member, timeoutMs: number, pollMs = 20): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      if (!m.running)
        throw new ClusterSetupError(`${m.name} is not running (${m.unexpectedExits.at(-1) ?? "?"})`);
      try {
        const r = await adminRequest(`${m.clientURL}/health`, "GET", undefined, 1000);
        if (r.status === 200) {
          if (m.id === "") m.id = (await this.status(m)).id;
          return;
        }
        last = `${r.status} ${r.body.trim()}`;
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline)
        throw new ClusterSetupError(
          `${m.name} not healthy after ${timeoutMs} ms (${last}); log: ${m.logPath}`,
        );
      await sleep(pollMs);
    }
  }

  /** The leader every running, unpaused voter agrees on, or null. */
  async agreedLeader(): Promise<Member | null> {
    const up = this.members.filter((m) => m.state === "up" && m.running);
    if (up.length === 0) return null;
    try {
      const sts = await Promise.all(up.map((m) => this.status(m, 1000)));
      const lead = sts[0]!.leader;
      if (lead === "0" || !sts.every((s) => s.leader === lead)) return null;
      return this.members.find((m) => m.id === lead) ?? null;
    } catch {
      return null;
    }
  }

  /** The leader as any reachable member reports it (null if none knows one). */
  async anyLeader(): Promise<Member | null> {
    for (const m of this.members) {
      if (m.state !== "up") continue;
      try {
        const st = await this.status(m, 1000);
        if (st.leader !== "0") {
          const l = this.members.find((x) => x.id === st.leader);
          if (l !== undefined) return l;
        }
      } catch {
        // try the next one
      }
    }
    return null;
  }

  partition(groups: number[][], mode: CutMode): void {
    this.net.partition(groups, mode);
  }

  heal(): void {
    this.net.heal();
  }

  /** Kills every process and stops the proxies. */
  async shutdown(): Promise<void> {
    for (const m of this.members) if (m.state === "paused") this.resume(m);
    await Promise.all(this.members.map((m) => this.kill(m, "shutdown")));
    await Promise.all(this.members.map((m) => m.proxy.stop()));
  }

  /** Wipes a member's data directory (before it joins again). */
  wipe(m: Member): void {
    this.log(m, "wipe data directory");
    rmSync(m.dataDir, { recursive: true, force: true });
  }
}
