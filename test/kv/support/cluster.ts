// Runs tsraft-kv members as real child processes for end-to-end tests.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServerStatus } from "../../../src/kv/types.ts";
import { buildCli, KV_CLI } from "../../cli/support/kv_proc.ts";
import { repoRoot } from "../../support/testdata.ts";

// Members run the compiled CLI that `npm start` runs (built once, reused when
// up to date): a member starts on ~0.6 s of CPU instead of tsx's ~1.5 s.
let built = false;
function compiledCli(): string {
  if (!built) {
    buildCli();
    built = true;
  }
  return KV_CLI;
}

// Ports for members come from below Linux's ephemeral range (32768-60999 by
// default): a port taken from that range and released can be grabbed as the
// local port of any outgoing connection (other test files run in parallel
// and connect a lot) before the member binds it, which fails its start.
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

/** A port that was free a moment ago, outside the ephemeral range, not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = PORT_LO + Math.floor(Math.random() * (PORT_HI - PORT_LO));
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
}

export interface ProcMember {
  name: string;
  client: string;
  peer: string;
  dataDir: string;
  proc: ChildProcess | null;
  log: string[];
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${lastErr ? `: ${lastErr}` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function http(
  method: string,
  url: string,
  body?: string | Uint8Array,
  headers: Record<string, string> = {},
  // biome-ignore lint/suspicious/noExplicitAny: a test helper over arbitrary JSON bodies
): Promise<{ status: number; text: string; json: () => any }> {
  const res = await fetch(url, { method, body, headers, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

/** Fast raft timing for tests: 20 ms ticks, election after 10 ticks. */
export const FAST = ["--tick-ms", "20", "--election-ticks", "10"];

export class ProcCluster {
  readonly root = mkdtempSync(join(tmpdir(), "tsraft-kv-e2e-"));
  readonly members: ProcMember[] = [];
  extraArgs: string[] = [];
  /** Extra Node.js flags for the member processes (e.g. --cpu-prof). */
  nodeArgs: string[] = [];
  /** Fast raft timing (20 ms ticks) for tests; benchmarks use the defaults. */
  fastTiming = true;

  async add(name: string): Promise<ProcMember> {
    const m: ProcMember = {
      name,
      client: `http://127.0.0.1:${await freePort()}`,
      peer: `http://127.0.0.1:${await freePort()}`,
      dataDir: join(this.root, name),
      proc: null,
      log: [],
    };
    this.members.push(m);
    return m;
  }

  initialCluster(names: string[]): string {
    return this.members
      .filter((m) => names.includes(m.name))
      .map((m) => `${m.name}=${m.peer}`)
      .join(",");
  }

  /** The tsraft-kv CLI the members run (this tree's compiled one). */
  protected cliPath(): string {
    return compiledCli();
  }

  /** The members' working directory. */
  protected cwd(): string {
    return repoRoot;
  }

  /** Starts a member process with extra flags (e.g. --initial-cluster or --join). */
  start(m: ProcMember, flags: string[]): void {
    const args = [
      ...this.nodeArgs,
      this.cliPath(),
      "--name",
      m.name,
      "--listen-peer",
      m.peer,
      "--listen-client",
      m.client,
      "--data-dir",
      m.dataDir,
      ...(this.fastTiming ? FAST : []),
      ...this.extraArgs,
      ...flags,
    ];
    const p = spawn(process.execPath, args, { cwd: this.cwd(), stdio: ["ignore", "pipe", "pipe"] });
    const collect = (b: Buffer) => {
      for (const line of b.toString().split("\n")) if (line !== "") m.log.push(line);
      if (m.log.length > 2000) m.log.splice(0, 1000);
    };
    p.stdout!.on("data", collect);
    p.stderr!.on("data", collect);
    m.proc = p;
  }

  /**
   * Waits for a member to answer /health with 200. Generous: other test
   * files load the CPU. A member that exited fails at once, with its log.
   */
  async healthy(m: ProcMember, timeoutMs = 60_000): Promise<void> {
    const exited = await waitFor(
      `${m.name} healthy`,
      async () => {
        const p = m.proc;
        if (p !== null && (p.exitCode !== null || p.signalCode !== null))
          return `${p.exitCode ?? p.signalCode}`;
        return (await http("GET", `${m.client}/health`)).status === 200 ? "" : undefined;
      },
      timeoutMs,
    );
    if (exited !== "") throw new Error(`${m.name} exited (${exited}):\n${m.log.slice(-30).join("\n")}`);
  }

  /** Sends a signal and waits for the process to exit. */
  async kill(m: ProcMember, signal: NodeJS.Signals): Promise<number | null> {
    const p = m.proc;
    if (p === null || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
    p.kill(signal);
    const code = await exited;
    m.proc = null;
    return code;
  }

  async exited(m: ProcMember, timeoutMs = 15_000): Promise<number | null> {
    const p = m.proc;
    if (p === null) return null;
    if (p.exitCode !== null) return p.exitCode;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${m.name} did not exit`)), timeoutMs);
      p.once("exit", (code) => {
        clearTimeout(t);
        resolve(code);
      });
    });
  }

  async status(m: ProcMember): Promise<ServerStatus> {
    return (await http("GET", `${m.client}/status`)).json() as ServerStatus;
  }

  /** The member that all running members agree is the leader. */
  async leader(running: ProcMember[]): Promise<ProcMember> {
    return waitFor("an agreed leader", async () => {
      const sts = await Promise.all(running.map((m) => this.status(m)));
      const lead = sts[0].leader;
      if (lead === "0" || !sts.every((s) => s.leader === lead)) return undefined;
      const i = sts.findIndex((s) => s.id === lead);
      return i >= 0 ? running[i] : undefined;
    });
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m, "SIGTERM")));
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m, "SIGKILL")));
    rmSync(this.root, { recursive: true, force: true });
  }

  dumpLogs(): string {
    return this.members.map((m) => `--- ${m.name}\n${m.log.slice(-40).join("\n")}`).join("\n");
  }
}
