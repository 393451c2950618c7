#!/usr/bin/env node
// tsraft-kv: run one member of a replicated key-value cluster, or a whole
// local cluster for trying things out.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { KvConfigError } from "../kv/errors.ts";
import { defaultLimits } from "../kv/http_api.ts";
import { type InitialMember, KvMember, type MemberConfig, memberDefaults } from "../kv/member.ts";
import { DefaultLogger, LogLevel } from "../raft/logger.ts";
import { isMainModule } from "./main.ts";

function positiveInt(name: string) {
  return (v: string): number => {
    if (!/^[0-9]+$/.test(v) || Number(v) <= 0 || !Number.isSafeInteger(Number(v))) {
      throw new InvalidArgumentError(`${name} must be a positive integer`);
    }
    return Number(v);
  };
}

function url(name: string) {
  return (v: string): string => {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      throw new InvalidArgumentError(`${name}: not a URL: ${v}`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:")
      throw new InvalidArgumentError(`${name}: use http or https`);
    if (u.port === "") throw new InvalidArgumentError(`${name}: the URL needs an explicit port`);
    return v.replace(/\/$/, "");
  };
}

/**
 * Parses `--initial-cluster`: either `name=peerURL,...` (IDs are hashed from
 * the names, as etcd does) or plain `peerURL,...` (raftexample style: member
 * i has ID i and name m<i>).
 */
export function parseInitialCluster(v: string): InitialMember[] {
  const out: InitialMember[] = [];
  const byName = new Map<string, InitialMember>();
  for (const part of v.split(",").map((s) => s.trim())) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = eq < 0 ? `m${out.length + 1}` : part.slice(0, eq);
    const peer = url("--initial-cluster")(eq < 0 ? part : part.slice(eq + 1));
    if (name === "")
      throw new InvalidArgumentError(`--initial-cluster: empty member name in ${JSON.stringify(part)}`);
    const m = byName.get(name);
    if (m !== undefined) m.peerURLs.push(peer);
    else {
      const n = { name, peerURLs: [peer] };
      byName.set(name, n);
      out.push(n);
    }
  }
  if (out.length === 0) throw new InvalidArgumentError("--initial-cluster names no member");
  return out;
}

const logLevels: Record<string, LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warn,
  error: LogLevel.Error,
};

interface MemberFlags {
  name?: string;
  id?: number;
  initialCluster?: InitialMember[];
  clusterToken: string;
  listenPeer: string;
  listenClient: string;
  advertisePeer?: string;
  advertiseClient?: string;
  dataDir?: string;
  join?: string;
  learner?: boolean;
  snapshotCount: number;
  snapshotCatchUpEntries?: number;
  tickMs: number;
  electionTicks: number;
  maxKeyBytes: number;
  maxValueBytes: number;
  requestTimeout: number;
  peerCertFile?: string;
  peerKeyFile?: string;
  peerTrustedCaFile?: string;
  peerClientCertAuth?: boolean;
  clientCertFile?: string;
  clientKeyFile?: string;
  clientTrustedCaFile?: string;
  clientCertAuth?: boolean;
  logLevel: string;
  unsafeNoFsync?: boolean;
}

/** Turns validated flags into a member configuration; throws KvConfigError for bad combinations. */
export function memberConfigFromFlags(f: MemberFlags): MemberConfig {
  let name = f.name;
  let initial = f.initialCluster;
  if (f.id !== undefined) {
    // raftexample style: --id picks the member by position in --initial-cluster.
    if (initial === undefined) throw new KvConfigError("--id needs --initial-cluster");
    const m = initial[f.id - 1];
    if (m === undefined)
      throw new KvConfigError(`--id ${f.id} is beyond the ${initial.length} members of --initial-cluster`);
    if (name !== undefined && name !== m.name) {
      throw new KvConfigError(
        `--name ${name} does not match member ${f.id} (${m.name}) of --initial-cluster`,
      );
    }
    name = m.name;
  }
  if (name === undefined) throw new KvConfigError("--name (or --id) is required");
  if (initial === undefined && f.join === undefined) {
    initial = [{ name, peerURLs: [f.advertisePeer ?? f.listenPeer] }];
  }
  const dataDir = f.dataDir ?? `${name}.tsraft`;
  if (f.join !== undefined && f.initialCluster !== undefined) {
    throw new KvConfigError("--join and --initial-cluster are mutually exclusive");
  }
  const catchUp =
    f.snapshotCatchUpEntries ??
    Math.min(memberDefaults.snapshotCatchUpEntries, Math.floor(f.snapshotCount / 2));
  if (catchUp >= f.snapshotCount) {
    throw new KvConfigError("--snapshot-catch-up-entries must be smaller than --snapshot-count");
  }
  const peerTls =
    f.peerCertFile || f.peerTrustedCaFile
      ? {
          certFile: f.peerCertFile,
          keyFile: f.peerKeyFile,
          trustedCAFile: f.peerTrustedCaFile,
          clientCertAuth: f.peerClientCertAuth === true,
        }
      : undefined;
  if (peerTls && (peerTls.certFile === undefined) !== (peerTls.keyFile === undefined)) {
    throw new KvConfigError("--peer-cert-file and --peer-key-file go together");
  }
  const clientTls =
    f.clientCertFile && f.clientKeyFile
      ? {
          certFile: f.clientCertFile,
          keyFile: f.clientKeyFile,
          trustedCAFile: f.clientTrustedCaFile,
          clientCertAuth: f.clientCertAuth === true,
        }
      : undefined;
  if ((f.clientCertFile === undefined) !== (f.clientKeyFile === undefined)) {
    throw new KvConfigError("--client-cert-file and --client-key-file go together");
  }
  return {
    name,
    dataDir: resolve(dataDir),
    initialCluster: initial ?? [],
    clusterToken: f.clusterToken,
    join: f.join,
    joinAsLearner: f.learner === true,
    listenPeerURL: f.listenPeer,
    advertisePeerURLs: f.advertisePeer ? [f.advertisePeer] : undefined,
    listenClientURL: f.listenClient,
    advertiseClientURLs: f.advertiseClient ? [f.advertiseClient] : undefined,
    snapshotCount: f.snapshotCount,
    snapshotCatchUpEntries: catchUp,
    tickMs: f.tickMs,
    electionTicks: f.electionTicks,
    heartbeatTicks: 1,
    limits: {
      ...defaultLimits,
      maxKeyBytes: f.maxKeyBytes,
      maxValueBytes: f.maxValueBytes,
      requestTimeoutMs: f.requestTimeout,
    },
    peerTls,
    clientTls,
    logger: new DefaultLogger(logLevels[f.logLevel] ?? LogLevel.Warn, (l) => console.error(`[${name}] ${l}`)),
    unsafeNoFsync: f.unsafeNoFsync === true,
  };
}

async function runMember(f: MemberFlags): Promise<void> {
  const cfg = memberConfigFromFlags(f);
  const m = new KvMember(cfg);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`[${cfg.name}] ${signal}: shutting down`);
    m.stop().then(
      () => process.exit(0),
      (err) => {
        console.error(`[${cfg.name}] shutdown failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  await m.start();
  void m.done.then(() => {
    if (!stopping) {
      console.error(`[${cfg.name}] member stopped`);
      process.exit(0);
    }
  });
  console.log(`[${cfg.name}] member ${m.id.toString(16)} of cluster ${m.clusterId.toString(16)} is up`);
  console.log(
    `[${cfg.name}]   client API: ${m.clientURL}   dashboard: ${m.clientURL}/ui   peers: ${m.peerURL}`,
  );
}

interface ClusterFlags {
  size: number;
  dataDir: string;
  basePort: number;
  host: string;
  snapshotCount: number;
  logLevel: string;
  unsafeNoFsync?: boolean;
}

/** Starts a local cluster of `size` members as child processes and stops them all on Ctrl-C. */
async function runCluster(f: ClusterFlags): Promise<void> {
  const members = Array.from({ length: f.size }, (_, i) => ({
    name: `m${i + 1}`,
    client: `http://${f.host}:${f.basePort + 10 * i}`,
    peer: `http://${f.host}:${f.basePort + 10 * i + 1}`,
  }));
  const initial = members.map((m) => `${m.name}=${m.peer}`).join(",");
  mkdirSync(f.dataDir, { recursive: true });
  const children: ChildProcess[] = [];
  let exiting = false;
  for (const m of members) {
    const args = [
      ...process.execArgv,
      process.argv[1]!,
      "--name",
      m.name,
      "--initial-cluster",
      initial,
      "--listen-peer",
      m.peer,
      "--listen-client",
      m.client,
      "--data-dir",
      resolve(f.dataDir, m.name),
      "--snapshot-count",
      String(f.snapshotCount),
      "--log-level",
      f.logLevel,
    ];
    if (f.unsafeNoFsync) args.push("--unsafe-no-fsync");
    const child = spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"] });
    child.on("exit", (code, signal) => {
      if (!exiting) {
        console.error(`member ${m.name} exited (${signal ?? code}); stopping the cluster`);
        stopAll(1);
      }
    });
    children.push(child);
  }
  const stopAll = (code: number) => {
    if (exiting) return;
    exiting = true;
    let left = children.filter((c) => c.exitCode === null && c.signalCode === null).length;
    if (left === 0) process.exit(code);
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      c.once("exit", () => {
        if (--left === 0) process.exit(code);
      });
      c.kill("SIGTERM");
    }
  };
  process.on("SIGINT", () => stopAll(0));
  process.on("SIGTERM", () => stopAll(0));
  console.log(`tsraft-kv: local cluster of ${f.size} members, data under ${resolve(f.dataDir)}`);
  for (const m of members) console.log(`  ${m.name}: client ${m.client}   dashboard ${m.client}/ui`);
  console.log(`Try:  curl -X PUT --data-binary hello ${members[0]!.client}/kv/greeting`);
  console.log(`      curl ${members[members.length - 1]!.client}/kv/greeting`);
  console.log("Press Ctrl-C to stop all members.");
}

export function buildProgram(): Command {
  const program = new Command("tsraft-kv")
    .description("A replicated key-value server on etcd's raft (tsraft): run one member of a cluster.")
    .showHelpAfterError()
    .enablePositionalOptions()
    .option("--name <name>", "this member's name (must appear in --initial-cluster)")
    .option(
      "--id <n>",
      "raftexample style: this member is the n-th of --initial-cluster (IDs 1..N)",
      positiveInt("--id"),
    )
    .option(
      "--initial-cluster <list>",
      "members of a new cluster: name=peerURL,... (or peerURL,... with --id)",
      parseInitialCluster,
    )
    .option(
      "--cluster-token <token>",
      "distinguishes clusters started from the same member list",
      memberDefaults.clusterToken,
    )
    .option(
      "--listen-peer <url>",
      "URL the peer (raft) server listens on",
      url("--listen-peer"),
      "http://127.0.0.1:2380",
    )
    .option(
      "--listen-client <url>",
      "URL the client API listens on",
      url("--listen-client"),
      "http://127.0.0.1:2379",
    )
    .option(
      "--advertise-peer <url>",
      "peer URL other members dial (default: --listen-peer)",
      url("--advertise-peer"),
    )
    .option(
      "--advertise-client <url>",
      "client URL advertised (default: --listen-client)",
      url("--advertise-client"),
    )
    .option("--data-dir <dir>", "where the WAL and snapshots live (default: <name>.tsraft)")
    .option("--join <clientURL>", "join a running cluster through one of its members' client URL")
    .option("--learner", "with --join: join as a learner (promote later with POST /members/<id>/promote)")
    .option(
      "--snapshot-count <n>",
      "entries between snapshots",
      positiveInt("--snapshot-count"),
      memberDefaults.snapshotCount,
    )
    .option(
      "--snapshot-catch-up-entries <n>",
      "entries kept after a snapshot for slow followers (default: min(5000, snapshot-count/2))",
      positiveInt("--snapshot-catch-up-entries"),
    )
    .option("--tick-ms <ms>", "raft tick interval", positiveInt("--tick-ms"), memberDefaults.tickMs)
    .option(
      "--election-ticks <n>",
      "ticks without a leader before an election",
      positiveInt("--election-ticks"),
      10,
    )
    .option(
      "--max-key-bytes <n>",
      "largest key accepted",
      positiveInt("--max-key-bytes"),
      defaultLimits.maxKeyBytes,
    )
    .option(
      "--max-value-bytes <n>",
      "largest value accepted",
      positiveInt("--max-value-bytes"),
      defaultLimits.maxValueBytes,
    )
    .option(
      "--request-timeout <ms>",
      "time a write or read may wait before 504",
      positiveInt("--request-timeout"),
      5000,
    )
    .option("--peer-cert-file <file>", "TLS certificate for peer traffic")
    .option("--peer-key-file <file>", "TLS key for peer traffic")
    .option("--peer-trusted-ca-file <file>", "CA verifying peers (enables client-certificate checks)")
    .option("--peer-client-cert-auth", "require client certificates from peers")
    .option("--client-cert-file <file>", "TLS certificate for the client API (with an https --listen-client)")
    .option("--client-key-file <file>", "TLS key for the client API")
    .option("--client-trusted-ca-file <file>", "CA verifying API clients")
    .option("--client-cert-auth", "require client certificates from API clients")
    .addOption(
      new Option("--log-level <level>", "log level")
        .choices(["debug", "info", "warn", "error"])
        .default("warn"),
    )
    .option(
      "--unsafe-no-fsync",
      "skip fdatasync (testing only: acknowledged writes can be lost on power failure)",
    )
    .action(async (opts: MemberFlags) => {
      await runMember(opts);
    });

  program
    .command("cluster")
    .description("run a local cluster of several members as child processes (Ctrl-C stops them all)")
    .option("--size <n>", "number of members", positiveInt("--size"), 3)
    .option("--data-dir <dir>", "parent directory of the members' data", "./data")
    .option(
      "--base-port <port>",
      "client port of m1; member i uses base+10(i-1) (client) and +1 (peer)",
      positiveInt("--base-port"),
      2379,
    )
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option(
      "--snapshot-count <n>",
      "entries between snapshots",
      positiveInt("--snapshot-count"),
      memberDefaults.snapshotCount,
    )
    .addOption(
      new Option("--log-level <level>", "log level")
        .choices(["debug", "info", "warn", "error"])
        .default("warn"),
    )
    .option("--unsafe-no-fsync", "skip fdatasync (testing only)")
    .action(async (opts: ClusterFlags) => {
      await runCluster(opts);
    });
  return program;
}

if (isMainModule(import.meta.url)) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      if (err instanceof KvConfigError) {
        console.error(`tsraft-kv: ${err.message}`);
        process.exit(2);
      }
      console.error(`tsraft-kv: ${(err as Error).stack ?? err}`);
      process.exit(1);
    });
}
