// One tsraft-kv member: the replicated key-value store as a state machine on
// the host (src/host: raft, WAL, snapshots, transport, request tracking,
// reads, membership), plus the client HTTP API, the dashboard and metrics.

import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { Gauge, Histogram } from "prom-client";
import {
  Host,
  HostError,
  HostErrorCode,
  type MemberInfo as HostMemberInfo,
  type HostStatus,
  hexId,
} from "../host/index.ts";
import { DefaultLogger, type Logger, LogLevel } from "../raft/index.ts";
import type { PeerTlsOptions } from "../rafthttp/index.ts";
import { parseHexId } from "../raftpb/index.ts";
import { type ApplyResult, Command, encodeCommand, Op } from "./command.ts";
import { DashboardHub } from "./dashboard/hub.ts";
import { KvConfigError, KvError, KvErrorCode } from "./errors.ts";
import { type ApiLimits, createClientHandler } from "./http_api.ts";
import { KvStateMachine } from "./state_machine.ts";
import { KvStore } from "./store.ts";
import type {
  FollowerProgress,
  KvBackend,
  MemberInfo,
  ReadOptions,
  ServerStatus,
  WriteOptions,
  WriteResult,
} from "./types.ts";

export interface InitialMember {
  name: string;
  peerURLs: string[];
  clientURLs?: string[];
}

export interface MemberConfig {
  name: string;
  dataDir: string;
  /** The members of a new cluster (ignored once the data directory exists). */
  initialCluster: InitialMember[];
  /** Distinguishes clusters started from the same member list (etcd's --initial-cluster-token). */
  clusterToken: string;
  /** Client URL of a running member: join that cluster as a new member (first start only). */
  join?: string;
  /** Join as a learner (with `join`). */
  joinAsLearner?: boolean;
  /** Where the peer (rafthttp) server listens, and what other members dial. */
  listenPeerURL: string;
  advertisePeerURLs?: string[];
  /** Where the client API listens, and what is advertised to others. */
  listenClientURL: string;
  advertiseClientURLs?: string[];
  /** Take a snapshot (and compact the log) every this many applied entries. */
  snapshotCount: number;
  /** Entries kept behind a snapshot so that slow followers catch up from the log. */
  snapshotCatchUpEntries: number;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  limits: ApiLimits;
  /** TLS for the peer transport (https peer URLs). */
  peerTls?: PeerTlsOptions;
  /** TLS for the client API (https client URL). */
  clientTls?: { certFile: string; keyFile: string; trustedCAFile?: string; clientCertAuth?: boolean };
  logger?: Logger;
  /** Skip fdatasync (tests and benchmarks only: acknowledged writes may be lost on power failure). */
  unsafeNoFsync?: boolean;
}

export const memberDefaults = {
  snapshotCount: 100_000, // etcd's default
  snapshotCatchUpEntries: 5_000,
  tickMs: 100,
  electionTicks: 10,
  heartbeatTicks: 1,
  clusterToken: "tsraft-kv",
};

/** A leader change, for the dashboard's timeline. */
export interface LeaderEvent {
  at: number;
  term: number;
  leader: string;
}

const enc = new TextEncoder();

export class KvMember implements KvBackend {
  readonly cfg: MemberConfig;
  readonly logger: Logger;
  readonly store = new KvStore();
  readonly host: Host<ApplyResult>;
  /** Settles once the member has stopped, whoever stopped it (e.g. it was removed from the cluster). */
  readonly done: Promise<void>;
  readonly leaderEvents: LeaderEvent[] = [];
  /** Timestamps (ms) and latencies (s) of recent writes, for the dashboard. */
  readonly recentWrites: Array<{ at: number; seconds: number }> = [];
  clientURL = "";
  private clientServer: Server | null = null;
  private stopping: Promise<void> | null = null;
  private readonly requestDuration: Histogram;
  /** The web dashboard at /ui (idle until a browser connects). */
  private readonly dashboard = new DashboardHub(this);

  constructor(cfg: MemberConfig) {
    this.cfg = cfg;
    this.logger = cfg.logger ?? new DefaultLogger(LogLevel.Warn);
    this.host = new Host<ApplyResult>({
      name: cfg.name,
      dataDir: cfg.dataDir,
      stateMachine: new KvStateMachine(this.store),
      initialCluster: cfg.initialCluster.map((m) => ({ name: m.name, peerURLs: m.peerURLs })),
      initialClusterToken: cfg.clusterToken,
      initialClusterState: cfg.join !== undefined ? "existing" : "new",
      listenPeerURL: cfg.listenPeerURL,
      advertisePeerURLs: cfg.advertisePeerURLs,
      advertiseClientURLs: cfg.advertiseClientURLs,
      tickMs: cfg.tickMs,
      electionTicks: cfg.electionTicks,
      heartbeatTicks: cfg.heartbeatTicks,
      snapshot: { count: cfg.snapshotCount, catchUpEntries: cfg.snapshotCatchUpEntries },
      peerTls: cfg.peerTls,
      logger: this.logger,
      unsafeNoFsync: cfg.unsafeNoFsync,
    });
    const registers = [this.host.metrics.registry];
    this.requestDuration = new Histogram({
      name: "tsraft_kv_request_duration_seconds",
      help: "Client API request latencies by operation and status code.",
      labelNames: ["op", "code"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    const store = this.store;
    new Gauge({
      name: "tsraft_kv_keys",
      help: "Number of keys in the store.",
      registers,
      collect() {
        this.set(store.size);
      },
    });
    this.host.on("leader", (leader, term) => {
      this.leaderEvents.push({ at: Date.now(), term, leader: hexId(leader) });
      if (this.leaderEvents.length > 200) this.leaderEvents.splice(0, this.leaderEvents.length - 200);
    });
    this.done = this.host.done;
  }

  get id(): bigint {
    return this.host.id;
  }

  get clusterId(): bigint {
    return this.host.clusterId;
  }

  get peerURL(): string {
    return this.host.peerURL;
  }

  // ------------------------------------------------------------------ lifecycle

  /**
   * Binds the client listener, then starts the host (which binds the peer
   * listener before it touches the data directory): a port in use leaves
   * the directory as it was.
   */
  async start(): Promise<void> {
    const cfg = this.cfg;
    if (cfg.join === undefined && !cfg.initialCluster.some((m) => m.name === cfg.name)) {
      throw new KvConfigError(`--name ${JSON.stringify(cfg.name)} is not in --initial-cluster`);
    }
    await this.listenClient(this.cfg.listenClientURL);
    try {
      if (this.cfg.join !== undefined) await this.prepareJoin(this.cfg.join);
      await this.host.start();
    } catch (err) {
      await this.closeClientServer(0);
      throw toConfigError(err);
    }
    this.host.done.then(
      () => void this.stop(),
      () => void this.stop(),
    );
  }

  /**
   * Graceful shutdown: stop accepting requests, let in-flight ones finish
   * (bounded), then stop the host (raft, transport, WAL).
   */
  stop(): Promise<void> {
    if (this.stopping === null) {
      this.stopping = (async () => {
        this.dashboard.close(); // ends the dashboard's event streams so the server can close at once
        await this.closeClientServer(2000);
        await this.host.stop();
      })();
    }
    return this.stopping;
  }

  /** Asks a running cluster (through any member's client URL) to add this member, then starts as it. */
  private async prepareJoin(url: string): Promise<void> {
    const peerURLs = this.cfg.advertisePeerURLs ?? [this.cfg.listenPeerURL];
    const clientURLs = this.cfg.advertiseClientURLs ?? [this.clientURL];
    const joined = await joinCluster(
      url,
      this.cfg.name,
      peerURLs,
      clientURLs,
      this.cfg.joinAsLearner === true,
    );
    this.host.cfg.existingMembership = joined;
  }

  private async listenClient(u: string): Promise<void> {
    const url = new URL(u);
    const https = url.protocol === "https:";
    const handler = createClientHandler(this, this.cfg.limits);
    let server: Server;
    if (https) {
      const t = this.cfg.clientTls;
      if (t === undefined)
        throw new KvConfigError("an https client URL needs --client-cert-file and --client-key-file");
      const { readFileSync } = await import("node:fs");
      server = createHttpsServer(
        {
          cert: readFileSync(t.certFile),
          key: readFileSync(t.keyFile),
          ca: t.trustedCAFile ? readFileSync(t.trustedCAFile) : undefined,
          requestCert: t.clientCertAuth === true,
          rejectUnauthorized: t.clientCertAuth === true,
        },
        handler,
      );
    } else {
      server = createHttpServer(handler);
    }
    server.keepAliveTimeout = 30_000;
    const port = Number(url.port || (https ? 443 : 80));
    try {
      const addr = await new Promise<AddressInfo>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, url.hostname, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      });
      this.clientServer = server;
      this.clientURL = `${https ? "https" : "http"}://${url.hostname}:${addr.port}`;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new HostError(
        HostErrorCode.Listen,
        e.code === "EADDRINUSE"
          ? `client URL ${u}: port ${port} is already in use`
          : `client URL ${u}: cannot listen: ${e.message}`,
        { cause: err },
      );
    }
    // Members learn each other's client URLs through the host's published attributes.
    if (this.cfg.advertiseClientURLs === undefined) this.host.cfg.advertiseClientURLs = [this.clientURL];
  }

  private closeClientServer(graceMs: number): Promise<void> {
    const server = this.clientServer;
    this.clientServer = null;
    if (server === null) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), graceMs).unref();
    });
  }

  // ------------------------------------------------------------------ KvBackend

  private async write(op: Op, key: string, value: Uint8Array, opts: WriteOptions): Promise<WriteResult> {
    if (this.stopping !== null) throw new KvError(KvErrorCode.Stopped, 503, "member is stopping");
    const c = new Command(op, enc.encode(key), value, opts.expectedRevision ?? -1);
    const t0 = performance.now();
    let r: ApplyResult;
    try {
      r = await this.host.propose(encodeCommand(c), { signal: opts.signal });
    } catch (err) {
      throw toKvError(err);
    }
    const seconds = (performance.now() - t0) / 1000;
    this.recentWrites.push({ at: Date.now(), seconds });
    if (this.recentWrites.length > 20_000) this.recentWrites.splice(0, 10_000);
    if (r.ok) return { revision: r.revision, prevRevision: r.prevRevision };
    if (r.error === "REVISION_MISMATCH") {
      throw new KvError(
        KvErrorCode.RevisionMismatch,
        412,
        `revision mismatch: the key's mod revision is ${r.prevRevision}`,
      );
    }
    if (r.error === "BAD_COMMAND")
      throw new KvError(KvErrorCode.Internal, 500, "the command could not be decoded");
    throw new KvError(KvErrorCode.NotFound, 404, "key not found");
  }

  put(key: string, value: Uint8Array, opts: WriteOptions): Promise<WriteResult> {
    return this.write(Op.Put, key, value, opts);
  }

  delete(key: string, opts: WriteOptions): Promise<WriteResult> {
    return this.write(Op.Delete, key, new Uint8Array(0), opts);
  }

  private async barrier(opts: ReadOptions): Promise<void> {
    if (this.stopping !== null) throw new KvError(KvErrorCode.Stopped, 503, "member is stopping");
    try {
      await this.host.barrier({
        consistency: opts.linearizable ? "linearizable" : "serializable",
        signal: opts.signal,
      });
    } catch (err) {
      throw toKvError(err);
    }
  }

  async get(key: string, opts: ReadOptions): Promise<{ kv: ReturnType<KvStore["get"]>; revision: number }> {
    await this.barrier(opts);
    return { kv: this.store.get(key), revision: this.store.revision };
  }

  async range(prefix: string, limit: number, opts: ReadOptions) {
    await this.barrier(opts);
    return { kvs: this.store.range(prefix, limit), revision: this.store.revision };
  }

  members(): MemberInfo[] {
    return this.host.members();
  }

  clusterIdHex(): string {
    return hexId(this.host.clusterId);
  }

  async addMember(
    peerURLs: string[],
    opts: { name?: string; learner: boolean; clientURLs?: string[] },
  ): Promise<MemberInfo> {
    try {
      return await this.host.addMember(peerURLs, opts);
    } catch (err) {
      throw toKvError(err);
    }
  }

  async removeMember(id: bigint): Promise<void> {
    try {
      await this.host.removeMember(id);
    } catch (err) {
      throw toKvError(err);
    }
  }

  async promoteMember(id: bigint): Promise<void> {
    try {
      await this.host.promoteMember(id);
    } catch (err) {
      if (err instanceof HostError && err.code === HostErrorCode.NotLeader) {
        await this.forwardToLeader(err.leaderId, `/members/${hexId(id)}/promote`);
        return;
      }
      throw toKvError(err);
    }
  }

  async transferLeader(to: bigint, signal?: AbortSignal): Promise<void> {
    try {
      await this.host.transferLeader(to, { signal });
    } catch (err) {
      if (err instanceof HostError && err.code === HostErrorCode.NotLeader) {
        await this.forwardToLeader(err.leaderId, `/leader/transfer?to=${hexId(to)}`, signal);
        return;
      }
      throw toKvError(err);
    }
  }

  /** Only the leader can do some things (promote, transfer): ask it through its client URL. */
  private async forwardToLeader(leader: bigint, path: string, signal?: AbortSignal): Promise<void> {
    const url = this.host.members().find((m) => m.id === leader)?.clientURLs[0];
    if (url === undefined) throw new KvError(KvErrorCode.NoLeader, 503, "the leader's client URL is unknown");
    const res = await fetch(`${url}${path}`, { method: "POST", signal });
    if (!res.ok) throw new KvError(KvErrorCode.Internal, res.status, `leader refused: ${await res.text()}`);
  }

  status(): ServerStatus {
    const st: HostStatus = this.host.status();
    const progress: FollowerProgress[] | undefined = st.progress?.map((p) => ({ ...p, id: hexId(p.id) }));
    return {
      id: hexId(st.id),
      name: this.cfg.name,
      leader: hexId(st.leader),
      term: st.term,
      vote: hexId(st.vote),
      commit: st.commit,
      applied: st.applied,
      revision: this.store.revision,
      raftState: st.raftState,
      isLearner: st.isLearner,
      progress,
      members: st.members.map((m) => ({ ...m, id: hexId(m.id) })),
      keys: this.store.size,
      snapshotIndex: st.snapshotIndex,
    };
  }

  serveDashboard(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse): boolean {
    return this.dashboard.handle(req, res);
  }

  unhealthyReason(): string | null {
    if (this.stopping !== null) return "stopping";
    return this.host.unhealthyReason();
  }

  observeRequest(op: string, status: number, seconds: number): void {
    this.requestDuration.observe({ op, code: String(status) }, seconds);
  }

  metricsText(): Promise<string> {
    return this.host.metrics.registry.metrics();
  }
}

function toKvError(err: unknown): Error {
  if (err instanceof KvError) return err;
  if (!(err instanceof HostError)) return err instanceof Error ? err : new Error(String(err));
  switch (err.code) {
    case HostErrorCode.NoLeader:
    case HostErrorCode.NotLeader:
      return new KvError(KvErrorCode.NoLeader, 503, err.message);
    case HostErrorCode.ProposalDropped:
      return new KvError(KvErrorCode.ProposalDropped, 503, err.message);
    case HostErrorCode.Timeout:
      return new KvError(KvErrorCode.Timeout, 504, err.message);
    case HostErrorCode.Stopped:
      return new KvError(KvErrorCode.Stopped, 503, err.message);
    case HostErrorCode.MemberExists:
      return new KvError(KvErrorCode.MemberExists, 409, err.message);
    case HostErrorCode.MemberNotFound:
      return new KvError(KvErrorCode.MemberNotFound, 404, err.message);
    case HostErrorCode.UnsafeReconfiguration:
    case HostErrorCode.LastVoter:
    case HostErrorCode.ConfChangeInFlight:
      return new KvError(KvErrorCode.UnsafeReconfiguration, 409, err.message);
    case HostErrorCode.LearnerNotReady:
      return new KvError(KvErrorCode.LearnerNotReady, 412, err.message);
    case HostErrorCode.NotLearner:
    case HostErrorCode.InvalidArgument:
      return new KvError(KvErrorCode.BadRequest, 400, err.message);
    default:
      return new KvError(KvErrorCode.Internal, 500, err.message);
  }
}

/** Start-up failures of the host become one-line configuration errors for the CLI. */
function toConfigError(err: unknown): Error {
  if (err instanceof HostError || err instanceof KvError) return new KvConfigError(err.message, err.code);
  if (err instanceof KvConfigError) return err;
  return err instanceof Error ? err : new Error(String(err));
}

interface MemberJson {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/** Asks a running cluster (through any member's client URL) to add this member. */
async function joinCluster(
  url: string,
  name: string,
  peerURLs: string[],
  clientURLs: string[],
  learner: boolean,
): Promise<{ id: bigint; clusterId: bigint; members: HostMemberInfo[] }> {
  type Answer = {
    member?: MemberJson;
    members?: MemberJson[];
    clusterId?: string;
    message?: string;
    code?: string;
  };
  let res: Response;
  let body: Answer;
  // A cluster that just had a member restart refuses new voters until it
  // hears from a quorum again (strict reconfiguration): retry for a while.
  const until = Date.now() + 20_000;
  for (;;) {
    try {
      res = await fetch(`${url.replace(/\/$/, "")}/members`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name, peerURLs, clientURLs, learner }),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      throw new KvConfigError(`joining through ${url} failed: ${(err as Error).message}`);
    }
    body = (await res.json().catch(() => ({}))) as Answer;
    const retryable =
      (res.status === 409 && body.code === KvErrorCode.UnsafeReconfiguration) ||
      (res.status === 503 && body.code === KvErrorCode.NoLeader);
    if (!retryable || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (res.status === 409 && body.code === "MEMBER_EXISTS") {
    // Added already (e.g. from the dashboard or POST /members): become that member.
    const list = (await (await fetch(`${url.replace(/\/$/, "")}/members`)).json()) as {
      members: MemberJson[];
      clusterId: string;
    };
    const me = list.members.find((m) => m.peerURLs.some((u) => peerURLs.includes(u)));
    if (me !== undefined) body = { member: me, members: list.members, clusterId: list.clusterId };
  } else if (!res.ok) {
    throw new KvConfigError(`joining through ${url} failed: ${body.message ?? res.status}`);
  }
  if (body.member === undefined || body.members === undefined || body.clusterId === undefined) {
    throw new KvConfigError(`joining through ${url} failed: ${body.message ?? res.status}`);
  }
  return {
    id: parseHexId(body.member.id),
    clusterId: parseHexId(body.clusterId),
    members: body.members.map((m) => ({ ...m, id: parseHexId(m.id) })),
  };
}
