// Test support for the etcd v3 API on a replicated tsraft-kv: three member
// processes started with the CLI (etcd's flags), and a real three-member etcd
// 3.4 (Debian's etcd-server) on free ports beside it, so that etcdctl's
// output can be compared command by command. etcdctl helpers (ctl, CtlProc)
// are test/v3rpc's.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, http, ProcCluster, type ProcMember, waitFor } from "../kv/support/cluster.ts";
import { type CtlResult, ctl, ETCD, errLines } from "../v3rpc/support.ts";

export { CtlProc, ctl, errLines } from "../v3rpc/support.ts";
export { freePort, http, waitFor };

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What both clusters offer a test: etcdctl endpoints, the leader, kill -9. */
export interface Cluster {
  readonly kind: "tsraft" | "etcd";
  /** host:port of every running member's client URL, in member order. */
  eps(): string[];
  /** host:port of the member all running members agree leads. */
  leaderEp(): Promise<string>;
  /** Member ID (hex, as etcdctl prints it) behind an endpoint. */
  idOf(ep: string): Promise<string>;
  close(): Promise<void>;
}

/** Status of a member through the JSON gateway (works on both systems). */
export async function v3Status(ep: string): Promise<{ leader: string; id: string; term: number }> {
  const r = await http("POST", `http://${ep}/v3/maintenance/status`, "{}");
  const j = r.json() as { leader: string; header: { member_id: string; raft_term: string } };
  return {
    leader: BigInt(j.leader ?? "0").toString(16),
    id: BigInt(j.header.member_id).toString(16),
    term: Number(j.header.raft_term),
  };
}

async function agreedLeader(eps: string[]): Promise<string> {
  return waitFor(
    "an agreed leader",
    async () => {
      const sts = await Promise.all(eps.map(v3Status));
      const lead = sts[0]!.leader;
      if (lead === "0" || !sts.every((s) => s.leader === lead)) return undefined;
      const i = sts.findIndex((s) => s.id === lead);
      return i >= 0 ? eps[i] : undefined;
    },
    20_000,
    100,
  );
}

const epOf = (url: string) => url.replace(/^https?:\/\//, "");

/**
 * Three (or n) tsraft-kv members as real processes (fast raft timing: 20 ms
 * ticks, 200 ms election timeout). A member that exits while the cluster
 * starts fails the start: none may (a 403 from a peer still adding its peers
 * once retired fresh members with status 7: fixed in 29889b2 and e7368da).
 */
export class TsCluster implements Cluster {
  readonly kind = "tsraft";
  readonly pc = new ProcCluster();
  readonly running = new Set<ProcMember>();
  /** Flags the initial members started with (a restart uses them again). */
  private bootFlags: string[] = [];
  /** The members the cluster started with (not those a test added later). */
  private initial: ProcMember[] = [];

  /**
   * `fastTiming: false` runs the members with etcd's default timing (100 ms
   * heartbeat, 1 s election timeout) instead of 20 ms ticks: on a heavily
   * loaded machine a 200 ms election timeout elects new leaders whenever a
   * member is descheduled for that long, and every new leader extends every
   * lease, so a test about leader changes and lease expiry gets changes it
   * did not make.
   */
  static async start(
    n = 3,
    extraArgs: string[] = [],
    opts: { fastTiming?: boolean } = {},
  ): Promise<TsCluster> {
    const c = new TsCluster();
    c.pc.extraArgs = extraArgs;
    c.pc.fastTiming = opts.fastTiming ?? true;
    const names = Array.from({ length: n }, (_, i) => `m${i + 1}`);
    for (const name of names) await c.pc.add(name);
    const initial = c.pc.initialCluster(names);
    const flags = ["--initial-cluster", initial];
    c.bootFlags = flags;
    for (const m of c.pc.members) c.pc.start(m, flags);
    try {
      await c.bootstrap(c.pc.members);
    } catch (err) {
      await c.close();
      throw err;
    }
    for (const m of c.pc.members) c.running.add(m);
    c.initial = [...c.pc.members];
    await agreedLeader(c.eps());
    return c;
  }

  private async bootstrap(members: ProcMember[]): Promise<void> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const ok = await Promise.all(
        members.map(async (m) => {
          try {
            return (await http("GET", `${m.client}/health`)).status === 200;
          } catch {
            return false;
          }
        }),
      );
      if (ok.every(Boolean)) return;
      const dead = members.find((m) => m.proc !== null && m.proc.exitCode !== null);
      if (dead !== undefined || Date.now() > deadline)
        throw new Error(`tsraft-kv cluster did not start:\n${this.pc.dumpLogs()}`);
      await sleep(200);
    }
  }

  member(ep: string): ProcMember {
    const m = this.pc.members.find((x) => epOf(x.client) === ep);
    if (m === undefined) throw new Error(`no member at ${ep}`);
    return m;
  }

  eps(): string[] {
    return this.pc.members.filter((m) => this.running.has(m)).map((m) => epOf(m.client));
  }

  leaderEp(): Promise<string> {
    return agreedLeader(this.eps());
  }

  async followerEps(): Promise<string[]> {
    const l = await this.leaderEp();
    return this.eps().filter((e) => e !== l);
  }

  async idOf(ep: string): Promise<string> {
    return (await v3Status(ep)).id;
  }

  /** kill -9 of a member; it stays down. */
  async kill9(ep: string): Promise<void> {
    const m = this.member(ep);
    await this.pc.kill(m, "SIGKILL");
    this.running.delete(m);
  }

  /** Starts a killed initial member again on its data directory; resolves once it is healthy. */
  async restart(ep: string): Promise<void> {
    const m = this.member(ep);
    this.pc.start(m, this.bootFlags);
    await this.pc.healthy(m);
    this.running.add(m);
  }

  /** Starts every initial member that is not running (killed by a test) again; resolves once all are healthy. */
  async restartKilled(): Promise<void> {
    const down = this.initial.filter((m) => !this.running.has(m));
    await Promise.all(down.map((m) => this.restart(epOf(m.client))));
  }

  /** Adds a member slot (ports, data dir) without starting it. */
  async addSlot(name: string): Promise<ProcMember> {
    return this.pc.add(name);
  }

  /** Starts a member process with these flags and waits until it is healthy. */
  async startMember(m: ProcMember, flags: string[]): Promise<void> {
    this.pc.start(m, flags);
    await this.pc.healthy(m);
    this.running.add(m);
  }

  async close(): Promise<void> {
    await this.pc.cleanup();
  }

  logs(): string {
    return this.pc.dumpLogs();
  }
}

/** A three-member etcd 3.4 on free ports (etcd's default timing), in a temp dir. */
export class EtcdCluster implements Cluster {
  readonly kind = "etcd";
  readonly dir = mkdtempSync(join(tmpdir(), "etcd-v3c-"));
  readonly procs: Array<ChildProcess | null> = [];
  readonly clients: string[] = [];
  readonly peers: string[] = [];
  readonly log: string[] = [];

  static async start(n = 3): Promise<EtcdCluster> {
    if (!existsSync(ETCD)) throw new Error(`${ETCD} is missing: apt-get install etcd-server (etcd 3.4)`);
    const c = new EtcdCluster();
    for (let i = 0; i < n; i++) {
      c.clients.push(`http://127.0.0.1:${await freePort()}`);
      c.peers.push(`http://127.0.0.1:${await freePort()}`);
    }
    const initial = c.peers.map((p, i) => `e${i + 1}=${p}`).join(",");
    for (let i = 0; i < n; i++) c.procs.push(c.spawnMember(i, initial, "new"));
    try {
      await Promise.all(
        c.clients.map((u) =>
          waitFor(
            `etcd ${u} healthy`,
            async () => (await http("GET", `${u}/health`)).status === 200,
            30_000,
            100,
          ),
        ),
      );
      await agreedLeader(c.eps());
    } catch (err) {
      await c.close();
      throw new Error(`${(err as Error).message}\n${c.log.join("").slice(-3000)}`);
    }
    return c;
  }

  /** Starts etcd member i (also a member added later: state "existing"). */
  spawnMember(
    i: number,
    initialCluster: string,
    state: "new" | "existing",
    name = `e${i + 1}`,
  ): ChildProcess {
    const p = spawn(
      ETCD,
      [
        "--name",
        name,
        "--data-dir",
        join(this.dir, name),
        "--listen-client-urls",
        this.clients[i]!,
        "--advertise-client-urls",
        this.clients[i]!,
        "--listen-peer-urls",
        this.peers[i]!,
        "--initial-advertise-peer-urls",
        this.peers[i]!,
        "--initial-cluster",
        initialCluster,
        "--initial-cluster-state",
        state,
        "--initial-cluster-token",
        "v3cluster",
        "--logger",
        "zap",
        "--log-level",
        "error",
        "--log-outputs",
        "stderr",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    p.stderr!.on("data", (d: Buffer) => {
      this.log.push(d.toString());
      if (this.log.length > 300) this.log.shift();
    });
    return p;
  }

  eps(): string[] {
    return this.clients.filter((_, i) => this.procs[i] !== null).map(epOf);
  }

  leaderEp(): Promise<string> {
    return agreedLeader(this.eps());
  }

  async followerEps(): Promise<string[]> {
    const l = await this.leaderEp();
    return this.eps().filter((e) => e !== l);
  }

  async idOf(ep: string): Promise<string> {
    return (await v3Status(ep)).id;
  }

  async kill9(ep: string): Promise<void> {
    const i = this.clients.findIndex((u) => epOf(u) === ep);
    const p = this.procs[i];
    if (p == null) return;
    if (p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once("exit", r));
      p.kill("SIGKILL");
      await gone;
    }
    this.procs[i] = null;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((u) => this.kill9(epOf(u))));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- comparing etcdctl output ----------------------------------------------------------

/**
 * Makes etcdctl output of two clusters comparable: member IDs, cluster IDs
 * and lease IDs become placeholders numbered in order of first appearance
 * (per output), endpoints and ports EP, raft terms and indexes T and I,
 * timings D. What is left must be byte-identical.
 */
export function norm(s: string): string {
  const names = new Map<string, string>();
  const name = (kind: string, v: string) => {
    const k = `${kind}:${v}`;
    if (!names.has(k)) names.set(k, `${kind}${names.size}`);
    return names.get(k)!;
  };
  return (
    s
      // JSON (-w json): decimal IDs.
      .replace(/"(cluster_id|member_id|ID|leader|lease)":(\d+)/g, (_, k, v) => `"${k}":${name("ID", v)}`)
      .replace(/"(raft_term|raftTerm)":\d+/g, '"$1":T')
      .replace(/"(raftIndex|raftAppliedIndex)":\d+/g, '"$1":I')
      .replace(/"(dbSize|dbSizeInUse)":\d+/g, '"$1":N')
      // Hex IDs (16 digits or fewer, e.g. in member list, lease IDs, "cluster  x").
      .replace(/\b[0-9a-f]{12,16}\b/g, (v) => name("ID", v))
      .replace(/https?:\/\/127\.0\.0\.1:\d+/g, "EP")
      .replace(/127\.0\.0\.1:\d+/g, "EP")
      .replace(/\b(e|m)\d\b/g, "NAME")
      .replace(/took = [0-9.]+[µmn]?s/g, "took = D")
      // etcdctl pads IDs to 16 columns (%16x): the padding follows the ID's length.
      .replace(/(Member|cluster) +ID/g, "$1 ID")
      // Lists in member order, which is ID order (random IDs): compared as sets.
      .replace(
        /ETCD_INITIAL_CLUSTER="([^"]*)"/g,
        (_, l: string) => `ETCD_INITIAL_CLUSTER="${l.split(",").sort().join(",")}"`,
      )
  );
}

/** Runs one etcdctl command against both clusters; returns both results (normalised). */
export async function both(
  ts: string | string[],
  etcd: string | string[],
  args: string[],
  input?: string,
): Promise<{ ts: CtlResult; etcd: CtlResult; same: () => void }> {
  const join_ = (e: string | string[]) => (Array.isArray(e) ? e.join(",") : e);
  const [a, b] = await Promise.all([ctl(join_(etcd), args, input), ctl(join_(ts), args, input)]);
  return {
    etcd: a,
    ts: b,
    same: () => assertSame(args, a, b),
  };
}

export function assertSame(
  args: string[],
  etcd: CtlResult,
  ts: CtlResult,
  n: (s: string) => string = norm,
): void {
  const label = `etcdctl ${args.join(" ")}`;
  const fmt = (r: CtlResult) => `${n(r.out)}\n--stderr--\n${n(errLines(r))}\n--exit ${r.code}`;
  if (fmt(ts) !== fmt(etcd)) {
    throw new Error(
      `${label}: tsraft-kv and etcd differ\n=== etcd:\n${fmt(etcd)}\n=== tsraft-kv:\n${fmt(ts)}`,
    );
  }
}
