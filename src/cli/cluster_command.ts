// `tsraft-kv cluster`: a local cluster on this machine for trying tsraft-kv
// out (`npm start`). Each member is its own process running this same
// program (compiled JavaScript under `npm start`), supervised:
//
//   * a member that dies, `kill -9` of the leader included, is reported and
//     restarted with back-off while the others keep serving (supervisor.ts);
//     one whose exit status says a restart cannot help (bad flags, a data
//     directory of another cluster, damaged data, removed) is left down;
//   * the "ready: leader m2 (term 3)" line appears once the cluster serves:
//     every member answers /health and all agree on the leader (or, after
//     10 s, a quorum does);
//   * Ctrl-C (SIGINT) or SIGTERM stops every member gracefully and exits 0;
//     a second Ctrl-C kills them. Members are in their own process group
//     (a terminal's Ctrl-C reaches only the supervisor, which then stops
//     them in order) and hold an IPC channel to it: if the supervisor is
//     killed they stop by themselves.
//
// Peer traffic uses mutual TLS by default: the cluster's CA and member
// certificates are (re)made under <data-dir>/pki on every start (idempotent:
// existing valid files are kept). The client API stays plain http so that
// the curl walkthrough works as is. A data directory remembers its layout
// (<data-dir>/cluster.json: size, host, base port, TLS) because member IDs
// are derived from the peer URLs: started again with other ports or another
// scheme its members would refuse their own data.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, ExitCode, exitCodeTable } from "../config/index.ts";
import { describeError } from "./exit_status.ts";
import type { CommandIo } from "./member_command.ts";
import { Supervisor, type SupervisorEvent } from "./supervisor.ts";

/** The `tsraft-kv cluster --help` text. */
export const CLUSTER_HELP = `Usage: tsraft-kv cluster [options] [-- member flags...]

Runs and supervises a local cluster of tsraft-kv members on this machine. A member that
dies is restarted (with back-off); Ctrl-C stops them all. Running it again resumes from
the same data. Member m<i> (i = 1..size) listens for clients on base-port + 10(i-1) and
for peers on the port after it.

Options:
  --size <n>             members (default 3)
  --data-dir <dir>       parent directory of the members' data, the PKI and cluster.json (default ./data)
  --base-port <port>     client port of m1 (default 2379: clients 2379, 2389, 2399; peers 2380, 2390, 2400)
  --host <addr>          address to listen on (default 127.0.0.1)
  --no-tls               peer traffic over plain http (default: mutual TLS with certificates under DIR/pki)
  --tls                  peer traffic over mutual TLS (the default for a new data dir)
  --log-level <level>    members' log level: debug, info, warn, error (default warn)
  --snapshot-count <n>   entries between snapshots (default: the member's, 100000)
  --unsafe-no-fsync      skip fdatasync (testing only)
  -h, --help             this help

Flags after "--" go to every member (see tsraft-kv --help), e.g.
  tsraft-kv cluster -- --heartbeat-interval 50 --election-timeout 500

Size, host, base port and TLS are recorded in DIR/cluster.json on the first start and
reused: a member's ID derives from its peer URLs, so they cannot change for that data.
`;

/** Consecutive quick failures (each within 10 s of its start) after which a member is left down. */
const MAX_FAILURES = 8;

/** Ports of the layout that cannot be bound right now, as "m1's client port 2379". */
async function busyPorts(members: LocalMember[], host: string): Promise<string[]> {
  const check = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, host, () => s.close(() => resolve(true)));
    });
  const out: string[] = [];
  for (const m of members) {
    for (const [what, url] of [
      ["client", m.clientURL],
      ["peer", m.peerURL],
    ] as const) {
      const port = Number(new URL(url).port);
      if (!(await check(port))) out.push(`${m.name}'s ${what} port ${port}`);
    }
  }
  return out;
}

/** How the local cluster is laid out; recorded in <data-dir>/cluster.json. */
export interface ClusterLayout {
  /** Number of members. */
  size: number;
  /** The host every member binds and advertises. */
  host: string;
  /** First client port; the member ports follow from it. */
  basePort: number;
  /** Whether peer traffic uses the cluster PKI (mutual TLS). */
  tls: boolean;
}

/** One member of a local cluster: its name, URLs and data directory. */
export interface LocalMember {
  /** m1, m2, ... */
  name: string;
  /** Its client URL (REST, gRPC, dashboard). */
  clientURL: string;
  /** Its peer URL. */
  peerURL: string;
  /** Its data directory under the cluster's. */
  dataDir: string;
}

/** Member i (0-based) of a layout: client on basePort + 10i, peer on the next port. */
export function localMembers(layout: ClusterLayout, dataDir: string): LocalMember[] {
  const host = layout.host.includes(":") ? `[${layout.host}]` : layout.host;
  return Array.from({ length: layout.size }, (_, i) => ({
    name: `m${i + 1}`,
    clientURL: `http://${host}:${layout.basePort + 10 * i}`,
    peerURL: `${layout.tls ? "https" : "http"}://${host}:${layout.basePort + 10 * i + 1}`,
    dataDir: join(dataDir, `m${i + 1}`),
  }));
}

interface ClusterFlags {
  layout: Partial<ClusterLayout>;
  dataDir: string;
  logLevel: string;
  snapshotCount?: number;
  unsafeNoFsync: boolean;
  memberArgs: string[];
  help: boolean;
}

function positive(v: string | undefined, key: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v) || Number(v) <= 0 || Number(v) > max) {
    throw new ConfigError(
      "flag",
      key,
      `${key} must be a whole number from 1 to ${max}, got ${JSON.stringify(v)}`,
      v,
    );
  }
  return Number(v);
}

/** Parses the cluster command's flags (those after "--" are kept for the members). */
export function parseClusterFlags(argv: readonly string[]): ClusterFlags {
  const dd = argv.indexOf("--");
  const own = dd < 0 ? [...argv] : argv.slice(0, dd);
  const memberArgs = dd < 0 ? [] : argv.slice(dd + 1);
  let parsed: ReturnType<typeof parseOwn>;
  try {
    parsed = parseOwn(own);
  } catch (err) {
    const e = err as Error & { code?: string };
    const arg = /'([^' ]+)/.exec(e.message)?.[1] ?? "cluster";
    throw new ConfigError(
      "flag",
      arg,
      e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
        ? `${arg}: unknown option of tsraft-kv cluster (see tsraft-kv cluster --help; member flags go after "--")`
        : e.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL"
          ? `${arg}: unexpected argument (see tsraft-kv cluster --help)`
          : e.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE"
            ? `${arg} needs a value`
            : e.message.split("\n")[0]!,
    );
  }
  const v = parsed.values;
  if (v.tls === true && v["no-tls"] === true)
    throw new ConfigError("flag", "--tls", "--tls and --no-tls contradict each other");
  const logLevel = v["log-level"] ?? "warn";
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new ConfigError(
      "flag",
      "--log-level",
      `--log-level ${JSON.stringify(logLevel)} is not one of debug, info, warn, error`,
    );
  }
  const layout: Partial<ClusterLayout> = {};
  const size = positive(v.size, "--size", 99);
  if (size !== undefined) layout.size = size;
  const basePort = positive(v["base-port"], "--base-port", 65535);
  if (basePort !== undefined) layout.basePort = basePort;
  if (v.host !== undefined) {
    if (v.host === "" || /[\s/]/.test(v.host))
      throw new ConfigError("flag", "--host", `--host ${JSON.stringify(v.host)} is not an address`);
    layout.host = v.host;
  }
  if (v.tls === true) layout.tls = true;
  if (v["no-tls"] === true) layout.tls = false;
  if (layout.basePort !== undefined && layout.basePort + 10 * ((layout.size ?? 3) - 1) + 1 > 65535) {
    throw new ConfigError(
      "flag",
      "--base-port",
      `--base-port ${layout.basePort}: the last member's ports would pass 65535`,
    );
  }
  const flags: ClusterFlags = {
    layout,
    dataDir: v["data-dir"] ?? "./data",
    logLevel,
    unsafeNoFsync: v["unsafe-no-fsync"] === true,
    memberArgs,
    help: v.help === true,
  };
  const sc = positive(v["snapshot-count"], "--snapshot-count");
  if (sc !== undefined) flags.snapshotCount = sc;
  return flags;
}

function parseOwn(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      size: { type: "string" },
      "data-dir": { type: "string" },
      "base-port": { type: "string" },
      host: { type: "string" },
      tls: { type: "boolean" },
      "no-tls": { type: "boolean" },
      "log-level": { type: "string" },
      "snapshot-count": { type: "string" },
      "unsafe-no-fsync": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

const LAYOUT_DEFAULTS: ClusterLayout = { size: 3, host: "127.0.0.1", basePort: 2379, tls: true };

/**
 * The layout to run: the one recorded in the data directory, where flags may
 * not contradict it; else the flags over the defaults. A data directory
 * with member data but no cluster.json comes from before TLS was the
 * default: its peers were plain http.
 */
export function resolveLayout(
  dataDir: string,
  given: Partial<ClusterLayout>,
): { layout: ClusterLayout; recorded: boolean } {
  const file = join(dataDir, "cluster.json");
  let stored: ClusterLayout | null = null;
  if (existsSync(file)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new ConfigError("file", file, `${file}: ${(err as Error).message}; remove it to start over`);
    }
    const r = raw as Partial<ClusterLayout> | null;
    if (
      r === null ||
      typeof r !== "object" ||
      !Number.isSafeInteger(r.size) ||
      typeof r.host !== "string" ||
      !Number.isSafeInteger(r.basePort) ||
      typeof r.tls !== "boolean"
    ) {
      throw new ConfigError(
        "file",
        file,
        `${file} is not a cluster layout (size, host, basePort, tls); remove it to start over`,
      );
    }
    stored = { size: r.size!, host: r.host, basePort: r.basePort!, tls: r.tls };
  } else if (existsSync(join(dataDir, "m1", "member", "wal"))) {
    // Size and ports cannot be told from the data; a wrong guess makes the members refuse it (exit 5).
    stored = { ...LAYOUT_DEFAULTS, ...given, tls: false };
  }
  if (stored === null) return { layout: { ...LAYOUT_DEFAULTS, ...given }, recorded: false };
  const flag: Record<keyof ClusterLayout, string> = {
    size: "--size",
    host: "--host",
    basePort: "--base-port",
    tls: "--tls/--no-tls",
  };
  for (const k of Object.keys(flag) as Array<keyof ClusterLayout>) {
    const g = given[k];
    if (g !== undefined && g !== stored[k]) {
      throw new ConfigError(
        "flag",
        flag[k],
        `${flag[k]}: ${dataDir} holds a cluster made with ${k === "tls" ? (stored.tls ? "--tls" : "--no-tls") : `${flag[k]} ${stored[k]}`}; ` +
          "member IDs derive from the peer URLs, so that cannot change: drop the flag or use another --data-dir",
      );
    }
  }
  return { layout: stored, recorded: true };
}

function writeLayout(dataDir: string, layout: ClusterLayout): void {
  const file = join(dataDir, "cluster.json");
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(layout, null, 2)}\n`);
  renameSync(tmp, file);
}

/** The command line of member `m`. */
export function memberArgv(
  m: LocalMember,
  all: LocalMember[],
  flags: ClusterFlags,
  pki: Map<string, string[]> | null,
): string[] {
  const args = [
    "--name",
    m.name,
    "--initial-cluster",
    all.map((x) => `${x.name}=${x.peerURL}`).join(","),
    "--listen-peer-urls",
    m.peerURL,
    "--listen-client-urls",
    m.clientURL,
    "--data-dir",
    m.dataDir,
    "--log-level",
    flags.logLevel,
  ];
  if (flags.snapshotCount !== undefined) args.push("--snapshot-count", String(flags.snapshotCount));
  if (flags.unsafeNoFsync) args.push("--unsafe-no-fsync");
  const tls = pki?.get(m.name);
  if (tls !== undefined) args.push(...tls);
  args.push(...flags.memberArgs);
  return args;
}

/** Makes (or completes) the cluster's PKI; returns each member's TLS flags. */
async function ensurePki(dir: string, members: LocalMember[], host: string): Promise<Map<string, string[]>> {
  // Loaded only here: a member process never needs the certificate library.
  const { writeClusterPki } = await import("../pki/index.ts");
  const r = await writeClusterPki(
    dir,
    members.map((m) => ({ name: m.name, peerURLs: [m.peerURL], clientURLs: [m.clientURL], hosts: [host] })),
  );
  const out = new Map<string, string[]>();
  for (const m of r.members) {
    out.set(m.name, [
      "--peer-cert-file",
      m.peerCert,
      "--peer-key-file",
      m.peerKey,
      "--peer-trusted-ca-file",
      r.ca.cert,
      "--peer-client-cert-auth",
      "--peer-verify-member-identity",
    ]);
  }
  return out;
}

interface Health {
  healthy: boolean;
  leader: string;
  term: number;
  members: Map<string, string>;
}

async function probe(m: LocalMember): Promise<Health | null> {
  try {
    const signal = AbortSignal.timeout(800);
    const [h, s] = await Promise.all([
      fetch(`${m.clientURL}/health`, { signal }),
      fetch(`${m.clientURL}/status`, { signal }),
    ]);
    await h.arrayBuffer();
    const st = (await s.json()) as {
      leader?: string;
      term?: number;
      members?: Array<{ id: string; name: string }>;
    };
    return {
      healthy: h.status === 200,
      leader: st.leader ?? "0",
      term: st.term ?? 0,
      members: new Map((st.members ?? []).map((x) => [x.id, x.name])),
    };
  } catch {
    return null;
  }
}

/**
 * Runs the local cluster until SIGINT/SIGTERM (exit 0) or until every member
 * was given up on (exit 1). Resolves with the exit status.
 */
export async function runClusterCommand(
  argv: readonly string[],
  io: CommandIo = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) },
): Promise<number> {
  // Times are since this process started (performance.now()'s origin), module loading included.
  const t0 = 0;
  const out = (line: string) => io.stdout(`${line}\n`);
  let flags: ClusterFlags;
  let dataDir: string;
  let layout: ClusterLayout;
  let members: LocalMember[];
  let pki: Map<string, string[]> | null = null;
  try {
    flags = parseClusterFlags(argv);
    if (flags.help) {
      io.stdout(CLUSTER_HELP);
      return ExitCode.Ok;
    }
    dataDir = resolve(flags.dataDir);
    const r = resolveLayout(dataDir, flags.layout);
    layout = r.layout;
    mkdirSync(dataDir, { recursive: true });
    if (!r.recorded) writeLayout(dataDir, layout);
    members = localMembers(layout, dataDir);
    if (layout.tls) pki = await ensurePki(join(dataDir, "pki"), members, layout.host);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    io.stderr(`tsraft-kv cluster: ${describeError(err)}\n`);
    return code === "ERR_CONFIG" || code === "ERR_PKI_CONFLICT" || code === "ERR_PKI_INVALID"
      ? ExitCode.BadConfig
      : ExitCode.Fatal;
  }
  // The usual mistake is a second `npm start`: say so at once rather than let every member
  // crash-loop on "port in use".
  const busy = await busyPorts(members, layout.host);
  if (busy.length > 0) {
    io.stderr(
      `tsraft-kv cluster: ${busy.join(", ")} already in use (is another local cluster running? ` +
        "--base-port picks other ports)\n",
    );
    return ExitCode.PortInUse;
  }
  const entry = process.argv[1];
  if (entry === undefined) {
    io.stderr("tsraft-kv cluster: cannot tell which program runs the members (no process.argv[1])\n");
    return ExitCode.Fatal;
  }

  const byName = new Map(members.map((m) => [m.name, m]));
  const procs = new Map<string, ChildProcess>();
  const meaning = new Map(exitCodeTable.map((e) => [e.code as number, e.meaning]));
  /** Each member's current process: when it started, whether it has answered /health since. */
  const runs = new Map<string, { at: number; serving: boolean; restarts: number }>();
  let exitCode: number | null = null;
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => {
    resolveExit = r;
  });

  const sup: Supervisor = new Supervisor({
    spawn: (name, onExit) => {
      const m = byName.get(name)!;
      // Own process group (detached): a terminal's Ctrl-C reaches only the supervisor, which
      // stops the members itself; the IPC channel tells a member when the supervisor is gone.
      const p = spawn(process.execPath, [...process.execArgv, entry, ...memberArgv(m, members, flags, pki)], {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        detached: true,
      });
      let ended = false;
      const end = (code: number | null, signal: NodeJS.Signals | null) => {
        if (ended) return;
        ended = true;
        procs.delete(name);
        onExit(code, signal);
      };
      p.once("exit", end);
      // A process that could not be spawned at all emits "error" and no "exit".
      p.once("error", (err) => {
        io.stderr(`tsraft-kv cluster: ${name}: ${err.message}\n`);
        if (p.pid === undefined) end(null, null);
      });
      procs.set(name, p);
      return p;
    },
    now: () => performance.now(),
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
    noRestart: new Set([ExitCode.BadConfig, ExitCode.ForeignDataDir, ExitCode.DamagedData, ExitCode.Removed]),
    maxFailures: MAX_FAILURES,
    onEvent: (e: SupervisorEvent) => {
      switch (e.type) {
        case "started":
          runs.set(e.name, { at: performance.now(), serving: false, restarts: e.restarts });
          if (e.restarts > 0) out(`${e.name}: restarted (pid ${e.pid})`);
          break;
        case "exited": {
          if (sup.isStopping) break;
          const why = e.signal ?? `status ${e.code}`;
          const what = e.code !== null && e.code !== 0 ? meaning.get(e.code) : undefined;
          out(
            `${e.name}: exited (${why}${what !== undefined ? `: ${what}` : ""}) after ${(e.upMs / 1000).toFixed(1)} s`,
          );
          break;
        }
        case "restarting":
          out(
            `${e.name}: restarting in ${(e.inMs / 1000).toFixed(1)} s${e.attempt > 1 ? ` (attempt ${e.attempt})` : ""}`,
          );
          break;
        case "given-up":
          out(
            e.why === "final-status"
              ? `${e.name}: not restarting: a restart cannot fix that (its last log line says why)`
              : `${e.name}: not restarting: it failed ${MAX_FAILURES} times in a row (its last log line says why)`,
          );
          if (sup.allGivenUp) stopAll(ExitCode.Fatal, "every member has stopped for good");
          break;
        case "spawn-failed":
          out(`${e.name}: cannot start: ${e.error.message}`);
          break;
      }
    },
  });

  const stopAll = (code: number, why: string) => {
    if (exitCode !== null) {
      out("killing the members");
      sup.killAll();
      return;
    }
    exitCode = code;
    out(`stopping all members (${why})`);
    void sup.stop().then(() => {
      out("all members stopped");
      resolveExit(code);
    });
  };
  process.on("SIGINT", () => stopAll(ExitCode.Ok, "SIGINT"));
  process.on("SIGTERM", () => stopAll(ExitCode.Ok, "SIGTERM"));

  out(
    `tsraft-kv cluster: ${layout.size} members, data under ${dataDir}, ` +
      (layout.tls
        ? `peer traffic over mutual TLS (CA ${join(dataDir, "pki", "ca.crt")})`
        : "peer traffic over plain http"),
  );
  sup.start(members.map((m) => m.name));
  for (const m of members) {
    out(
      `  ${m.name}: client ${m.clientURL}   dashboard ${m.clientURL}/ui   peer ${m.peerURL}   pid ${procs.get(m.name)?.pid ?? "-"}`,
    );
  }
  void watch(members, procs, runs, t0, out, () => exitCode !== null);
  return exited;
}

/**
 * Polls the members' /health and /status: prints the ready line once the
 * cluster serves, then leader changes and members serving again after a
 * restart, until `done()`.
 */
async function watch(
  members: LocalMember[],
  procs: ReadonlyMap<string, ChildProcess>,
  runs: Map<string, { at: number; serving: boolean; restarts: number }>,
  t0: number,
  out: (line: string) => void,
  done: () => boolean,
): Promise<void> {
  const quorum = Math.floor(members.length / 2) + 1;
  let ready = false;
  let lastLeader = "";
  while (!done()) {
    const probes = await Promise.all(
      members.map(async (m) => ({ m, h: procs.has(m.name) ? await probe(m) : null })),
    );
    if (done()) break;
    const now = performance.now();
    const healthy = probes.filter((p) => p.h?.healthy === true) as Array<{ m: LocalMember; h: Health }>;
    for (const { m } of healthy) {
      const run = runs.get(m.name);
      if (run === undefined || run.serving) continue;
      run.serving = true;
      if (ready || run.restarts > 0) {
        out(`${m.name}: serving again, ${((now - run.at) / 1000).toFixed(2)} s after its process started`);
      }
    }
    const leaders = new Set(healthy.map((p) => p.h.leader));
    const agreed = leaders.size === 1 ? [...leaders][0]! : "0";
    if (agreed !== "0") {
      const term = Math.max(...healthy.map((p) => p.h.term));
      const name = healthy[0]!.h.members.get(agreed) ?? agreed;
      if (!ready) {
        const down = probes.filter((p) => p.h?.healthy !== true).map((p) => p.m.name);
        if (down.length === 0 || (healthy.length >= quorum && now - t0 > 10_000)) {
          ready = true;
          lastLeader = agreed;
          const first = members[0]!.clientURL;
          const last = members[members.length - 1]!.clientURL;
          out(
            `ready: leader ${name} (term ${term}) after ${((now - t0) / 1000).toFixed(1)} s` +
              `${down.length > 0 ? ` (not serving yet: ${down.join(", ")})` : ""}; ` +
              `try: curl -X PUT --data-binary hello ${first}/kv/greeting`,
          );
          out(`       curl ${last}/kv/greeting        dashboard: ${first}/ui`);
          out(
            "Ctrl-C stops all members; kill -9 any member (the leader too) to watch fail-over: it is restarted.",
          );
        }
      } else if (agreed !== lastLeader) {
        lastLeader = agreed;
        out(`leader: ${name} (term ${term})`);
      }
    }
    await new Promise((r) => setTimeout(r, ready ? 250 : 50));
  }
}
