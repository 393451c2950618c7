// One tsraft-kv member: a raft Node over durable storage (WAL + snapshots),
// the rafthttp peer transport, the replicated key-value store, and the
// client HTTP API. This is where the Ready loop lives.

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ErrProposalDropped, ErrSnapOutOfDate, ErrStopped, RaftError } from "../raft/errors.ts";
import { DefaultLogger, type Logger, LogLevel } from "../raft/logger.ts";
import { type Node, restartNode, startNode } from "../raft/node.ts";
import type { Ready } from "../raft/rawnode.ts";
import { ReadOnlyOption } from "../raft/read_only.ts";
import { Transport } from "../rafthttp/index.ts";
import type { PeerTlsOptions } from "../rafthttp/tls.ts";
import {
  ConfChange,
  type ConfChangeI,
  ConfChangeType,
  type ConfState,
  compareIds,
  decodeConfChange,
  decodeConfChangeV2,
  type Entry,
  EntryType,
  isEmptySnap,
  MessageType,
  parseHexId,
  Snapshot,
  SnapshotMetadata,
} from "../raftpb/index.ts";
import { DiskStorage, validSnapshotEntries, WAL, WalSnapshot } from "../wal/index.ts";
import { Command, decodeCommand, encodeCommand, Op } from "./command.ts";
import { DashboardHub } from "./dashboard/hub.ts";
import { KvConfigError, KvError, KvErrorCode } from "./errors.ts";
import { type ApiLimits, createClientHandler, defaultLimits } from "./http_api.ts";
import {
  clusterIdFor,
  decodeWalMetadata,
  encodeWalMetadata,
  hexId,
  memberIdFor,
  newMemberId,
} from "../host/index.ts";
import { KvMetrics } from "./metrics.ts";
import { KvStore, serializeSnapshotAsync } from "./store.ts";
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
  /** Distinguishes clusters started from the same member list. */
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

interface Waiter {
  resolve(r: WriteResult): void;
  reject(e: Error): void;
}

interface ReadWaiter {
  index: number;
  resolve(): void;
  reject(e: Error): void;
}

/** A leader change, for the dashboard's timeline. */
export interface LeaderEvent {
  at: number;
  term: number;
  leader: string;
}

const STATE_NAMES = ["follower", "candidate", "leader", "pre-candidate"] as const;
const enc = new TextEncoder();
const dec = new TextDecoder();

function isEmptyDir(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}

function urlHostPort(u: string): { host: string; port: number; https: boolean } {
  const url = new URL(u);
  const https = url.protocol === "https:";
  return { host: url.hostname, port: Number(url.port || (https ? 443 : 80)), https };
}

export class KvMember implements KvBackend {
  readonly cfg: MemberConfig;
  readonly logger: Logger;
  readonly metrics = new KvMetrics();
  readonly store = new KvStore();
  id = 0n;
  clusterId = 0n;
  private node!: Node;
  private storage!: DiskStorage;
  private transport!: Transport;
  private peerServer: Server | null = null;
  private clientServer: Server | null = null;
  private ticker: ReturnType<typeof setInterval> | null = null;
  private loop: Promise<void> | null = null;
  private stopped = false;
  private resolveDone!: () => void;
  /** Settles once the member has stopped, whoever stopped it (e.g. it was removed from the cluster). */
  readonly done = new Promise<void>((r) => {
    this.resolveDone = r;
  });
  private readonly membersById = new Map<bigint, MemberInfo>();
  private readonly removed = new Set<bigint>();
  private confState: ConfState | null = null;
  private applied = 0;
  private snapshotIndex = 0;
  private snapshotting: Promise<void> | null = null;
  private seq = 0;
  private readonly waiters = new Map<number, Waiter>();
  private readonly confWaiters = new Map<number, { resolve(): void; reject(e: Error): void }>();
  private readonly readWaiters: ReadWaiter[] = [];
  // Linearizable reads are batched: one ReadIndex round serves every read
  // that arrived before it started.
  private readBatch: Array<{ resolve(index: number): void; reject(e: Error): void }> = [];
  private readsInFlight = new Map<string, Array<{ resolve(index: number): void; reject(e: Error): void }>>();
  private lead = 0n;
  private term = 0;
  readonly leaderEvents: LeaderEvent[] = [];
  /** Timestamps (ms) and latencies (s) of recent writes, for the dashboard. */
  readonly recentWrites: Array<{ at: number; seconds: number }> = [];
  clientURL = "";
  peerURL = "";
  /** The web dashboard at /ui (idle until a browser connects). */
  private readonly dashboard = new DashboardHub(this);

  constructor(cfg: MemberConfig) {
    this.cfg = cfg;
    this.logger = cfg.logger ?? new DefaultLogger(LogLevel.Warn);
  }

  // ------------------------------------------------------------------ lifecycle

  /** Opens (or creates) the data directory, starts raft, the transport and both servers. */
  async start(): Promise<void> {
    const cfg = this.cfg;
    const memberDir = join(cfg.dataDir, "member");
    const fresh = isEmptyDir(join(memberDir, "wal"));
    const advertisePeer = cfg.advertisePeerURLs ?? [cfg.listenPeerURL];
    const advertiseClient = cfg.advertiseClientURLs ?? [cfg.listenClientURL];
    let bootstrapPeers: MemberInfo[] | null = null;
    let joinMembers: MemberInfo[] | null = null;

    if (!fresh) {
      // An existing data directory knows who it is; the flags must agree.
      const held = await readWalIdentity(memberDir);
      if (held === null) throw new KvConfigError(`cannot read the member identity from ${cfg.dataDir}`);
      if (cfg.join === undefined) {
        const expected = this.identityFromFlags();
        if (expected.id !== held.nodeId || expected.clusterId !== held.clusterId) {
          throw new KvConfigError(
            `data dir ${cfg.dataDir} belongs to member ${hexId(held.nodeId)} of cluster ${hexId(held.clusterId)}, ` +
              `but the flags describe member ${hexId(expected.id)} of cluster ${hexId(expected.clusterId)}; ` +
              "refusing to touch it",
          );
        }
      }
      this.id = held.nodeId;
      this.clusterId = held.clusterId;
    } else if (cfg.join !== undefined) {
      // Ask the running cluster to add us, then start empty and catch up.
      const r = await joinCluster(
        cfg.join,
        cfg.name,
        advertisePeer,
        advertiseClient,
        cfg.joinAsLearner === true,
      );
      this.id = r.id;
      this.clusterId = r.clusterId;
      joinMembers = r.members;
    } else {
      const ident = this.identityFromFlags();
      this.id = ident.id;
      this.clusterId = ident.clusterId;
      bootstrapPeers = ident.initial;
    }

    mkdirSync(memberDir, { recursive: true, mode: 0o700 });
    this.storage = await DiskStorage.open(memberDir, {
      metadata: encodeWalMetadata(this.id, this.clusterId),
      unsafeNoFsync: cfg.unsafeNoFsync === true,
    });

    // Rebuild the state machine from the latest snapshot; raft replays the rest.
    const snap = this.storage.snapshot();
    if (!isEmptySnap(snap)) this.restoreFromSnapshot(snap);
    for (const m of joinMembers ?? []) this.membersById.set(m.id, m);
    if (bootstrapPeers !== null) for (const m of bootstrapPeers) this.membersById.set(m.id, m);

    const raftConfig = {
      id: this.id,
      electionTick: cfg.electionTicks,
      heartbeatTick: cfg.heartbeatTicks,
      storage: this.storage,
      applied: this.applied,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 512,
      maxUncommittedEntriesSize: 1 << 30,
      checkQuorum: true,
      preVote: true,
      // A leader removed from the cluster steps down at once instead of
      // leading a group it no longer belongs to until it shuts down.
      stepDownOnRemoval: true,
      readOnlyOption: ReadOnlyOption.ReadOnlySafe,
      logger: this.logger,
      random: { intn: (n: number) => randomBytes(4).readUInt32BE(0) % n },
    };
    if (bootstrapPeers !== null) {
      this.node = startNode(
        raftConfig,
        bootstrapPeers.map((m) => ({
          id: m.id,
          context: enc.encode(JSON.stringify({ member: memberRecord(m) })),
        })),
      );
    } else {
      this.node = restartNode(raftConfig);
    }

    this.transport = new Transport({
      id: this.id,
      clusterId: this.clusterId,
      urls: advertisePeer,
      logger: this.logger,
      tls: cfg.peerTls,
      raft: {
        process: (m) => this.node.step(m),
        isIDRemoved: (id) => this.removed.has(id),
        reportUnreachable: (id) => this.node.reportUnreachable(id),
        reportSnapshot: (id, status) => this.node.reportSnapshot(id, status),
      },
      onCriticalError: (err) => {
        this.logger.error(`transport: ${err.message}; stopping`);
        void this.stop();
      },
    });
    for (const m of this.membersById.values()) if (m.id !== this.id) this.transport.addPeer(m.id, m.peerURLs);
    this.transport.start();

    await this.listenPeer(cfg.listenPeerURL);
    await this.listenClient(cfg.listenClientURL);
    this.peerURL = advertisePeer[0]!;

    this.loop = this.runLoop();
    this.ticker = setInterval(() => this.node.tick(), cfg.tickMs);
    // Publish our client URLs through raft once there is a leader.
    this.publishWhenReady(advertiseClient);
  }

  /** Member and cluster IDs as the initial-cluster flags define them. */
  private identityFromFlags(): { id: bigint; clusterId: bigint; initial: MemberInfo[] } {
    const cfg = this.cfg;
    const initial = cfg.initialCluster.map((m) => ({
      id: memberIdFor(m.peerURLs, cfg.clusterToken),
      name: m.name,
      peerURLs: m.peerURLs,
      clientURLs: m.clientURLs ?? [],
      isLearner: false,
    }));
    const self = initial.find((m) => m.name === cfg.name);
    if (self === undefined)
      throw new KvConfigError(`--name ${JSON.stringify(cfg.name)} is not in --initial-cluster`);
    const clusterId = clusterIdFor(initial.map((m) => m.id));
    return { id: self.id, clusterId, initial };
  }

  private async listenPeer(u: string): Promise<void> {
    const { host, port, https } = urlHostPort(u);
    const handler = this.transport.handler();
    const server = https
      ? createHttpsServer(this.transport.tlsServerOptions(), handler)
      : createHttpServer(handler);
    if (https) this.transport.attachServer(server as import("node:https").Server);
    server.requestTimeout = 0;
    this.peerServer = server;
    await listen(server, port, host);
  }

  private async listenClient(u: string): Promise<void> {
    const { host, port, https } = urlHostPort(u);
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
    this.clientServer = server;
    const addr = await listen(server, port, host);
    this.clientURL = `${https ? "https" : "http"}://${host}:${addr.port}`;
  }

  /**
   * Graceful shutdown: stop accepting requests, let in-flight ones finish
   * (bounded), then stop raft, the transport and the WAL.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker !== null) clearInterval(this.ticker);
    this.dashboard.close(); // ends the dashboard's event streams so the server can close at once
    const closing = this.clientServer ? closeServer(this.clientServer, 2000) : Promise.resolve();
    await closing;
    await this.node?.stop();
    const err = new KvError(KvErrorCode.Stopped, 503, "member is stopping");
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
    for (const w of this.confWaiters.values()) w.reject(err);
    this.confWaiters.clear();
    for (const w of this.readWaiters.splice(0)) w.reject(err);
    for (const w of this.readBatch.splice(0)) w.reject(err);
    for (const ws of this.readsInFlight.values()) for (const w of ws) w.reject(err);
    this.readsInFlight.clear();
    await this.loop?.catch(() => {});
    await this.snapshotting;
    await this.transport?.stop();
    if (this.peerServer) await closeServer(this.peerServer, 1000);
    await this.storage?.close();
    this.resolveDone();
  }

  // ------------------------------------------------------------------ the Ready loop

  private async runLoop(): Promise<void> {
    try {
      for await (const rd of this.node.ready()) {
        await this.handleReady(rd);
        this.node.advance();
        if (this.stopped) break;
      }
    } catch (err) {
      if (err !== ErrStopped && !this.stopped) {
        this.logger.error(`raft loop failed: ${(err as Error).stack ?? err}`);
        void this.stop();
      }
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState !== null) this.onSoftState(rd.softState.lead, rd.hardState.term || this.term);
    if (rd.hardState.term !== 0) this.term = rd.hardState.term;
    const isLeader = this.lead === this.id;
    this.refreshOutgoingSnapshots(rd);
    // The leader may send while it persists (Raft thesis §10.2.1); others persist first.
    if (isLeader) this.transport.send(rd.messages);
    const t0 = performance.now();
    await this.storage.save({
      hardState: rd.hardState,
      entries: rd.entries,
      snapshot: rd.snapshot,
      mustSync: rd.mustSync,
    });
    if (rd.mustSync) this.metrics.walFsync.observe((performance.now() - t0) / 1000);
    if (!isEmptySnap(rd.snapshot)) this.restoreFromSnapshot(rd.snapshot!);
    if (!isLeader) this.transport.send(rd.messages);
    if (rd.committedEntries.length > 0) {
      this.metrics.proposalsCommitted.set(rd.committedEntries[rd.committedEntries.length - 1]!.index);
      this.applyEntries(rd.committedEntries);
      this.maybeSnapshot();
    }
    for (const rs of rd.readStates) {
      const key = Buffer.from(rs.requestCtx).toString("hex");
      const ws = this.readsInFlight.get(key);
      if (ws === undefined) continue;
      this.readsInFlight.delete(key);
      for (const w of ws) w.resolve(rs.index);
    }
    this.releaseReads();
  }

  private onSoftState(lead: bigint, term: number): void {
    if (lead !== this.lead) {
      if (lead !== 0n) this.metrics.leaderChanges.inc();
      this.lead = lead;
      this.leaderEvents.push({ at: Date.now(), term, leader: hexId(lead) });
      if (this.leaderEvents.length > 200) this.leaderEvents.splice(0, this.leaderEvents.length - 200);
    }
    this.metrics.hasLeader.set(lead !== 0n ? 1 : 0);
    this.metrics.isLeader.set(lead === this.id ? 1 : 0);
    if (lead === 0n) {
      // Reads waiting for a ReadIndex round will not get an answer from this term.
      const err = new KvError(KvErrorCode.NoLeader, 503, "leader lost while serving the read");
      for (const ws of this.readsInFlight.values()) for (const w of ws) w.reject(err);
      this.readsInFlight.clear();
    }
  }

  private applyEntries(ents: readonly Entry[]): void {
    for (const e of ents) {
      if (e.index <= this.applied) continue;
      switch (e.type) {
        case EntryType.EntryNormal:
          if (e.data.length > 0) this.applyCommand(e.data);
          break;
        case EntryType.EntryConfChange:
          this.applyConfChange(decodeConfChange(e.data));
          break;
        case EntryType.EntryConfChangeV2:
          this.applyConfChange(decodeConfChangeV2(e.data));
          break;
      }
      this.applied = e.index;
    }
    this.metrics.proposalsApplied.set(this.applied);
    this.metrics.keys.set(this.store.size);
  }

  private applyCommand(data: Uint8Array): void {
    let c: Command;
    try {
      c = decodeCommand(data);
    } catch (err) {
      // Every member skips it alike, so the state machines stay identical.
      this.logger.error(`skipping undecodable entry: ${(err as Error).message}`);
      return;
    }
    if (c.op === Op.Publish) {
      this.applyPublish(c);
      return;
    }
    const r = this.store.apply(c);
    if (c.proposer !== this.id) return;
    const w = this.waiters.get(c.seq);
    if (w === undefined) return;
    this.waiters.delete(c.seq);
    this.metrics.proposalsPending.set(this.waiters.size);
    if (r.ok) w.resolve({ revision: r.revision, prevRevision: r.prevRevision });
    else if (r.error === "REVISION_MISMATCH") {
      w.reject(
        new KvError(
          KvErrorCode.RevisionMismatch,
          412,
          `revision mismatch: the key's mod revision is ${r.prevRevision}`,
        ),
      );
    } else w.reject(new KvError(KvErrorCode.NotFound, 404, "key not found"));
  }

  private applyPublish(c: Command): void {
    try {
      const p = JSON.parse(dec.decode(c.value)) as { id: string; name: string; clientURLs: string[] };
      const m = this.membersById.get(parseHexId(p.id));
      if (m !== undefined) {
        m.name = p.name;
        m.clientURLs = p.clientURLs;
      }
    } catch (err) {
      this.logger.error(`bad member attributes: ${(err as Error).message}`);
    }
  }

  private applyConfChange(cc: ConfChangeI): void {
    this.confState = this.node.applyConfChange(cc);
    if (!(cc instanceof ConfChange)) return;
    let record: { member?: ReturnType<typeof memberRecord>; proposer?: string; seq?: number } = {};
    if (cc.context.length > 0) {
      try {
        record = JSON.parse(dec.decode(cc.context));
      } catch {
        record = {};
      }
    }
    const id = cc.nodeId;
    switch (cc.type) {
      case ConfChangeType.ConfChangeAddNode:
      case ConfChangeType.ConfChangeAddLearnerNode: {
        const existing = this.membersById.get(id);
        const m: MemberInfo = record.member
          ? {
              id,
              name: record.member.name,
              peerURLs: record.member.peerURLs,
              clientURLs: record.member.clientURLs,
              isLearner: cc.type === ConfChangeType.ConfChangeAddLearnerNode,
            }
          : (existing ?? { id, name: "", peerURLs: [], clientURLs: [], isLearner: false });
        m.isLearner = cc.type === ConfChangeType.ConfChangeAddLearnerNode;
        this.membersById.set(id, m);
        if (id !== this.id && m.peerURLs.length > 0) this.transport.addPeer(id, m.peerURLs);
        break;
      }
      case ConfChangeType.ConfChangeRemoveNode:
        this.membersById.delete(id);
        this.removed.add(id);
        if (id === this.id) {
          this.logger.warning(`this member (${hexId(id)}) was removed from the cluster; stopping`);
          setImmediate(() => void this.stop());
        } else void this.transport.removePeer(id);
        break;
    }
    if (record.proposer === hexId(this.id) && record.seq !== undefined) {
      const w = this.confWaiters.get(record.seq);
      if (w !== undefined) {
        this.confWaiters.delete(record.seq);
        w.resolve();
      }
    }
  }

  private appBlob(): Uint8Array {
    return enc.encode(
      JSON.stringify({
        members: [...this.membersById.values()].map((m) => ({ ...m, id: hexId(m.id) })),
        removed: [...this.removed].map(hexId),
        applied: this.applied,
      }),
    );
  }

  private restoreFromSnapshot(snap: Snapshot): void {
    const blob = this.store.restore(snap.data);
    const raw = JSON.parse(dec.decode(blob)) as {
      members: Array<Omit<MemberInfo, "id"> & { id: string }>;
      removed: string[];
    };
    const app = { members: raw.members.map((m) => ({ ...m, id: parseHexId(m.id) })) };
    this.membersById.clear();
    for (const m of app.members) this.membersById.set(m.id, m);
    for (const id of raw.removed) this.removed.add(parseHexId(id));
    this.applied = snap.metadata.index;
    this.snapshotIndex = snap.metadata.index;
    this.confState = snap.metadata.confState;
    // The transport follows the snapshot's membership.
    if (this.transport !== undefined) {
      for (const m of app.members) if (m.id !== this.id) this.transport.addPeer(m.id, m.peerURLs);
    }
  }

  /**
   * Raft sends the latest stored snapshot, which may predate members added
   * since (a new member would then reject it as not containing itself).
   * Like etcd, ship a snapshot of the current applied state instead.
   */
  private refreshOutgoingSnapshots(rd: Ready): void {
    let fresh: Snapshot | null = null;
    for (const m of rd.messages) {
      if (m.type !== MessageType.MsgSnap || m.snapshot === null) continue;
      if (fresh === null) {
        const term = this.storage.term(this.applied);
        fresh = new Snapshot(
          this.store.snapshot(this.appBlob()),
          new SnapshotMetadata(this.confState ?? m.snapshot.metadata.confState, this.applied, term),
        );
      }
      m.snapshot = fresh;
    }
  }

  /**
   * Every snapshotCount applied entries, snapshot the store and compact the
   * log. The store is captured at once (its records are immutable) and
   * serialized and written in the background, so the Ready loop never waits.
   */
  private maybeSnapshot(): void {
    if (this.snapshotting !== null || this.confState === null) return;
    if (this.applied - this.snapshotIndex < this.cfg.snapshotCount) return;
    const index = this.applied;
    const cs = this.confState;
    const cap = this.store.capture();
    const blob = this.appBlob();
    const t0 = performance.now();
    this.snapshotting = (async () => {
      try {
        const data = await serializeSnapshotAsync(cap, blob);
        if (this.stopped) return;
        await this.storage.createSnapshot(index, cs, data);
        this.snapshotIndex = Math.max(this.snapshotIndex, index);
        const compactTo = index - this.cfg.snapshotCatchUpEntries;
        if (compactTo > this.storage.firstIndex()) this.storage.compact(compactTo);
        this.metrics.snapSave.observe((performance.now() - t0) / 1000);
        this.logger.info(`saved snapshot at index ${index}; compacted log up to ${Math.max(compactTo, 0)}`);
      } catch (err) {
        // A snapshot received from the leader meanwhile makes ours obsolete.
        if (err !== ErrSnapOutOfDate && !this.stopped)
          this.logger.error(`snapshot at ${index} failed: ${(err as Error).message}`);
      } finally {
        this.snapshotting = null;
      }
    })();
  }

  private publishWhenReady(clientURLs: string[]): void {
    const attempt = async () => {
      if (this.stopped) return;
      const m = this.membersById.get(this.id);
      const urls = this.clientURL !== "" && clientURLs.includes(":0") ? [this.clientURL] : clientURLs;
      if (m !== undefined && m.name === this.cfg.name && sameList(m.clientURLs, urls)) return;
      if (this.lead === 0n) {
        setTimeout(() => void attempt(), this.cfg.tickMs).unref();
        return;
      }
      const value = enc.encode(JSON.stringify({ id: hexId(this.id), name: this.cfg.name, clientURLs: urls }));
      const c = new Command(Op.Publish, this.id, ++this.seq, enc.encode(""), value);
      try {
        await this.node.propose(encodeCommand(c), AbortSignal.timeout(5000));
      } catch {
        // Retried below until the attributes show up in the membership.
      }
      setTimeout(() => void attempt(), this.cfg.tickMs * 10).unref();
    };
    void attempt();
  }

  // ------------------------------------------------------------------ KvBackend

  private ensureLeader(): void {
    if (this.stopped) throw new KvError(KvErrorCode.Stopped, 503, "member is stopping");
    // A leader that was just removed drops what it is sent: treat it as none.
    if (this.lead === 0n || !this.membersById.has(this.lead)) {
      throw new KvError(KvErrorCode.NoLeader, 503, "no leader elected; retry shortly");
    }
  }

  private async write(op: Op, key: string, value: Uint8Array, opts: WriteOptions): Promise<WriteResult> {
    this.ensureLeader();
    const seq = ++this.seq;
    const c = new Command(op, this.id, seq, enc.encode(key), value, opts.expectedRevision ?? -1);
    const t0 = performance.now();
    const done = new Promise<WriteResult>((resolve, reject) => this.waiters.set(seq, { resolve, reject }));
    this.metrics.proposalsPending.set(this.waiters.size);
    const signal = opts.signal;
    const onAbort = () => {
      const w = this.waiters.get(seq);
      if (w === undefined) return;
      this.waiters.delete(seq);
      this.metrics.proposalsPending.set(this.waiters.size);
      this.metrics.proposalsFailed.inc();
      w.reject(
        new KvError(KvErrorCode.Timeout, 504, "request timed out; the write may or may not be applied"),
      );
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await this.node.propose(encodeCommand(c), signal);
    } catch (err) {
      this.waiters.delete(seq);
      this.metrics.proposalsPending.set(this.waiters.size);
      this.metrics.proposalsFailed.inc();
      signal?.removeEventListener("abort", onAbort);
      throw toKvError(err);
    }
    try {
      const r = await done;
      const seconds = (performance.now() - t0) / 1000;
      this.recentWrites.push({ at: Date.now(), seconds });
      if (this.recentWrites.length > 20_000) this.recentWrites.splice(0, 10_000);
      return r;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  put(key: string, value: Uint8Array, opts: WriteOptions): Promise<WriteResult> {
    return this.write(Op.Put, key, value, opts);
  }

  delete(key: string, opts: WriteOptions): Promise<WriteResult> {
    return this.write(Op.Delete, key, new Uint8Array(0), opts);
  }

  /** Waits until this member has applied everything committed when the read began. */
  private async linearize(signal?: AbortSignal): Promise<void> {
    this.ensureLeader();
    const index = await new Promise<number>((resolve, reject) => {
      this.readBatch.push({ resolve, reject });
      if (this.readBatch.length === 1) queueMicrotask(() => this.startReadRound());
      signal?.addEventListener(
        "abort",
        () => reject(new KvError(KvErrorCode.Timeout, 504, "linearizable read timed out")),
        { once: true },
      );
    });
    if (index <= this.applied) return;
    await new Promise<void>((resolve, reject) => {
      this.readWaiters.push({ index, resolve, reject });
      signal?.addEventListener(
        "abort",
        () => reject(new KvError(KvErrorCode.Timeout, 504, "linearizable read timed out")),
        { once: true },
      );
    });
  }

  private startReadRound(): void {
    const batch = this.readBatch;
    if (batch.length === 0) return;
    this.readBatch = [];
    const ctx = randomBytes(8);
    this.readsInFlight.set(ctx.toString("hex"), batch);
    this.node.readIndex(ctx, AbortSignal.timeout(this.cfg.limits.requestTimeoutMs)).catch((err: unknown) => {
      const ws = this.readsInFlight.get(ctx.toString("hex"));
      this.readsInFlight.delete(ctx.toString("hex"));
      for (const w of ws ?? []) w.reject(toKvError(err));
    });
  }

  private releaseReads(): void {
    if (this.readWaiters.length === 0) return;
    let keep = 0;
    for (const w of this.readWaiters) {
      if (w.index <= this.applied) w.resolve();
      else this.readWaiters[keep++] = w;
    }
    this.readWaiters.length = keep;
  }

  async get(key: string, opts: ReadOptions): Promise<{ kv: ReturnType<KvStore["get"]>; revision: number }> {
    if (opts.linearizable) await this.linearize(opts.signal);
    return { kv: this.store.get(key), revision: this.store.revision };
  }

  async range(prefix: string, limit: number, opts: ReadOptions) {
    if (opts.linearizable) await this.linearize(opts.signal);
    return { kvs: this.store.range(prefix, limit), revision: this.store.revision };
  }

  members(): MemberInfo[] {
    return [...this.membersById.values()].sort((a, b) => compareIds(a.id, b.id));
  }

  clusterIdHex(): string {
    return hexId(this.clusterId);
  }

  private async confChange(cc: ConfChange, record: Record<string, unknown>): Promise<void> {
    this.ensureLeader();
    const seq = ++this.seq;
    cc.context = enc.encode(JSON.stringify({ ...record, proposer: hexId(this.id), seq }));
    const done = new Promise<void>((resolve, reject) => this.confWaiters.set(seq, { resolve, reject }));
    const signal = AbortSignal.timeout(this.cfg.limits.requestTimeoutMs * 2);
    const timeout = new Promise<never>((_, reject) =>
      signal.addEventListener("abort", () => {
        this.confWaiters.delete(seq);
        reject(new KvError(KvErrorCode.Timeout, 504, "membership change timed out"));
      }),
    );
    try {
      await this.node.proposeConfChange(cc, signal);
    } catch (err) {
      this.confWaiters.delete(seq);
      throw toKvError(err);
    }
    await Promise.race([done, timeout]);
  }

  async addMember(
    peerURLs: string[],
    opts: { name?: string; learner: boolean; clientURLs?: string[] },
  ): Promise<MemberInfo> {
    for (const m of this.membersById.values()) {
      if (m.peerURLs.some((u) => peerURLs.includes(u))) {
        throw new KvError(KvErrorCode.MemberExists, 409, `peer URL already used by member ${hexId(m.id)}`);
      }
    }
    const name = opts.name ?? "";
    const id = newMemberId(peerURLs, Date.now());
    const m: MemberInfo = { id, name, peerURLs, clientURLs: opts.clientURLs ?? [], isLearner: opts.learner };
    const type = opts.learner ? ConfChangeType.ConfChangeAddLearnerNode : ConfChangeType.ConfChangeAddNode;
    await this.confChange(new ConfChange(type, id), { member: memberRecord(m) });
    return this.membersById.get(id) ?? m;
  }

  async removeMember(id: bigint): Promise<void> {
    if (!this.membersById.has(id))
      throw new KvError(KvErrorCode.MemberNotFound, 404, `no member ${hexId(id)}`);
    await this.confChange(new ConfChange(ConfChangeType.ConfChangeRemoveNode, id), {});
  }

  async promoteMember(id: bigint): Promise<void> {
    const m = this.membersById.get(id);
    if (m === undefined) throw new KvError(KvErrorCode.MemberNotFound, 404, `no member ${hexId(id)}`);
    if (!m.isLearner) throw new KvError(KvErrorCode.BadRequest, 400, `member ${hexId(id)} is not a learner`);
    if (this.lead === this.id) {
      // Like etcd: only promote a learner that has caught up with the log.
      const st = this.node.status();
      const pr = st.progress?.get(id);
      const last = this.storage.lastIndex();
      if (pr === undefined || pr.match < last * 0.9) {
        throw new KvError(
          KvErrorCode.BadRequest,
          400,
          `learner ${hexId(id)} is not caught up with the leader yet`,
        );
      }
    }
    await this.confChange(new ConfChange(ConfChangeType.ConfChangeAddNode, id), { member: memberRecord(m) });
  }

  async transferLeader(to: bigint, signal?: AbortSignal): Promise<void> {
    this.ensureLeader();
    if (!this.membersById.has(to))
      throw new KvError(KvErrorCode.MemberNotFound, 404, `no member ${hexId(to)}`);
    if (this.lead === to) return;
    if (this.lead !== this.id) {
      // Only the leader can hand off leadership: ask it.
      const leader = this.membersById.get(this.lead);
      const url = leader?.clientURLs[0];
      if (url === undefined)
        throw new KvError(KvErrorCode.NoLeader, 503, "the leader's client URL is unknown");
      const res = await fetch(`${url}/leader/transfer?to=${hexId(to)}`, { method: "POST", signal });
      if (!res.ok) throw new KvError(KvErrorCode.Internal, res.status, `leader refused: ${await res.text()}`);
      return;
    }
    this.node.transferLeadership(this.id, to);
    const deadline = Date.now() + this.cfg.tickMs * this.cfg.electionTicks * 3;
    while (this.lead !== to) {
      if (Date.now() > deadline || signal?.aborted) {
        throw new KvError(KvErrorCode.Timeout, 504, `leadership transfer to ${hexId(to)} did not complete`);
      }
      await new Promise((r) => setTimeout(r, this.cfg.tickMs));
    }
  }

  status(): ServerStatus {
    const st = this.node.status();
    let progress: FollowerProgress[] | undefined;
    if (st.progress !== null) {
      progress = [...st.progress.entries()]
        .sort((a, b) => compareIds(a[0], b[0]))
        .map(([id, pr]) => ({
          id,
          match: pr.match,
          next: pr.next,
          state: (["probe", "replicate", "snapshot"] as const)[pr.state]!,
          paused: pr.isPaused(),
          recentActive: pr.recentActive,
          isLearner: pr.isLearner,
        }));
    }
    return {
      id: hexId(this.id),
      name: this.cfg.name,
      leader: hexId(st.softState.lead),
      term: st.hardState.term,
      vote: hexId(st.hardState.vote),
      commit: st.hardState.commit,
      applied: this.applied,
      revision: this.store.revision,
      raftState: STATE_NAMES[st.softState.raftState]!,
      isLearner: this.membersById.get(this.id)?.isLearner ?? false,
      progress,
      members: this.members().map((m) => ({ ...m, id: hexId(m.id) })),
      keys: this.store.size,
      snapshotIndex: this.snapshotIndex,
    };
  }

  serveDashboard(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse): boolean {
    return this.dashboard.handle(req, res);
  }

  unhealthyReason(): string | null {
    if (this.stopped) return "stopping";
    if (this.lead === 0n) return "no leader";
    return null;
  }

  observeRequest(op: string, status: number, seconds: number): void {
    this.metrics.requestDuration.observe({ op, code: String(status) }, seconds);
  }

  async metricsText(): Promise<string> {
    for (const [id, p] of Object.entries(this.transport.stats().peers)) {
      this.metrics.peerSentBytes.set({ To: id }, p.sentBytes);
      this.metrics.peerReceivedBytes.set({ From: id }, p.receivedBytes);
      if (p.probe !== undefined && p.probe.pipeline.total > 0) {
        this.metrics.peerRoundTrip.set({ To: id }, p.probe.pipeline.srttMs / 1000);
      }
    }
    return this.metrics.text();
  }
}

function memberRecord(m: MemberInfo): { name: string; peerURLs: string[]; clientURLs: string[] } {
  return { name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function toKvError(err: unknown): Error {
  if (err instanceof KvError) return err;
  if (err === ErrProposalDropped)
    return new KvError(KvErrorCode.ProposalDropped, 503, "proposal dropped; retry");
  if (err === ErrStopped) return new KvError(KvErrorCode.Stopped, 503, "member is stopping");
  if ((err as Error)?.name === "AbortError" || (err as Error)?.name === "TimeoutError") {
    return new KvError(KvErrorCode.Timeout, 504, "request timed out");
  }
  if (err instanceof RaftError) return new KvError(KvErrorCode.Internal, 500, err.message);
  return err instanceof Error ? err : new Error(String(err));
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), graceMs).unref();
  });
}

/** The member and cluster IDs recorded in an existing WAL's metadata. */
async function readWalIdentity(memberDir: string): Promise<{ nodeId: bigint; clusterId: bigint } | null> {
  const walDir = join(memberDir, "wal");
  try {
    const snaps = await validSnapshotEntries(walDir);
    const wal = await WAL.openForRead(walDir, snaps[snaps.length - 1] ?? new WalSnapshot());
    const r = await wal.readAll();
    return decodeWalMetadata(r.metadata);
  } catch {
    return null;
  }
}

/** Asks a running cluster (through any member's client URL) to add this member. */
async function joinCluster(
  url: string,
  name: string,
  peerURLs: string[],
  clientURLs: string[],
  learner: boolean,
): Promise<{ id: bigint; clusterId: bigint; members: MemberInfo[] }> {
  let res: Response;
  try {
    res = await fetch(`${url.replace(/\/$/, "")}/members`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name, peerURLs, clientURLs, learner }),
    });
  } catch (err) {
    throw new KvConfigError(`cannot reach ${url} to join the cluster: ${(err as Error).message}`);
  }
  type MemberJson = {
    id: string;
    name: string;
    peerURLs: string[];
    clientURLs: string[];
    isLearner: boolean;
  };
  let body = (await res.json()) as {
    member?: { id: string };
    members?: MemberJson[];
    clusterId?: string;
    message?: string;
    code?: string;
  };
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

export { defaultLimits };
