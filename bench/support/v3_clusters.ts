// The two clusters the etcd v3 benchmark compares, as real processes on this
// machine: three tsraft-kv members (the compiled CLI, fsync on, default raft
// timing: 100 ms heartbeat, 1 s election, as etcd's defaults) and three etcd
// 3.4 members (Debian's /usr/bin/etcd, flags as ../shared/tools/etcd_cluster.sh
// but on free ports 20000-32000, never 2379/2380), each in its own temp dir,
// removed by close().
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { freePort, http, ProcCluster, waitFor } from "../../test/kv/support/cluster.ts";

export const ETCD_BIN = "/usr/bin/etcd";

/** User+system CPU seconds a process has used so far (Linux /proc/<pid>/stat fields 14 and 15). */
export function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface BenchCluster {
  /** "tsraft-kv", "etcd", or "tsraft-kv@<tree>" for another source tree's build (same-run A/B). */
  readonly kind: string;
  /** host:port of each member's client URL, in member order. */
  readonly endpoints: string[];
  /** Process IDs, in member order. */
  pids(): number[];
  /** Index of the member all members agree leads. */
  leader(): Promise<number>;
  close(): Promise<void>;
}

const epOf = (url: string) => url.replace(/^https?:\/\//, "");

/** The member all of `eps` agree leads, through the JSON gateway's status (served by both systems). */
async function agreedLeader(eps: string[]): Promise<number> {
  return waitFor(
    "an agreed leader",
    async () => {
      const sts = await Promise.all(
        eps.map(async (ep) => {
          const j = (await http("POST", `http://${ep}/v3/maintenance/status`, "{}")).json() as {
            leader?: string;
            header: { member_id: string };
          };
          return { leader: j.leader ?? "0", id: j.header.member_id };
        }),
      );
      const lead = sts[0]!.leader;
      if (lead === "0" || !sts.every((s) => s.leader === lead)) return undefined;
      const i = sts.findIndex((s) => s.id === lead);
      return i >= 0 ? i : undefined;
    },
    60_000,
    100,
  );
}

/** Three tsraft-kv member processes. */
export class TsraftBench implements BenchCluster {
  kind = "tsraft-kv";
  pc = new ProcCluster();
  endpoints: string[] = [];

  /**
   * `tree`: run the compiled CLI of another checkout of this repository
   * (built there first with its own scripts/build-cli.mjs), for before/after
   * comparisons of two commits in one run; labelled "tsraft-kv@<dir name>".
   */
  static async start(nodeArgs: string[] = [], extraArgs: string[] = [], tree?: string): Promise<TsraftBench> {
    const c = new TsraftBench();
    if (tree !== undefined) {
      c.pc = new TreeProcCluster(resolve(tree));
      c.kind = `tsraft-kv@${basename(resolve(tree))}`;
    }
    c.pc.fastTiming = false;
    c.pc.nodeArgs = nodeArgs;
    c.pc.extraArgs = extraArgs;
    try {
      const names = ["m1", "m2", "m3"];
      for (const n of names) await c.pc.add(n);
      const flags = ["--initial-cluster", c.pc.initialCluster(names)];
      for (const m of c.pc.members) c.pc.start(m, flags);
      c.endpoints = c.pc.members.map((m) => epOf(m.client));
      const deadline = Date.now() + 600_000;
      for (;;) {
        const ok = await Promise.all(
          c.pc.members.map((m) =>
            http("GET", `${m.client}/health`).then(
              (r) => r.status === 200,
              () => false,
            ),
          ),
        );
        if (ok.every(Boolean)) break;
        const dead = c.pc.members.find((m) => m.proc?.exitCode != null);
        if (dead !== undefined || Date.now() > deadline)
          throw new Error(
            `tsraft-kv cluster did not start (exit statuses ${c.pc.members.map((m) => m.proc?.exitCode ?? m.proc?.signalCode ?? "running").join(", ")}):\n${c.pc.dumpLogs()}`,
          );
        await new Promise((r) => setTimeout(r, 200));
      }
      await agreedLeader(c.endpoints);
      return c;
    } catch (err) {
      await c.close();
      throw err;
    }
  }

  pids(): number[] {
    return this.pc.members.map((m) => m.proc?.pid ?? -1);
  }

  leader(): Promise<number> {
    return agreedLeader(this.endpoints);
  }

  async close(): Promise<void> {
    // SIGTERM first so that a member run with --cpu-prof writes its profile.
    await Promise.race([this.pc.stopAll(), new Promise((r) => setTimeout(r, 15_000))]);
    await this.pc.cleanup();
  }
}

/**
 * A ProcCluster whose members run another tree's compiled CLI, from inside
 * that tree (its own node_modules, or a link to this one's).
 */
class TreeProcCluster extends ProcCluster {
  private readonly cli: string;
  constructor(private readonly tree: string) {
    super();
    const r = spawnSync(process.execPath, [join(tree, "scripts/build-cli.mjs"), "--quiet"], {
      cwd: tree,
      encoding: "utf8",
      timeout: 120_000,
    });
    if (r.status !== 0) throw new Error(`build-cli in ${tree} failed: ${r.stderr}`);
    this.cli = join(tree, ".build/cli/tsraft-kv.js");
  }

  protected override cliPath(): string {
    return this.cli;
  }

  protected override cwd(): string {
    return this.tree;
  }
}

/** Three etcd 3.4 members on free ports, data under a temp dir. */
export class EtcdBench implements BenchCluster {
  readonly kind = "etcd";
  readonly dir = mkdtempSync(join(tmpdir(), "etcd-v3bench-"));
  readonly procs: ChildProcess[] = [];
  readonly endpoints: string[] = [];
  readonly log: string[] = [];

  static async start(): Promise<EtcdBench> {
    if (!existsSync(ETCD_BIN))
      throw new Error(`${ETCD_BIN} is missing: apt-get install etcd-server (etcd 3.4)`);
    const c = new EtcdBench();
    try {
      const clients: string[] = [];
      const peers: string[] = [];
      for (let i = 0; i < 3; i++) {
        clients.push(`http://127.0.0.1:${await freePort()}`);
        peers.push(`http://127.0.0.1:${await freePort()}`);
      }
      const initial = peers.map((p, i) => `e${i + 1}=${p}`).join(",");
      for (let i = 0; i < 3; i++) {
        const p = spawn(
          ETCD_BIN,
          [
            ["--name", `e${i + 1}`],
            ["--data-dir", join(c.dir, `e${i + 1}`)],
            ["--listen-client-urls", clients[i]!],
            ["--advertise-client-urls", clients[i]!],
            ["--listen-peer-urls", peers[i]!],
            ["--initial-advertise-peer-urls", peers[i]!],
            ["--initial-cluster", initial],
            ["--initial-cluster-token", "v3bench"],
            ["--initial-cluster-state", "new"],
            ["--quota-backend-bytes", "8589934592"],
            ["--logger", "zap"],
            ["--log-level", "warn"],
            ["--log-outputs", "stderr"],
          ].flat(),
          { stdio: ["ignore", "ignore", "pipe"] },
        );
        p.stderr!.on("data", (d: Buffer) => {
          c.log.push(d.toString());
          if (c.log.length > 200) c.log.shift();
        });
        c.procs.push(p);
      }
      c.endpoints.push(...clients.map(epOf));
      await Promise.all(
        clients.map((u) =>
          waitFor(
            `etcd ${u} healthy`,
            async () => (await http("GET", `${u}/health`)).status === 200,
            60_000,
            100,
          ),
        ),
      );
      await agreedLeader(c.endpoints);
      return c;
    } catch (err) {
      await c.close();
      throw new Error(`${(err as Error).message}\n${c.log.join("").slice(-3000)}`);
    }
  }

  pids(): number[] {
    return this.procs.map((p) => p.pid ?? -1);
  }

  leader(): Promise<number> {
    return agreedLeader(this.endpoints);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.procs.map((p) => {
        if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
        const gone = new Promise((r) => p.once("exit", r));
        p.kill("SIGTERM");
        const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
        return gone.then(() => clearTimeout(t));
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
