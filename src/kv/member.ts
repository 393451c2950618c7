// One tsraft-kv member: the replicated key-value store as a state machine on
// the host (src/host: raft, WAL, snapshots, transport, request tracking,
// reads, membership), plus the client HTTP API, the dashboard and metrics.

import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { Gauge, Histogram } from "prom-client";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  CompareSchema,
  create,
  DeleteRangeRequestSchema,
  type KeyValue as PbKeyValue,
  PutRequestSchema,
  RangeRequestSchema,
  RequestOpSchema,
  TxnRequestSchema,
} from "../etcdpb/index.ts";
import {
  Host,
  HostError,
  HostErrorCode,
  type MemberInfo as HostMemberInfo,
  type HostStatus,
  hasMemberData,
  hexId,
} from "../host/index.ts";
import { type ApplyResult, EtcdStateMachine, MvccError, prefixEnd } from "../mvcc/index.ts";
import { DefaultLogger, type Logger, LogLevel } from "../raft/index.ts";
import type { PeerTlsOptions } from "../rafthttp/index.ts";
import { parseHexId } from "../raftpb/index.ts";
import { GrpcCode, startV3Server, V3RpcError, type V3Server } from "../v3rpc/index.ts";
import { DashboardHub } from "./dashboard/index.ts";
import { KvConfigError, KvError, KvErrorCode } from "./errors.ts";
import { type ApiLimits, createClientHandler } from "./http_api.ts";
import type {
  FollowerProgress,
  KeyValue,
  KvBackend,
  MemberInfo,
  RangePage,
  ReadOptions,
  ServerStatus,
  WriteOptions,
  WriteResult,
} from "./types.ts";
import { HostV3Backend } from "./v3_backend.ts";

/** One member of the initial cluster (etcd's `--initial-cluster name=url,...`). */
export interface InitialMember {
  /** Its `--name`; the entry whose name equals `MemberConfig.name` is this member. */
  name: string;
  /** Its peer URLs; with the cluster token they determine its member ID. */
  peerURLs: string[];
  /** Its client URLs, when known (not used to derive IDs). */
  clientURLs?: string[];
}

/**
 * Configuration of a `KvMember` (etcd's member flags; the `tsraft-kv` command
 * line fills it in). Start from `memberDefaults` and `defaultLimits`.
 */
export interface MemberConfig {
  /** This member's name (etcd's --name); must be in `initialCluster` for a new cluster. */
  name: string;
  /** Data directory: WAL under `member/wal`, snapshots under `member/snap`, as etcd. */
  dataDir: string;
  /** The members of a new cluster (ignored once the data directory exists). */
  initialCluster: InitialMember[];
  /** Distinguishes clusters started from the same member list (etcd's --initial-cluster-token). */
  clusterToken: string;
  /** Client URL of a running member: join that cluster as a new member (first start only). */
  join?: string;
  /** Join as a learner (with `join`). */
  joinAsLearner?: boolean;
  /**
   * "existing" (without `join`): this member was added already; it finds its
   * ID and the membership at the other members' peer `/members` (etcd's
   * --initial-cluster-state existing). Default "new".
   */
  initialClusterState?: "new" | "existing";
  /** Refuse membership changes that would leave no quorum of live voters (default true, etcd's --strict-reconfig-check). */
  strictReconfigCheck?: boolean;
  /** Restart as the only member of the cluster, keeping committed data (etcd's --force-new-cluster). */
  forceNewCluster?: boolean;
  /** Where the peer (rafthttp) server listens, and what other members dial. */
  listenPeerURL: string;
  /** Peer URLs other members dial (default: the listen URL with its bound port). */
  advertisePeerURLs?: string[];
  /** Where the client API listens, and what is advertised to others. */
  listenClientURL: string;
  /** Client URLs published in the membership (default: the listen URL with its bound port). */
  advertiseClientURLs?: string[];
  /** Take a snapshot (and compact the log) every this many applied entries. */
  snapshotCount: number;
  /** Entries kept behind a snapshot so that slow followers catch up from the log. */
  snapshotCatchUpEntries: number;
  /** Milliseconds per raft tick (etcd's --heartbeat-interval). */
  tickMs: number;
  /** Ticks without a leader before an election (etcd's --election-timeout / --heartbeat-interval). */
  electionTicks: number;
  /** Ticks between heartbeats (less than electionTicks). */
  heartbeatTicks: number;
  /** Sizes and timeouts of the client API (`defaultLimits`). */
  limits: ApiLimits;
  /** TLS for the peer transport (https peer URLs). */
  peerTls?: PeerTlsOptions;
  /** TLS for the client API (https client URL). */
  clientTls?: { certFile: string; keyFile: string; trustedCAFile?: string; clientCertAuth?: boolean };
  /** Receives raft's, the host's and the server's log lines (default: warnings to the console). */
  logger?: Logger;
  /** Skip fdatasync (tests and benchmarks only: acknowledged writes may be lost on power failure). */
  unsafeNoFsync?: boolean;
}

/** Defaults of the MemberConfig fields that have one (etcd's, except the cluster token). */
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
  /** When this member learned of it (ms since the epoch). */
  at: number;
  /** The term of the new leader. */
  term: number;
  /** The new leader's ID in hex ("0": none). */
  leader: string;
}

const enc = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * One tsraft-kv member in this process: etcd's MVCC store as the state
 * machine of a Host, etcd's v3 API (gRPC and JSON gateway) and the REST API
 * on one client port, the dashboard at /ui. Construct, start(), stop();
 * `done` settles when it stops for any reason. Its KvBackend methods reject
 * with KvErrors (docs/kv.md has the table).
 */
export class KvMember implements KvBackend {
  /** The configuration as given. */
  readonly cfg: MemberConfig;
  /** The logger in use (the config's, or warnings to the console). */
  readonly logger: Logger;
  /** The replicated state: etcd's MVCC store, lessor and watchers. */
  readonly sm: EtcdStateMachine;
  /** The raft host this member runs on (status, membership, metrics registry). */
  readonly host: Host<ApplyResult>;
  /** The etcd v3 API backend (gRPC and JSON gateway) on the host. */
  readonly v3: HostV3Backend;
  /** Settles once the member has stopped, whoever stopped it (e.g. it was removed from the cluster). */
  readonly done: Promise<void>;
  /** The last 200 leader changes this member saw, oldest first. */
  readonly leaderEvents: LeaderEvent[] = [];
  /** Timestamps (ms) and latencies (s) of recent writes, for the dashboard. */
  readonly recentWrites: Array<{ at: number; seconds: number }> = [];
  /** The bound client URL (with the real port when the listen URL had port 0), set by start(). */
  clientURL = "";
  private server: V3Server | null = null;
  private stopping: Promise<void> | null = null;
  private readonly requestDuration: Histogram;
  /** The web dashboard at /ui (idle until a browser connects). */
  private readonly dashboard = new DashboardHub(this);

  constructor(cfg: MemberConfig) {
    this.cfg = cfg;
    this.logger = cfg.logger ?? new DefaultLogger(LogLevel.Warn);
    const electionMs = cfg.tickMs * cfg.electionTicks;
    // etcd's minimum lease TTL: 1.5 election timeouts, so a lease outlives a leader change.
    this.sm = new EtcdStateMachine({ minLeaseTtl: Math.ceil((1.5 * electionMs) / 1000) });
    this.host = new Host<ApplyResult>({
      name: cfg.name,
      dataDir: cfg.dataDir,
      stateMachine: this.sm,
      initialCluster: cfg.initialCluster.map((m) => ({ name: m.name, peerURLs: m.peerURLs })),
      initialClusterToken: cfg.clusterToken,
      initialClusterState: cfg.join !== undefined ? "existing" : (cfg.initialClusterState ?? "new"),
      strictReconfigCheck: cfg.strictReconfigCheck,
      forceNewCluster: cfg.forceNewCluster,
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
    this.v3 = new HostV3Backend(this.host, this.sm, electionMs);
    const registers = [this.host.metrics.registry];
    this.requestDuration = new Histogram({
      name: "tsraft_kv_request_duration_seconds",
      help: "Client API request latencies by operation and status code.",
      labelNames: ["op", "code"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    const sm = this.sm;
    new Gauge({
      name: "tsraft_kv_keys",
      help: "Number of keys in the store.",
      registers,
      collect() {
        this.set(sm.store.keyCount);
      },
    });
    new Gauge({
      name: "etcd_mvcc_db_total_size_in_bytes",
      help: "Total size of the underlying database in bytes (an estimate for the in-memory store).",
      registers,
      collect() {
        this.set(sm.store.bytesInUse);
      },
    });
    this.host.on("leader", (leader, term) => {
      this.leaderEvents.push({ at: Date.now(), term, leader: hexId(leader) });
      if (this.leaderEvents.length > 200) this.leaderEvents.splice(0, this.leaderEvents.length - 200);
    });
    this.done = this.host.done;
  }

  /** This member's ID (0n until start() resolved). */
  get id(): bigint {
    return this.host.id;
  }

  /** The cluster's ID (0n until start() resolved). */
  get clusterId(): bigint {
    return this.host.clusterId;
  }

  /** The bound peer URL (with the real port when the listen URL had port 0). */
  get peerURL(): string {
    return this.host.peerURL;
  }

  // ------------------------------------------------------------------ lifecycle

  /**
   * Binds the client listener (gRPC and HTTP on one port), then starts the
   * host, which binds the peer listener before it touches the data
   * directory: a port in use leaves the directory as it was.
   */
  async start(): Promise<void> {
    const cfg = this.cfg;
    if (
      cfg.join === undefined &&
      cfg.initialClusterState !== "existing" &&
      !cfg.initialCluster.some((m) => m.name === cfg.name)
    ) {
      throw new KvConfigError(`--name ${JSON.stringify(cfg.name)} is not in --initial-cluster`);
    }
    await this.listenClient(cfg.listenClientURL);
    try {
      // A restart (the data dir holds a log) is who its WAL says, and must not
      // need the cluster it would join to be up: after a full restart the
      // member named by --join may be starting too.
      if (cfg.join !== undefined && !hasMemberData(cfg.dataDir)) await this.prepareJoin(cfg.join);
      await this.host.start();
    } catch (err) {
      await this.server?.close();
      this.server = null;
      throw toConfigError(err);
    }
    this.v3.start();
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
        this.v3.close();
        const server = this.server;
        this.server = null;
        const closing = server?.close();
        await this.host.stop();
        await closing;
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
    const rest = createClientHandler(this, this.cfg.limits);
    let tls: import("node:tls").TlsOptions | undefined;
    if (https) {
      const t = this.cfg.clientTls;
      if (t === undefined)
        throw new KvConfigError(
          "an https client URL needs --cert-file and --key-file (etcd's client TLS flags)",
        );
      tls = {
        cert: readFileSync(t.certFile),
        key: readFileSync(t.keyFile),
        ca: t.trustedCAFile ? readFileSync(t.trustedCAFile) : undefined,
        requestCert: t.clientCertAuth === true,
        rejectUnauthorized: t.clientCertAuth === true,
      };
    }
    const port = Number(url.port || (https ? 443 : 80));
    try {
      this.server = await startV3Server({
        backend: this.v3,
        host: url.hostname,
        port,
        tls,
        health: () => this.unhealthyReason(),
        fallback: (req: IncomingMessage, res: ServerResponse) => rest(req, res),
      });
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
    this.clientURL = `${https ? "https" : "http"}://${url.hostname}:${this.server.port}`;
    // Members learn each other's client URLs through the host's published attributes.
    if (this.cfg.advertiseClientURLs === undefined) this.host.cfg.advertiseClientURLs = [this.clientURL];
  }

  // ------------------------------------------------------------------ KvBackend (the REST API)

  private services() {
    const s = this.server;
    if (s === null || this.stopping !== null)
      throw new KvError(KvErrorCode.Stopped, 503, "member is stopping");
    return s.services;
  }

  /**
   * A write through etcd's own requests: a plain put or delete, or, for
   * compare-and-swap, a Txn comparing the key's mod revision (an absent key
   * compares as 0), which reads the current one back when it fails.
   */
  private async write(key: string, value: Uint8Array | null, opts: WriteOptions): Promise<WriteResult> {
    const services = this.services();
    const k = enc.encode(key);
    const signal = opts.signal ?? AbortSignal.timeout(this.cfg.limits.requestTimeoutMs);
    const put = value === null ? null : create(PutRequestSchema, { key: k, value, prevKv: true });
    const del = create(DeleteRangeRequestSchema, { key: k, prevKv: true });
    const op = create(RequestOpSchema, {
      request: put !== null ? { case: "requestPut", value: put } : { case: "requestDeleteRange", value: del },
    });
    const t0 = performance.now();
    try {
      let revision: number;
      let prev: PbKeyValue | undefined;
      let deleted = 1;
      if (opts.expectedRevision === undefined) {
        if (put !== null) {
          const r = await services.put(put, signal);
          revision = Number(r.header!.revision);
          prev = r.prevKv;
        } else {
          const r = await services.deleteRange(del, signal);
          revision = Number(r.header!.revision);
          prev = r.prevKvs[0];
          deleted = Number(r.deleted);
        }
      } else {
        const r = await services.txn(
          create(TxnRequestSchema, {
            compare: [
              create(CompareSchema, {
                key: k,
                target: Compare_CompareTarget.MOD,
                result: Compare_CompareResult.EQUAL,
                targetUnion: { case: "modRevision", value: BigInt(opts.expectedRevision) },
              }),
            ],
            success: [op],
            failure: [
              create(RequestOpSchema, {
                request: { case: "requestRange", value: create(RangeRequestSchema, { key: k }) },
              }),
            ],
          }),
          signal,
        );
        if (!r.succeeded) {
          const cur =
            r.responses[0]?.response.case === "responseRange"
              ? r.responses[0].response.value.kvs[0]
              : undefined;
          const modRevision = Number(cur?.modRevision ?? 0n);
          throw new KvError(
            KvErrorCode.RevisionMismatch,
            412,
            `revision mismatch: the key's mod revision is ${modRevision}`,
            { modRevision, maybeApplied: false },
          );
        }
        revision = Number(r.header!.revision);
        const resp = r.responses[0]?.response;
        if (resp?.case === "responsePut") prev = resp.value.prevKv;
        else if (resp?.case === "responseDeleteRange") {
          prev = resp.value.prevKvs[0];
          deleted = Number(resp.value.deleted);
        }
      }
      if (deleted === 0) throw new KvError(KvErrorCode.NotFound, 404, "key not found");
      const seconds = (performance.now() - t0) / 1000;
      this.recentWrites.push({ at: Date.now(), seconds });
      if (this.recentWrites.length > 20_000) this.recentWrites.splice(0, 10_000);
      return { revision, prevRevision: Number(prev?.modRevision ?? 0n) };
    } catch (err) {
      const e = toKvError(err);
      if (!(e instanceof KvError) || "maybeApplied" in e.details) throw e;
      // Refused before raft took it (no leader, dropped) vs. timed out after.
      const maybe =
        e.code === KvErrorCode.Timeout || e.code === KvErrorCode.Stopped || e.code === KvErrorCode.Internal;
      throw new KvError(e.code, e.status, e.message, { ...e.details, maybeApplied: maybe });
    }
  }

  put(key: string, value: Uint8Array, opts: WriteOptions): Promise<WriteResult> {
    return this.write(key, value, opts);
  }

  delete(key: string, opts: WriteOptions): Promise<WriteResult> {
    return this.write(key, null, opts);
  }

  async get(key: string, opts: ReadOptions): Promise<{ kv: KeyValue | undefined; revision: number }> {
    const services = this.services();
    try {
      const r = await services.range(
        create(RangeRequestSchema, { key: enc.encode(key), serializable: !opts.linearizable }),
        opts.signal ?? AbortSignal.timeout(this.cfg.limits.requestTimeoutMs),
      );
      return {
        kv: r.kvs[0] === undefined ? undefined : restKv(r.kvs[0]),
        revision: Number(r.header!.revision),
      };
    } catch (err) {
      throw toKvError(err);
    }
  }

  async range(
    prefix: string,
    page: { limit: number; after?: string },
    opts: ReadOptions,
  ): Promise<RangePage> {
    const services = this.services();
    const p = enc.encode(prefix);
    // The empty prefix means every key: etcd's "\0" range end.
    const end = p.length === 0 ? new Uint8Array([0]) : prefixEnd(p);
    const from =
      page.after !== undefined
        ? Buffer.concat([enc.encode(page.after), Buffer.from([0])])
        : p.length === 0
          ? new Uint8Array([0])
          : p;
    try {
      const r = await services.range(
        create(RangeRequestSchema, {
          key: from,
          rangeEnd: end,
          limit: BigInt(page.limit),
          serializable: !opts.linearizable,
        }),
        opts.signal ?? AbortSignal.timeout(this.cfg.limits.requestTimeoutMs),
      );
      return { kvs: r.kvs.map(restKv), more: r.more, revision: Number(r.header!.revision) };
    } catch (err) {
      throw toKvError(err);
    }
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
    if (res.ok) return;
    // The leader's own answer, passed on as is (its code and status).
    const text = await res.text();
    let body: { code?: unknown; message?: unknown } = {};
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: reported below with the raw text
    }
    if (typeof body.code === "string" && typeof body.message === "string") {
      throw new KvError(body.code, res.status, `the leader answered: ${body.message}`);
    }
    throw new KvError(KvErrorCode.Internal, res.status, `the leader answered ${res.status}: ${text}`);
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
      revision: this.sm.rev,
      raftState: st.raftState,
      isLearner: st.isLearner,
      progress,
      members: st.members.map((m) => ({ ...m, id: hexId(m.id) })),
      keys: this.sm.store.keyCount,
      snapshotIndex: st.snapshotIndex,
    };
  }

  serveDashboard(req: IncomingMessage, res: ServerResponse): boolean {
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

/** A key as the REST API shows it (keys written through gRPC may be any bytes: those are refused there). */
function restKv(kv: PbKeyValue): KeyValue {
  let key: string;
  try {
    key = utf8.decode(kv.key);
  } catch {
    key = `base64:${Buffer.from(kv.key).toString("base64")}`;
  }
  return {
    key,
    value: kv.value,
    createRevision: Number(kv.createRevision),
    modRevision: Number(kv.modRevision),
    version: Number(kv.version),
    lease: kv.lease,
  };
}

function toKvError(err: unknown): Error {
  if (err instanceof KvError) return err;
  if (err instanceof V3RpcError) {
    switch (err.grpcCode) {
      case GrpcCode.UNAVAILABLE:
        if (/timed out/.test(err.message)) return new KvError(KvErrorCode.Timeout, 504, err.message);
        if (/stopped/.test(err.message)) return new KvError(KvErrorCode.Stopped, 503, err.message);
        return new KvError(KvErrorCode.NoLeader, 503, err.message);
      case GrpcCode.INVALID_ARGUMENT:
      case GrpcCode.OUT_OF_RANGE:
        return new KvError(KvErrorCode.BadRequest, 400, err.message);
      default:
        return new KvError(KvErrorCode.Internal, 500, err.message);
    }
  }
  if (err instanceof MvccError) return new KvError(KvErrorCode.BadRequest, 400, err.message);
  if ((err as Error)?.name === "AbortError" || (err as Error)?.name === "TimeoutError") {
    return new KvError(KvErrorCode.Timeout, 504, "request timed out; the write may still be applied");
  }
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
  if (err instanceof HostError || err instanceof KvError)
    return new KvConfigError(err.message, err.code, err);
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
      throw new KvConfigError(`joining through ${url} failed: ${(err as Error).message}`, HostErrorCode.Join);
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
    throw new KvConfigError(
      `joining through ${url} failed: ${body.message ?? res.status}`,
      HostErrorCode.Join,
    );
  }
  if (body.member === undefined || body.members === undefined || body.clusterId === undefined) {
    throw new KvConfigError(
      `joining through ${url} failed: ${body.message ?? res.status}`,
      HostErrorCode.Join,
    );
  }
  return {
    id: parseHexId(body.member.id),
    clusterId: parseHexId(body.clusterId),
    members: body.members.map((m) => ({ ...m, id: parseHexId(m.id) })),
  };
}
