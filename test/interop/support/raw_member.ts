// A tsraft member that joins a group of real etcd members at the raft level:
// tsraft's Node, DiskStorage and Transport, nothing else. Its state machine
// only records the entries it applies; conf changes go back to raft and
// update the Transport's peers from the member JSON etcd puts in each
// ConfChange's context. It joins as a new etcd member does: the member is
// added with `etcdctl member add` (etcd assigns the ID), then it reads the
// cluster ID and the members from an etcd peer's `GET /members` and starts
// raft with an empty log (the leader replicates it).
//
// What an etcd server does beyond raft it does not do: it never publishes
// its name, never applies requests, never takes snapshots of its own (it
// can pass on one it received from etcd, with etcd's database; any other
// MsgSnap is reported failed), and serves none of the etcd-server peer APIs
// but /version and /members.

import { createReadStream, statSync } from "node:fs";
import * as http from "node:http";
import type { Socket } from "node:net";
import { join } from "node:path";
import type { Logger } from "../../../src/index.ts";
import {
  type Node,
  restartNode,
  SnapshotStatus,
  StateType,
  type Status,
  startNode,
} from "../../../src/raft/index.ts";
import {
  encodeMembersJson,
  type PeerMember,
  type RaftReceiver,
  Transport,
  type TransportStats,
} from "../../../src/rafthttp/index.ts";
import {
  type ConfChange,
  ConfChangeType,
  ConfState,
  decodeConfChange,
  decodeConfChangeV2,
  type Entry,
  EntryType,
  formatId,
  type Message,
  MessageType,
  type SnapshotMetadata,
} from "../../../src/raftpb/index.ts";
import { DiskStorage } from "../../../src/storage/index.ts";
import { parseJsonBig } from "./etcd.ts";

/** One applied entry, as recorded by the state machine. */
export interface AppliedEntry {
  index: number;
  term: number;
  type: number;
  data: Uint8Array;
}

/** The member JSON etcd 3.4 stores in a ConfChange's context (membership.ConfigChangeContext). */
interface MemberContext {
  id: string;
  peerURLs?: string[];
  name?: string;
  clientURLs?: string[];
  isLearner?: boolean;
  isPromote?: boolean;
}

function memberContext(b: Uint8Array): MemberContext | undefined {
  if (b.length === 0) return undefined;
  try {
    return parseJsonBig<MemberContext>(new TextDecoder().decode(b));
  } catch {
    return undefined;
  }
}

/** The cluster as an etcd peer's `GET /members` shows it. */
export async function fetchCluster(peerUrl: string): Promise<{ clusterId: bigint; members: PeerMember[] }> {
  const res = await fetch(`${peerUrl}/members`, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`GET ${peerUrl}/members: ${res.status}`);
  const cid = res.headers.get("x-etcd-cluster-id");
  if (cid === null) throw new Error(`GET ${peerUrl}/members: no X-Etcd-Cluster-ID`);
  type Raw = { id: string; name?: string; peerURLs?: string[]; clientURLs?: string[]; isLearner?: boolean };
  const members = parseJsonBig<Raw[]>(await res.text()).map(
    (m): PeerMember => ({
      id: BigInt(m.id),
      name: m.name ?? "",
      peerURLs: m.peerURLs ?? [],
      clientURLs: m.clientURLs ?? [],
      isLearner: m.isLearner === true,
    }),
  );
  return { clusterId: BigInt(`0x${cid}`), members };
}

/** Keeps the last lines of the transport's and raft's logs, for failure messages. */
class RingLogger implements Logger {
  readonly lines: string[] = [];
  private add(level: string, msg: string): void {
    this.lines.push(`${new Date().toISOString()} ${level} ${msg}`);
    if (this.lines.length > 400) this.lines.splice(0, 100);
  }
  debug(): void {}
  info(msg: string): void {
    this.add("INFO", msg);
  }
  warning(msg: string): void {
    this.add("WARN", msg);
  }
  error(msg: string): void {
    this.add("ERROR", msg);
  }
  fatal(msg: string): never {
    this.add("FATAL", msg);
    throw new Error(msg);
  }
  panic(msg: string): never {
    this.add("PANIC", msg);
    throw new Error(msg);
  }
}

export interface RawMemberOptions {
  id: bigint;
  clusterId: bigint;
  /** The membership read from an etcd peer's /members. */
  members: PeerMember[];
  dataDir: string;
  port: number;
  /** X-Server-Version and /version (use the etcd cluster's version). */
  serverVersion: string;
  tickMs?: number;
  /**
   * Bootstrap a new cluster with `members` (as etcd does with
   * --initial-cluster-state new): raft starts with one ConfChangeAddNode per
   * member, sorted by ID, each carrying the member's JSON. Otherwise the
   * member joins an existing cluster with an empty log.
   */
  bootstrap?: boolean;
}

export class RawMember {
  readonly id: bigint;
  readonly hex: string;
  readonly clusterId: bigint;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly log = new RingLogger();
  /** The membership as this member knows it (from /members, then from conf changes). */
  readonly members = new Map<bigint, PeerMember>();
  readonly removed = new Set<bigint>();
  readonly applied: AppliedEntry[] = [];
  readonly snapshots: SnapshotMetadata[] = [];
  appliedIndex = 0;
  confState = new ConfState();
  /** GET /version requests served (etcd's leader polls every 4 s). */
  versionRequests = 0;
  /** When the peer port last started listening (ms since epoch). */
  listeningSince = 0;
  /** MsgSnap raft asked us to send without an etcd backend database for it (reported failed). */
  refusedSnapshots = 0;
  /** Set when the loop failed; every wait reports it. */
  failure: Error | null = null;
  transport!: Transport;
  storage!: DiskStorage;
  private readonly opts: RawMemberOptions;
  private node: Node | null = null;
  private server: http.Server | null = null;
  private readonly sockets = new Set<Socket>();
  private ticker: NodeJS.Timeout | null = null;
  private loop: Promise<void> = Promise.resolve();
  private peersAdded = false;
  private waiters: Array<() => void> = [];

  constructor(opts: RawMemberOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.hex = formatId(opts.id);
    this.clusterId = opts.clusterId;
    this.peerUrl = `http://127.0.0.1:${opts.port}`;
    this.dataDir = opts.dataDir;
    for (const m of opts.members) this.members.set(m.id, m);
  }

  get running(): boolean {
    return this.node !== null;
  }

  status(): Status {
    if (this.node === null) throw new Error("raw member is stopped");
    return this.node.status();
  }

  get isLeader(): boolean {
    return this.node !== null && this.node.status().softState.raftState === StateType.StateLeader;
  }

  stats(): TransportStats {
    return this.transport.stats();
  }

  /**
   * Opens (or reopens) the storage, starts raft and serves the peer port.
   * With `addPeers: false` the transport knows no peer yet: etcd's streams
   * to us are refused (404, unknown sender) and traffic in both directions
   * goes over the pipeline (POST /raft), the senders being learnt as remotes
   * from X-PeerURLs. addPeers() then adds every member as a peer.
   */
  async start(addPeers = true): Promise<void> {
    const o = this.opts;
    this.storage = await DiskStorage.open(this.dataDir, { logger: this.log });
    const raft: RaftReceiver = {
      process: (m: Message) => {
        const n = this.node;
        if (n === null) return;
        return n.step(m);
      },
      isIDRemoved: (id) => this.removed.has(id),
      reportUnreachable: (id) => this.node?.reportUnreachable(id),
      reportSnapshot: (id, s) => this.node?.reportSnapshot(id, s),
    };
    this.transport = new Transport({
      id: this.id,
      clusterId: this.clusterId,
      urls: [this.peerUrl],
      raft,
      serverVersion: o.serverVersion,
      logger: this.log,
      // etcd's merged snapshot: its backend database follows the MsgSnap.
      saveSnapshotData: async (m, data) => {
        await this.storage.snapshotter.saveDBFrom(data, m.snapshot!.metadata.index);
      },
      members: () => [...this.members.values()],
      // Like etcd: a member that starts without peers (addPeers: false)
      // answers the leader it does not know yet through a remote.
      acceptUnknownSenders: true,
    });
    const handler = this.transport.handler();
    const server = http.createServer({ requestTimeout: 0, noDelay: true }, (req, res) => {
      if (req.url === "/version") this.versionRequests++;
      handler(req, res);
    });
    server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.once("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(o.port, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.listeningSince = Date.now();
    this.peersAdded = false;
    // A joining member starts with no peers in raft: the leader sends it
    // the log (or a snapshot), conf changes included. A bootstrapping one
    // writes the initial configuration itself, as every etcd member of a
    // new cluster does (the same entries: term 1, indexes 1..n).
    const config = {
      id: this.id,
      electionTick: 10,
      heartbeatTick: 1,
      storage: this.storage,
      applied: this.storage.snapshot().metadata.index,
      // etcd 3.4's raft settings.
      checkQuorum: true,
      preVote: false,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 512,
      logger: this.log,
    };
    const node =
      o.bootstrap === true && this.storage.created
        ? startNode(
            config,
            [...this.members.values()]
              .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
              .map((m) => ({
                id: m.id,
                context: new TextEncoder().encode(encodeMembersJson([m]).slice(1, -2)),
              })),
          )
        : restartNode(config);
    this.node = node;
    const snap = this.storage.snapshot().metadata;
    this.appliedIndex = snap.index;
    this.confState = snap.confState;
    this.loop = this.run(node).catch((err: Error) => {
      this.failure = err;
      this.notify();
    });
    this.ticker = setInterval(() => node.tick(), o.tickMs ?? 100);
    if (addPeers) this.addPeers();
  }

  /** Adds every known member as a peer (streams, pipeline, probers) and starts the transport. */
  addPeers(): void {
    this.peersAdded = true;
    for (const m of this.members.values()) {
      if (m.id !== this.id && !this.removed.has(m.id) && m.peerURLs.length > 0) {
        this.transport.addPeer(m.id, m.peerURLs);
      }
    }
    this.transport.start();
  }

  /** Stops raft, the transport and the peer port, and closes the storage (a clean shutdown). */
  async stop(): Promise<void> {
    const node = this.node;
    if (node === null) return;
    this.node = null;
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
    await node.stop();
    await this.loop;
    await this.transport.stop();
    const server = this.server;
    this.server = null;
    if (server !== null) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of this.sockets) s.destroy();
      });
    }
    await this.storage.close();
  }

  transferLeadership(to: bigint): void {
    this.node!.transferLeadership(this.id, to);
  }

  private async run(node: Node): Promise<void> {
    for await (const rd of node.ready()) {
      await this.storage.save({
        hardState: rd.hardState,
        entries: rd.entries,
        snapshot: rd.snapshot,
        mustSync: rd.mustSync,
      });
      if (rd.snapshot !== null && rd.snapshot.metadata.index > 0)
        await this.applySnapshot(rd.snapshot.metadata);
      const out: Message[] = [];
      for (const m of rd.messages) {
        if (m.type === MessageType.MsgSnap) this.sendSnapshot(node, m);
        else out.push(m);
      }
      this.transport.send(out);
      for (const e of rd.committedEntries) this.apply(node, e);
      node.advance();
      this.notify();
    }
  }

  /**
   * etcd expects its backend database after the MsgSnap. We have one only
   * for a snapshot we received from etcd (saved as `<index>.snap.db`): then
   * we pass it on, as etcd would; otherwise the send is reported failed.
   */
  private sendSnapshot(node: Node, m: Message): void {
    const index = m.snapshot?.metadata.index ?? 0;
    let db: string;
    try {
      db = this.storage.snapshotter.dbFilePath(index);
    } catch {
      this.refusedSnapshots++;
      node.reportSnapshot(m.to, SnapshotStatus.SnapshotFailure);
      return;
    }
    void this.transport.sendSnapshot({ message: m, body: createReadStream(db), size: statSync(db).size });
  }

  private apply(node: Node, e: Entry): void {
    this.applied.push({ index: e.index, term: e.term, type: e.type, data: e.data.slice() });
    this.appliedIndex = e.index;
    if (e.type === EntryType.EntryConfChange) {
      const cc = decodeConfChange(e.data);
      this.confState = node.applyConfChange(cc);
      this.membershipChanged(cc);
    } else if (e.type === EntryType.EntryConfChangeV2) {
      this.confState = node.applyConfChange(decodeConfChangeV2(e.data));
    }
  }

  /** etcd's ConfChange: the member JSON in `context` names the peer URLs. */
  private membershipChanged(cc: ConfChange): void {
    const id = cc.nodeId;
    const ctx = memberContext(cc.context);
    const old = this.members.get(id);
    switch (cc.type) {
      case ConfChangeType.ConfChangeAddNode:
      case ConfChangeType.ConfChangeAddLearnerNode:
      case ConfChangeType.ConfChangeUpdateNode: {
        const m: PeerMember = {
          id,
          name: ctx?.name ?? old?.name ?? "",
          peerURLs: ctx?.peerURLs ?? old?.peerURLs ?? [],
          clientURLs: ctx?.clientURLs ?? old?.clientURLs ?? [],
          isLearner:
            cc.type === ConfChangeType.ConfChangeUpdateNode
              ? (old?.isLearner ?? false)
              : cc.type === ConfChangeType.ConfChangeAddLearnerNode,
        };
        this.members.set(id, m);
        if (id === this.id || !this.peersAdded || m.peerURLs.length === 0) break;
        if (old === undefined || this.transport.stats().peers[formatId(id)]?.isPeer !== true) {
          this.transport.addPeer(id, m.peerURLs);
        } else if (old.peerURLs.join(",") !== m.peerURLs.join(",")) {
          this.transport.updatePeer(id, m.peerURLs);
        }
        break;
      }
      case ConfChangeType.ConfChangeRemoveNode:
        this.members.delete(id);
        this.removed.add(id);
        if (id !== this.id) void this.transport.removePeer(id);
        break;
    }
  }

  /** A snapshot from the leader replaced our state: take the membership from an etcd peer. */
  private async applySnapshot(md: SnapshotMetadata): Promise<void> {
    this.snapshots.push(md);
    this.appliedIndex = md.index;
    this.confState = md.confState;
    const inConf = new Set([...md.confState.voters, ...md.confState.learners]);
    for (const m of [...this.members.values()]) {
      if (m.id === this.id || m.peerURLs.length === 0 || !inConf.has(m.id)) continue;
      try {
        const { members } = await fetchCluster(m.peerURLs[0]!);
        for (const x of members) this.members.set(x.id, x);
        for (const x of [...this.members.keys()]) {
          if (!inConf.has(x)) {
            this.members.delete(x);
            this.removed.add(x);
            if (x !== this.id) void this.transport.removePeer(x);
          }
        }
        for (const x of this.members.values()) {
          if (x.id !== this.id && this.peersAdded && x.peerURLs.length > 0)
            this.transport.addPeer(x.id, x.peerURLs);
        }
        return;
      } catch {}
    }
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves once `check` holds (checked after every Ready); rejects after `ms` or if the loop failed. */
  async until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.failure !== null) throw new Error(`raw member failed: ${this.failure.stack}`);
      if (check()) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out after ${ms} ms waiting for the tsraft member: ${what}\n--- its last log lines:\n${this.log.lines.slice(-40).join("\n")}`,
        );
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** The snapshot directory DiskStorage uses. */
  get snapDir(): string {
    return join(this.dataDir, "snap");
  }
}
