// `tsraft-kv [flags]`: one member of a cluster, run as a server process.
//
// Configuration comes from src/config (etcd's flag names, the old tsraft-kv
// names as aliases, TSRAFT_ variables, a YAML --config-file); logs go
// through src/log (JSON lines, or human-readable on a terminal), raft's and
// the host's included.
//
// The process contract, for operators and supervisors:
//   * Every fatal end is a non-zero exit status (src/config's ExitCode:
//     1 fatal while running, 2 bad configuration, 3 port in use, 4 data dir
//     locked, 5 foreign data dir, 6 damaged data, 7 removed from the
//     cluster) and one line on stderr, `tsraft-kv: <reason>`; a stack trace
//     only with --log-level debug. When logs are JSON (or go to a file) the
//     same reason is also a "fatal" log record with the exit code.
//   * Listeners are bound before the data directory is touched (KvMember
//     binds the client listener, then the host its peer listener, then opens
//     the data directory; the metrics listener is bound before either), so a
//     port in use leaves no trace and a retry on a free port works.
//   * SIGTERM / SIGINT stop gracefully (in-flight requests get up to 2 s)
//     and exit 0; if that takes over 10 s the process exits 1. A member
//     started by `tsraft-kv cluster` (with an IPC channel) also stops when
//     its supervisor goes away, so a killed supervisor leaves no orphans.

import type { Server } from "node:http";
import {
  ConfigError,
  configHelp,
  ExitCode,
  type LoadResult,
  loadConfig,
  type MemberConfiguration,
} from "../config/index.ts";
import { defaultLimits, KvMember, type MemberConfig } from "../kv/index.ts";
import { createLogger, type Log } from "../log/index.ts";
import type { Logger } from "../raft/index.ts";
import { ComponentLogger } from "./component_logger.ts";
import { describeError, exitStatusOf } from "./exit_status.ts";
import { listenMetrics } from "./metrics_listener.ts";
import { versionText } from "./version.ts";

/** How long a graceful stop may take before the process gives up and exits 1. */
export const STOP_DEADLINE_MS = 10_000;

/** Where the member command writes --help, --version and its one-line errors (tests capture it). */
export interface CommandIo {
  /** Normal output. */
  stdout(text: string): void;
  /** Error output. */
  stderr(text: string): void;
}

const processIo: CommandIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

const CLUSTER_HELP_HINT = `
Local cluster:
  tsraft-kv cluster [--size N] [--data-dir DIR] [--base-port P] [--no-tls] [-- member flags]
      runs and supervises N members on this machine (see tsraft-kv cluster --help)

Snapshots (files that etcdctl snapshot save wrote from a member):
  tsraft-kv snapshot status FILE [-w simple|table|json]
  tsraft-kv snapshot restore FILE --name N --initial-cluster ... [--initial-cluster-token T] [--data-dir D]
      writes a new member's data directory from FILE (see tsraft-kv snapshot --help)
`;

/** KvMember's configuration from the validated member configuration. */
export function memberConfigFor(c: MemberConfiguration, logger: Logger): MemberConfig {
  const cfg: MemberConfig = {
    name: c.name,
    dataDir: c.dataDir,
    initialCluster: c.initialCluster.map((m) => ({ name: m.name, peerURLs: [...m.peerURLs] })),
    clusterToken: c.initialClusterToken,
    listenPeerURL: c.listenPeerUrls[0]!,
    advertisePeerURLs: [...c.initialAdvertisePeerUrls],
    listenClientURL: c.listenClientUrls[0]!,
    advertiseClientURLs: [...c.advertiseClientUrls],
    snapshotCount: c.snapshotCount,
    snapshotCatchUpEntries: c.snapshotCatchUpEntries,
    tickMs: c.tickMs,
    electionTicks: c.electionTicks,
    heartbeatTicks: c.heartbeatTicks,
    limits: {
      ...defaultLimits,
      maxKeyBytes: c.maxKeyBytes,
      maxValueBytes: c.maxValueBytes,
      requestTimeoutMs: c.requestTimeoutMs,
    },
    logger,
    unsafeNoFsync: c.unsafeNoFsync,
  };
  if (c.join !== undefined) {
    cfg.join = c.join;
    cfg.joinAsLearner = c.joinAsLearner;
  }
  cfg.initialClusterState = c.initialClusterState;
  cfg.strictReconfigCheck = c.strictReconfigCheck;
  if (c.forceNewCluster) cfg.forceNewCluster = true;
  if (c.peerTls !== undefined) cfg.peerTls = { ...c.peerTls };
  if (c.clientTls !== undefined) {
    cfg.clientTls = {
      certFile: c.clientTls.certFile,
      keyFile: c.clientTls.keyFile,
      clientCertAuth: c.clientTls.clientCertAuth,
    };
    if (c.clientTls.trustedCAFile !== undefined) cfg.clientTls.trustedCAFile = c.clientTls.trustedCAFile;
  }
  return cfg;
}

/** Settings that are accepted but change nothing yet: a warning each, so none passes silently. */
function inertSettings(c: MemberConfiguration): string[] {
  const out: string[] = [];
  if (c.metrics === "extensive")
    out.push("--metrics extensive: tsraft-kv has no extra metrics yet; basic ones");
  if (c.clientTls?.minVersion !== undefined || c.clientTls?.maxVersion !== undefined) {
    out.push(
      "--tls-min-version/--tls-max-version apply to peer traffic only; the client API uses Node's defaults",
    );
  }
  return out;
}

/** Whether log lines are human-readable on the stream the fatal line goes to (then one line suffices). */
function logsAreConsoleOnStderr(c: MemberConfiguration): boolean {
  if (c.logOutput !== "stderr") return false;
  return c.logFormat === "console" || (c.logFormat === "auto" && process.stderr.isTTY === true);
}

/**
 * Runs one member until it stops; resolves with the exit status. Installs
 * process-wide handlers (signals, uncaught errors, warnings): meant for the
 * process's main module.
 */
export async function runMemberCommand(
  argv: readonly string[],
  opts: { io?: CommandIo; env?: Readonly<Record<string, string | undefined>>; cwd?: string } = {},
): Promise<number> {
  const io = opts.io ?? processIo;
  let loaded: LoadResult;
  try {
    loaded = loadConfig({
      argv,
      ...(opts.env !== undefined ? { env: opts.env } : {}),
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
  } catch (err) {
    io.stderr(`tsraft-kv: ${describeError(err)}\n`);
    return err instanceof ConfigError ? ExitCode.BadConfig : exitStatusOf(err);
  }
  if (loaded.action === "help") {
    io.stdout(configHelp("tsraft-kv") + CLUSTER_HELP_HINT);
    return ExitCode.Ok;
  }
  if (loaded.action === "version") {
    io.stdout(versionText("tsraft-kv"));
    return ExitCode.Ok;
  }
  const c = loaded.config;
  const debug = c.logLevel === "debug";

  let log: Log;
  try {
    log = createLogger({ member: c.name, level: c.logLevel, format: c.logFormat, output: c.logOutput });
  } catch (err) {
    io.stderr(`tsraft-kv: ${describeError(err, debug)}\n`);
    return exitStatusOf(err);
  }
  if (debug) process.setSourceMapsEnabled(true);
  const main = log.child("main");
  const quietFatal = logsAreConsoleOnStderr(c);

  /** Ends with one line: the exit status to return. */
  const fatal = (err: unknown, status: number = exitStatusOf(err)): number => {
    const text = describeError(err, debug);
    // Held-back repeats first, so that the fatal record is the last line.
    log.flushSuppressed();
    if (!quietFatal) {
      const code =
        (err as { reason?: unknown; code?: unknown } | null)?.reason ?? (err as { code?: unknown })?.code;
      main.fatal(text.split("\n")[0]!, { exitCode: status, ...(typeof code === "string" ? { code } : {}) });
    }
    io.stderr(`tsraft-kv: ${text}\n`);
    return status;
  };

  process.on("uncaughtException", (err) => process.exit(fatal(err, ExitCode.Fatal)));
  process.on("unhandledRejection", (err) => process.exit(fatal(err, ExitCode.Fatal)));
  // Node prints process warnings as raw text; make them log lines (a repeated warning once a minute).
  process.removeAllListeners("warning");
  process.on("warning", (w: Error & { code?: string }) => {
    log
      .child("node")
      .warn(`${w.name}: ${w.message.split("\n")[0]}`, w.code !== undefined ? { code: w.code } : {}, {
        key: `${w.name}:${w.code ?? w.message.slice(0, 40)}`,
        everyMs: 60_000,
      });
  });

  for (const w of loaded.warnings) main.warn(w, {}, { everyMs: 0 });
  for (const w of inertSettings(c)) main.warn(w, {}, { everyMs: 0 });

  let stopRequest: string | null = null;
  let wake: (() => void) | null = null;
  let started = false;
  const requestStop = (why: string) => {
    if (stopRequest !== null) {
      // A second request while still starting (a join may wait for the cluster): do not make the
      // operator wait. Nothing is half-written: the WAL is safe to abandon at any point.
      if (!started)
        process.exit(fatal(new Error(`${why} again while starting; exiting at once`), ExitCode.Fatal));
      return;
    }
    stopRequest = why;
    main.info("stopping", { why });
    wake?.();
  };
  process.on("SIGINT", () => requestStop("SIGINT"));
  process.on("SIGTERM", () => requestStop("SIGTERM"));
  if (process.channel !== undefined) {
    // Started by `tsraft-kv cluster`: the IPC channel closes when the supervisor is gone.
    process.on("disconnect", () => requestStop("the supervisor went away"));
    process.channel.unref();
  }

  let member: KvMember;
  try {
    member = new KvMember(memberConfigFor(c, new ComponentLogger(log)));
  } catch (err) {
    return fatal(err);
  }
  let removed = false;
  member.host.on("removed", () => {
    removed = true;
  });

  let metricsServer: Server | null = null;
  try {
    for (const u of c.listenMetricsUrls) {
      const tls =
        c.clientTls !== undefined
          ? { certFile: c.clientTls.certFile, keyFile: c.clientTls.keyFile }
          : undefined;
      metricsServer = (await listenMetrics(u, tls, () => (started ? member : null))).server;
    }
    main.info("starting", {
      dataDir: c.dataDir,
      listenPeer: c.listenPeerUrls[0],
      listenClient: c.listenClientUrls[0],
      initialClusterState: c.initialClusterState,
      ...(c.configFile !== undefined ? { configFile: c.configFile } : {}),
    });
    await member.start();
    started = true;
  } catch (err) {
    metricsServer?.close();
    return fatal(err);
  }
  const cpu = process.cpuUsage();
  main.info("serving", {
    // Since the process started: wall time and CPU time, to see what a start costs.
    startupMs: Math.round(performance.now()),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    id: member.id.toString(16),
    cluster: member.clusterId.toString(16),
    clientURL: member.clientURL,
    peerURL: member.peerURL,
    dashboard: `${member.clientURL}/ui`,
  });

  type Outcome = { kind: "stop" } | { kind: "done" } | { kind: "failed"; err: unknown };
  const outcome = await new Promise<Outcome>((resolve) => {
    wake = () => resolve({ kind: "stop" });
    member.done.then(
      () => resolve({ kind: "done" }),
      (err: unknown) => resolve({ kind: "failed", err }),
    );
    if (stopRequest !== null) resolve({ kind: "stop" });
  });

  const stopped = await stopWithin(member, STOP_DEADLINE_MS);
  metricsServer?.close();
  if (outcome.kind === "failed") return fatal(outcome.err);
  if (outcome.kind === "done") {
    if (removed) return fatal(new Error("this member was removed from the cluster"), ExitCode.Removed);
    return fatal(new Error("the member stopped by itself"), ExitCode.Fatal);
  }
  if (!stopped)
    return fatal(new Error(`graceful stop took over ${STOP_DEADLINE_MS} ms; exiting`), ExitCode.Fatal);
  main.info("stopped", { why: stopRequest });
  log.flushSuppressed();
  return ExitCode.Ok;
}

/** Stops the member; false if that took longer than `ms`. */
async function stopWithin(member: KvMember, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([
      member.stop().then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
