// The Transport: etcd's rafthttp.Transport for Node. It sends raft messages
// to peers (streams when up, pipeline otherwise), serves the peers' requests
// through handler(), and reports delivery problems back to raft.

import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { getLogger, type Logger, SnapshotStatus } from "../raft/index.ts";
import type { Message, Profile } from "../raftpb/index.ts";
import { PeerClient } from "./client.ts";
import type { Ctx } from "./context.ts";
import { RaftHttpError, RaftHttpErrorCode, TransportConfigError } from "./errors.ts";
import { createHandler } from "./handler.ts";
import { formatId, toClusterIdText, toNodeId } from "./ids.ts";
import { Peer, Remote } from "./peer.ts";
import { NOT_DECIDED, parseMembersList } from "./peer_api.ts";
import type { HandlerHost } from "./request_checks.ts";
import type { PeerCounters, PeerStats, TransportStats } from "./stats.ts";
import { TlsMaterial, TlsPeerVerifier } from "./tls.ts";
import {
  DEFAULT_LIMITS,
  type PeerMember,
  type PeerVersions,
  type RaftReceiver,
  resolveTimeouts,
  type SaveSnapshotData,
  type SnapshotMessage,
  type SnapshotSendResult,
  type TransportLimits,
  type TransportOptions,
  type TransportTimeouts,
} from "./types.ts";
import { MIN_CLUSTER_VERSION, parseSemver, type Semver } from "./version.ts";

/** A member ID as the API takes it: a bigint, or etcd's hex text form. */
type MemberId = bigint | string;

function parseUrls(urls: readonly string[], field: string): URL[] {
  if (urls.length === 0) throw new TransportConfigError(field, `${field}: at least one URL is required`);
  return urls.map((s) => {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new TransportConfigError(field, `${field}: invalid URL ${JSON.stringify(s)}`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      throw new TransportConfigError(field, `${field}: URL scheme must be http or https: ${s}`);
    }
    return u;
  });
}

function version(text: string, field: string): Semver {
  const v = parseSemver(text);
  if (v === undefined)
    throw new TransportConfigError(field, `${field}: ${JSON.stringify(text)} is not MAJOR.MINOR.PATCH`);
  return v;
}

/** How long a member vouched for by a peer stays accepted without being asked again. */
const VOUCH_TTL_MS = 60_000;
/** At most one round of `GET /members` to the peers per this interval. */
const VOUCH_ASK_INTERVAL_MS = 2_000;

/** Everything the peers and the handler share; Transport is its public face. */
class Core implements Ctx, HandlerHost {
  readonly id: bigint;
  readonly hex: string;
  readonly clusterHex: string;
  readonly raft: RaftReceiver;
  readonly logger: Logger;
  readonly limits: TransportLimits;
  readonly timeouts: TransportTimeouts;
  readonly profile: Profile;
  readonly client: PeerClient;
  readonly version: Semver;
  readonly serverVersionText: string;
  readonly minVersion: Semver;
  readonly commonHeaders: http.OutgoingHttpHeaders;
  readonly pipelineHeaders: http.OutgoingHttpHeaders;
  readonly snapshotHeaders: http.OutgoingHttpHeaders;
  readonly verifier: TlsPeerVerifier | null;
  readonly saveSnapshotData: SaveSnapshotData | undefined;
  readonly verifyMemberIdentity: boolean;
  readonly acceptUnknownSenders: boolean;
  /** Requests and messages refused because of their sender (unknown, mismatched or unproven). */
  refused = 0;
  private readonly vouches = new Map<bigint, number>();
  private lastVouchAsk = Number.NEGATIVE_INFINITY;
  readonly members: (() => readonly PeerMember[]) | undefined;
  private readonly versionsHook: (() => PeerVersions) | undefined;
  private readonly tls: TlsMaterial | null;
  private readonly onCritical: ((err: RaftHttpError) => void) | undefined;
  private readonly clock: () => number;
  private readonly peers = new Map<bigint, Peer>();
  private readonly remotes = new Map<bigint, Remote>();
  private readonly servers = new Set<http.Server>();
  private readonly sockets = new Set<Socket>();
  private ticker: NodeJS.Timeout | null = null;
  private started = false;
  private stopping: Promise<void> | null = null;
  private requestHandler: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | null = null;

  constructor(opts: TransportOptions) {
    this.id = toNodeId(opts.id, "id");
    this.hex = formatId(this.id);
    this.clusterHex = toClusterIdText(opts.clusterId);
    this.raft = opts.raft;
    this.logger = opts.logger ?? getLogger();
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    for (const [k, v] of Object.entries(this.limits)) {
      if (typeof v !== "number" || !(v > 0))
        throw new TransportConfigError(`limits.${k}`, `limits.${k} must be > 0`);
    }
    this.timeouts = resolveTimeouts(opts.timeouts);
    this.profile = opts.profile ?? "P37";
    this.serverVersionText = opts.serverVersion ?? "3.6.0";
    this.version = version(this.serverVersionText, "serverVersion");
    const minText = opts.minClusterVersion ?? MIN_CLUSTER_VERSION;
    this.minVersion = version(minText, "minClusterVersion");
    const urls = opts.urls ?? [];
    if (urls.length > 0) parseUrls(urls, "urls");
    this.clock = opts.now ?? Date.now;
    this.onCritical = opts.onCriticalError;
    this.saveSnapshotData = opts.saveSnapshotData;
    this.verifyMemberIdentity = opts.tls?.verifyMemberIdentity === true;
    this.acceptUnknownSenders = opts.acceptUnknownSenders === true;
    this.members = opts.members;
    this.versionsHook = opts.versions;
    this.tls = opts.tls === undefined ? null : new TlsMaterial(opts.tls, this.timeouts.tlsReloadInterval);
    this.verifier =
      opts.tls === undefined || !this.tls!.requireClientCert ? null : new TlsPeerVerifier(opts.tls);
    if (this.verifier !== null && !this.verifier.enabled) this.verifier = null;
    this.client = new PeerClient(this.tls, this.timeouts.dialTimeout);
    const common: http.OutgoingHttpHeaders = {
      "X-Server-From": this.hex,
      "X-Server-Version": this.serverVersionText,
      "X-Min-Cluster-Version": minText,
      "X-Etcd-Cluster-ID": this.clusterHex,
    };
    if (urls.length > 0) common["X-PeerURLs"] = urls.join(",");
    this.commonHeaders = common;
    this.pipelineHeaders = { ...common, "Content-Type": "application/protobuf" };
    this.snapshotHeaders = { ...common, "Content-Type": "application/octet-stream" };
  }

  get ctx(): Ctx {
    return this;
  }

  get stopped(): boolean {
    return this.stopping !== null;
  }

  now(): number {
    return this.clock();
  }

  noteRefused(): void {
    this.refused++;
  }

  versions(): Required<PeerVersions> {
    const v = this.versionsHook?.();
    return { server: v?.server ?? this.serverVersionText, cluster: v?.cluster ?? NOT_DECIDED };
  }

  critical(err: RaftHttpError): void {
    this.logger.error(`rafthttp: critical error: [${err.code}] ${err.message}`);
    this.onCritical?.(err);
  }

  /** Starts the link heartbeat ticker and every peer added so far. Idempotent. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.ticker = setInterval(() => {
      for (const p of this.peers.values()) p.tick();
    }, this.timeouts.heartbeatInterval);
    for (const p of this.peers.values()) p.start();
  }

  /**
   * The request handler for `/raft` and everything under it; use it as the
   * whole server (`http.createServer(t.handler())`) or call it for those paths.
   */
  handler(): (req: http.IncomingMessage, res: http.ServerResponse) => void {
    this.requestHandler ??= createHandler(this);
    return this.requestHandler;
  }

  /** Options for `https.createServer` from the TLS configuration (certificate, CA, client auth). */
  tlsServerOptions(): https.ServerOptions {
    if (this.tls === null || !this.tls.hasServerCert) {
      throw new TransportConfigError("tls", "tls: a server certificate and key are required");
    }
    return this.tls.serverOptions();
  }

  /**
   * Lets an https server you created pick up rotated certificate files: they
   * are checked (at most every tlsReloadInterval) when a connection arrives.
   */
  attachServer(server: https.Server): void {
    const tls = this.tls;
    if (tls === null) return;
    server.prependListener("connection", () => {
      if (tls.refresh()) {
        server.setSecureContext(tls.serverOptions());
        this.logger.info("rafthttp: reloaded TLS certificates");
      }
    });
  }

  /** Re-reads the certificate files now; true when they changed. */
  reloadTls(): boolean {
    if (this.tls === null) return false;
    const changed = this.tls.refresh(true);
    if (changed)
      for (const s of this.servers)
        if (s instanceof https.Server) s.setSecureContext(this.tls.serverOptions());
    return changed;
  }

  /**
   * Creates a server (https when TLS with a server certificate is configured)
   * for the handler and listens; stop() closes it.
   */
  listen(port = 0, host = "127.0.0.1"): Promise<AddressInfo> {
    const handler = this.handler();
    const secure = this.tls?.hasServerCert === true;
    const server: http.Server = secure
      ? https.createServer({ ...this.tls!.serverOptions(), requestTimeout: 5 * 60 * 1000 }, handler)
      : http.createServer({ requestTimeout: 5 * 60 * 1000, noDelay: true }, handler);
    if (secure) this.attachServer(server as https.Server);
    server.keepAliveTimeout = 30_000;
    server.on("clientError", (err, socket) => {
      this.logger.debug(`rafthttp: peer connection error: ${err.message}`);
      socket.destroy();
    });
    // Raw sockets too: one still in its TLS handshake is not an HTTP connection yet.
    server.on("connection", (sock: Socket) => {
      this.sockets.add(sock);
      sock.once("close", () => this.sockets.delete(sock));
    });
    this.servers.add(server);
    return new Promise<AddressInfo>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve(server.address() as AddressInfo);
      });
    });
  }

  /**
   * Sends messages; never blocks or throws. Messages with to = 0 or to an
   * unknown member are dropped (raft resends what matters once the member
   * is added). A remote — a member known only from X-PeerURLs or a vouch —
   * gets the pipeline only: enough for our answers to reach a member that
   * joined while we were behind, and no streams it could hold open.
   */
  send(msgs: readonly Message[]): void {
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      if (m.to === 0n) continue;
      const p = this.peers.get(m.to);
      if (p !== undefined) {
        p.send(m);
        continue;
      }
      const r = this.remotes.get(m.to);
      if (r !== undefined) {
        r.send(m);
        continue;
      }
      this.logger.debug(`rafthttp: ignored message to unknown peer ${formatId(m.to)}`);
    }
  }

  /**
   * Sends a MsgSnap with the application's snapshot data on its own POST.
   * raft is told the outcome through reportSnapshot; the promise resolves
   * with it too (it never rejects).
   */
  sendSnapshot(snap: SnapshotMessage): Promise<SnapshotSendResult> {
    const p = this.peers.get(snap.message.to);
    if (p === undefined || this.stopped) {
      const error = new RaftHttpError(RaftHttpErrorCode.MemberNotFound, "member not found");
      this.raft.reportSnapshot(snap.message.to, SnapshotStatus.SnapshotFailure);
      const b = snap.body as { destroy?: () => void };
      if (typeof b.destroy === "function") b.destroy();
      return Promise.resolve({ ok: false, error });
    }
    return p.sendSnapshot(snap);
  }

  /** Adds a member we only send to over the pipeline (ignored if it is already a peer or remote). */
  addRemote(id: MemberId, urls: readonly string[]): void {
    const n = toNodeId(id, "id");
    const us = parseUrls(urls, "urls");
    if (this.stopped || this.peers.has(n) || this.remotes.has(n)) return;
    this.remotes.set(n, new Remote(this, n, us));
    this.logger.info(`rafthttp: added remote peer ${formatId(n)} ${urls.join(",")}`);
  }

  learnRemote(id: bigint, urls: string[]): void {
    if (this.peers.has(id) || this.remotes.has(id)) return;
    try {
      this.addRemote(id, urls);
    } catch (err) {
      this.logger.warning(`rafthttp: ignored X-PeerURLs of ${formatId(id)}: ${(err as Error).message}`);
    }
  }

  /** Adds a peer and starts its streams, pipeline and probers. Idempotent. */
  addPeer(id: MemberId, urls: readonly string[]): void {
    const n = toNodeId(id, "id");
    if (n === this.id)
      throw new TransportConfigError("id", `cannot add the local member ${this.hex} as a peer`);
    const us = parseUrls(urls, "urls");
    if (this.stopped) throw new RaftHttpError(RaftHttpErrorCode.Stopped, "transport stopped");
    if (this.peers.has(n)) return;
    const p = new Peer(this, n, us);
    this.peers.set(n, p);
    if (this.started) p.start();
    this.logger.info(`rafthttp: added peer ${p.hex} ${urls.join(",")}`);
  }

  /** Stops and forgets a peer; resolves when its connections are closed. */
  async removePeer(id: MemberId): Promise<void> {
    const n = toNodeId(id, "id");
    const p = this.peers.get(n);
    if (p === undefined) {
      this.logger.warning(`rafthttp: skipped removing already removed peer ${formatId(n)}`);
      return;
    }
    this.peers.delete(n);
    await p.stop();
    this.logger.info(`rafthttp: removed peer ${p.hex}`);
  }

  async removeAllPeers(): Promise<void> {
    await Promise.all([...this.peers.keys()].map((id) => this.removePeer(id)));
  }

  /** Replaces a peer's URLs (the picker restarts at the first one). */
  updatePeer(id: MemberId, urls: readonly string[]): void {
    const n = toNodeId(id, "id");
    const us = parseUrls(urls, "urls");
    const p = this.peers.get(n);
    if (p === undefined) return;
    p.update(us);
    this.logger.info(`rafthttp: updated peer ${p.hex} ${urls.join(",")}`);
  }

  /** When the peer became active, or null while it is inactive or unknown. */
  activeSince(id: MemberId): Date | null {
    const p = this.peers.get(toNodeId(id, "id"));
    return p === undefined || p.status.since === 0 ? null : new Date(p.status.since);
  }

  /** Number of peers currently active. */
  activePeers(): number {
    let n = 0;
    for (const p of this.peers.values()) if (p.status.active) n++;
    return n;
  }

  /** Fault injection: drop everything to and from a peer (all peers without an id). */
  pause(id?: MemberId): void {
    this.setPaused(id, true);
  }

  resume(id?: MemberId): void {
    this.setPaused(id, false);
  }

  private setPaused(id: MemberId | undefined, paused: boolean): void {
    if (id === undefined) {
      for (const p of this.peers.values()) p.paused = paused;
      for (const r of this.remotes.values()) r.paused = paused;
      return;
    }
    const n = toNodeId(id, "id");
    const p = this.peers.get(n) ?? this.remotes.get(n);
    if (p !== undefined) p.paused = paused;
  }

  peer(id: bigint): Peer | undefined {
    return this.peers.get(id);
  }

  /**
   * Whether an unknown sender is a member the cluster knows and we do not
   * yet: a member added while this one was down or behind (it cannot catch
   * up if it refuses the new leader). Our known peers vouch for it through
   * their `GET /members`; a forged ID is in nobody's membership. Asking is
   * rate-limited and asynchronous: the sender's next attempt is let in.
   */
  vouched(id: bigint): boolean {
    const at = this.vouches.get(id);
    if (at !== undefined && this.clock() - at < VOUCH_TTL_MS) return true;
    const now = this.clock();
    if (now - this.lastVouchAsk >= VOUCH_ASK_INTERVAL_MS && this.peers.size > 0) {
      this.lastVouchAsk = now;
      void this.askVouches();
    }
    return false;
  }

  private async askVouches(): Promise<void> {
    for (const p of this.peers.values()) {
      for (const u of p.picker.urls) {
        try {
          const r = await this.client.exchange(u, "GET", "/members", {}, null);
          if (r.status !== 200) continue;
          const now = this.clock();
          for (const m of parseMembersList(r.body)) {
            if (m.id === this.id || this.peers.has(m.id) || this.raft.isIDRemoved(m.id)) continue;
            this.vouches.set(m.id, now);
            if (m.peerURLs.length > 0) this.learnRemote(m.id, m.peerURLs);
          }
          break;
        } catch {
          // Try the next URL or peer.
        }
      }
    }
  }

  counters(id: bigint): PeerCounters | undefined {
    return (this.peers.get(id) ?? this.remotes.get(id))?.counters;
  }

  /** Traffic counters, status, follower latency and probe results for every peer and remote. */
  stats(): TransportStats {
    const peers: Record<string, PeerStats> = {};
    for (const r of this.remotes.values()) peers[r.hex] = r.stats();
    for (const p of this.peers.values()) peers[p.hex] = p.stats();
    return { id: this.hex, clusterId: this.clusterHex, peers, refused: this.refused };
  }

  /** Stops everything; resolves when every socket and timer of the transport is gone. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
    const peers = [...this.peers.values()];
    this.peers.clear();
    for (const r of this.remotes.values()) r.stop();
    this.remotes.clear();
    await Promise.all(peers.map((p) => p.stop()));
    await this.client.close();
    await Promise.all(
      [...this.servers].map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
            for (const sock of this.sockets) sock.destroy();
          }),
      ),
    );
    this.servers.clear();
  }
}

/**
 * etcd's rafthttp Transport. Create it with the local member's identity and
 * the raft callbacks, call start(), serve handler() on the peer URL (or use
 * listen()), add peers, send() what raft produces, and stop() at the end.
 */
export class Transport {
  private readonly core: Core;

  constructor(opts: TransportOptions) {
    this.core = new Core(opts);
  }

  /** The local member ID. */
  get id(): bigint {
    return this.core.id;
  }

  /** The cluster ID in canonical hex. */
  get clusterId(): string {
    return this.core.clusterHex;
  }

  /** Starts the link heartbeat ticker and every peer added so far. Idempotent. */
  start(): void {
    this.core.start();
  }

  /**
   * The request handler for `/raft` and everything under it; use it as the
   * whole server (`http.createServer(t.handler())`) or call it for those paths.
   */
  handler(): (req: http.IncomingMessage, res: http.ServerResponse) => void {
    return this.core.handler();
  }

  /** Creates an http(s) server for handler() and listens on it; stop() closes it. */
  listen(port = 0, host = "127.0.0.1"): Promise<AddressInfo> {
    return this.core.listen(port, host);
  }

  /** Options for `https.createServer` from the TLS configuration (certificate, CA, client auth). */
  tlsServerOptions(): https.ServerOptions {
    return this.core.tlsServerOptions();
  }

  /** Makes an https server you created pick up rotated certificate files on new connections. */
  attachServer(server: https.Server): void {
    this.core.attachServer(server);
  }

  /** Re-reads the certificate files now; true when they changed. */
  reloadTls(): boolean {
    return this.core.reloadTls();
  }

  /** Sends messages; never blocks or throws. Messages with to = 0 or to an unknown member are dropped. */
  send(msgs: readonly Message[]): void {
    this.core.send(msgs);
  }

  /**
   * Sends a MsgSnap followed by the application's snapshot data on its own
   * POST. raft learns the outcome through reportSnapshot; the promise
   * resolves with it too (it never rejects).
   */
  sendSnapshot(snap: SnapshotMessage): Promise<SnapshotSendResult> {
    return this.core.sendSnapshot(snap);
  }

  /** Adds a member reached over the pipeline only (ignored if already a peer or remote). */
  addRemote(id: MemberId, urls: readonly string[]): void {
    this.core.addRemote(id, urls);
  }

  /** Adds a peer: streams, pipeline, snapshot sender, probers. Idempotent. */
  addPeer(id: MemberId, urls: readonly string[]): void {
    this.core.addPeer(id, urls);
  }

  /** Stops and forgets a peer; resolves when its connections are closed. */
  removePeer(id: MemberId): Promise<void> {
    return this.core.removePeer(id);
  }

  removeAllPeers(): Promise<void> {
    return this.core.removeAllPeers();
  }

  /** Replaces a peer's URLs (the URL picker restarts at the first one). */
  updatePeer(id: MemberId, urls: readonly string[]): void {
    this.core.updatePeer(id, urls);
  }

  /** When the peer became active, or null while it is inactive or unknown. */
  activeSince(id: MemberId): Date | null {
    return this.core.activeSince(id);
  }

  /** Number of peers currently active. */
  activePeers(): number {
    return this.core.activePeers();
  }

  /** Fault injection: drop everything to and from a peer (every peer without an id). */
  pause(id?: MemberId): void {
    this.core.pause(id);
  }

  resume(id?: MemberId): void {
    this.core.resume(id);
  }

  /** Traffic counters, status, follower latency and probe results per peer and remote. */
  stats(): TransportStats {
    return this.core.stats();
  }

  /** Stops everything; resolves when every socket and timer of the transport is gone. */
  stop(): Promise<void> {
    return this.core.stop();
  }
}
