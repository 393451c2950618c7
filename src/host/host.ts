// Host: one member of one raft group, running the user's state machine.
//
// The host owns everything between raft and the application: the durable
// log (DiskStorage: etcd's WAL and snapshot formats), the peer transport
// (etcd's rafthttp), the Ready loop, matching applied entries to waiting
// proposals, batched ReadIndex reads, snapshots and log compaction, snapshot
// transfer, membership changes with etcd's safety checks, and shutdown.
//
// The Ready loop, in order, for each Ready (etcd's raftexample/etcdserver
// order, which is what makes acknowledged writes durable):
//   1. the leader sends its messages first: it may persist in parallel with
//      its followers (Raft thesis §10.2.1); a follower must not;
//   2. persist hard state, entries and snapshot (fsync when raft says so);
//   3. restore a received snapshot into the state machine;
//   4. a follower sends its messages (acks only for what is now durable);
//   5. apply committed entries, answer the proposals they carry, release
//      reads waiting for them; maybe take a snapshot;
//   6. advance.
//
// Invariants the rest of the file relies on:
//  - `applied` is the index of the last entry whose effect is in the state
//    machine; it only grows, except when a snapshot replaces the state (then
//    it jumps to the snapshot's index).
//  - A waiter for request R of this member is answered at most once, by the
//    entry carrying (this member's ID, R): request IDs never repeat on a
//    member, across restarts too (request_ids.ts).
//  - A snapshot written at index I describes exactly the state after I: the
//    image is fixed synchronously at `applied === I`, and the membership and
//    ConfState saved with it are those in effect at I.

import { EventEmitter } from "node:events";
import { createReadStream, existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  DefaultLogger,
  ErrProposalDropped,
  ErrSnapOutOfDate,
  ErrStopped,
  type Logger,
  LogLevel,
  type Node,
  RaftError,
  ReadOnlyOption,
  type Ready,
  restartNode,
  SnapshotStatus,
  startNode,
} from "../raft/index.ts";
import { ProcessError, RaftHttpError, RaftHttpErrorCode, Transport } from "../rafthttp/index.ts";
import {
  asV2,
  ConfChange,
  type ConfChangeI,
  ConfChangeType,
  type ConfState,
  decodeConfChange,
  decodeConfChangeV2,
  Entry,
  EntryType,
  encodeConfChange,
  formatId,
  HardState,
  isEmptySnap,
  type Message,
  MessageType,
  Snapshot,
  SnapshotMetadata,
} from "../raftpb/index.ts";
import { SnapError } from "../snap/index.ts";
import { DiskStorage } from "../storage/index.ts";
import { isCorruption, readWalMetadata, WalError, WalErrorCode } from "../wal/index.ts";
import { durableCommittedPrefix, isLoneWrite } from "./apply_order.ts";
import { coalesceMessages } from "./coalesce.ts";
import { DeadlineList } from "./deadlines.ts";
import { decodeEnvelope, EntryKind, encodeEnvelope } from "./envelope.ts";
import { HostError, HostErrorCode } from "./errors.ts";
import { decodeWalMetadata, encodeWalMetadata, initialIdentity, newMemberId } from "./ids.ts";
import { joinFromPeers } from "./join.ts";
import { encodeMemberContext, Membership } from "./membership.ts";
import { HostMetrics } from "./metrics.ts";
import { guarded, ReadBatcher, type SweptDeadline } from "./reads.ts";
import { plantedBug, RequestIds } from "./request_ids.ts";
import { TickClock } from "./ticker.ts";
import type {
  AppliedCommand,
  FollowerProgress,
  HostConfig,
  HostEvents,
  HostStatus,
  MemberInfo,
  ProposeOptions,
  ReadOptions,
  SnapshotPolicy,
  StateMachine,
} from "./types.ts";

const STATE_NAMES = ["follower", "candidate", "leader", "pre-candidate"] as const;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** etcd's defaults. */
export const hostDefaults = {
  tickMs: 100,
  electionTicks: 10,
  heartbeatTicks: 1,
  initialClusterToken: "etcd-cluster",
  snapshot: { count: 100_000, catchUpEntries: 5_000 } satisfies SnapshotPolicy,
};

/** A learner may be promoted once its log is within this fraction of the leader's (etcd: 90%). */
const LEARNER_READY_FRACTION = 0.9;
/** /health turns false when the state machine has not advanced for this long while behind the commit index. */
const APPLY_STUCK_MS = 5_000;

interface Waiter {
  resolve(r: unknown): void;
  reject(e: Error): void;
}

/** How long a leader must have seen at most one local proposal waiting before it syncs a lone write inline. */
const SOLO_WRITER_MS = 20;

/**
 * One member of a raft group running the application's state machine
 * (docs/host.md): it runs the raft loop, the WAL and snapshots under
 * `dataDir`, the peer transport, proposals answered exactly once, reads and
 * membership changes. `R` is what apply returns per command, `Q`/`QR` a read
 * query and its answer. Lifecycle: construct, start(), use, stop(); to
 * restart, construct a new Host on the same `dataDir`. Failures are
 * HostErrors; events are listed in HostEvents.
 */
export class Host<R = unknown, Q = never, QR = never> extends EventEmitter<HostEvents> {
  /** The configuration as given (defaults are applied where it is read, see `hostDefaults`). */
  readonly cfg: HostConfig<R, Q, QR>;
  /** Where raft's and the host's log lines go (the config's `logger`, or a console logger at warn level). */
  readonly logger: Logger;
  /** Prometheus metrics under etcd's names (`metrics.registry` to expose them). */
  readonly metrics: HostMetrics;
  /** This member's ID, known once start() resolved (0n before). */
  id = 0n;
  /** The cluster's ID, known once start() resolved (0n before). */
  clusterId = 0n;
  /** The bound peer URL (with the real port when listenPeerURL had port 0). */
  peerURL = "";
  /** Settles when the host has stopped: resolves after stop() or removal, rejects on a fatal error. */
  readonly done: Promise<void>;

  private readonly sm: StateMachine<R, Q, QR>;
  private readonly policy: SnapshotPolicy;
  private readonly tickMs: number;
  private readonly electionTicks: number;
  private readonly now: () => number;
  private readonly ids: RequestIds;
  private readonly membership = new Membership();
  private readonly waiters = new Map<bigint, Waiter>();
  /** When (host clock) two or more local proposals last waited at once. */
  private concurrentAt = Number.NEGATIVE_INFINITY;
  /** Deadlines of proposals and reads given `timeoutMs`, swept every tick. */
  private readonly deadlines = new DeadlineList();
  private readonly confWaiters = new Map<bigint, Waiter>();
  /** Members the transport has a peer for. */
  private readonly knownPeers = new Set<bigint>();
  private readonly reads: ReadBatcher;
  private node!: Node;
  private storage!: DiskStorage;
  private transport!: Transport;
  private peerServer: Server | null = null;
  private ticker: ReturnType<typeof setInterval> | null = null;
  private loop: Promise<void> | null = null;
  private snapshotting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  /** Set once this member learnt it was removed (it stops after removalLingerMs). */
  private retiring = false;
  private fatal: Error | null = null;
  private settleDone!: (err?: Error) => void;
  private confState: ConfState | null = null;
  private applied = 0;
  private commit = 0;
  private snapshotIndex = 0;
  private lead = 0n;
  private term = 0;
  private lastApplyProgressAt = 0;
  /** Set while an async StateMachine.apply is in progress. */
  private applying: Promise<void> | null = null;
  /** On-disk state machines: entries at or below this were applied before the restart. */
  private replayedUpTo = 0;

  /** Checks the configuration (HostError ERR_HOST_INVALID_ARGUMENT); touches no file and no socket. */
  constructor(cfg: HostConfig<R, Q, QR>) {
    super();
    this.cfg = cfg;
    this.sm = cfg.stateMachine;
    this.logger = cfg.logger ?? new DefaultLogger(LogLevel.Warn);
    this.metrics = new HostMetrics(cfg.metricsRegistry);
    this.policy = { ...hostDefaults.snapshot, ...cfg.snapshot };
    this.tickMs = cfg.tickMs ?? hostDefaults.tickMs;
    this.electionTicks = cfg.electionTicks ?? hostDefaults.electionTicks;
    this.now = cfg.now ?? Date.now;
    this.ids = new RequestIds(cfg.randomUint64);
    this.reads = new ReadBatcher({ readIndex: (ctx, signal) => this.node.readIndex(ctx, signal) }, (err) =>
      this.toHostError(err),
    );
    this.done = new Promise<void>((resolve, reject) => {
      this.settleDone = (err) => (err === undefined ? resolve() : reject(err));
    });
    // `done` is for whoever wants it; an unobserved rejection must not kill the process.
    this.done.catch(() => {});
    validateConfig(cfg, this.policy, this.tickMs, this.electionTicks);
  }

  // ------------------------------------------------------------------ lifecycle

  /**
   * Starts the member: finds out who it is (from the data directory, or the
   * initial cluster, or by joining), binds the peer listener before writing
   * anything (a port in use leaves the directory untouched), opens the WAL,
   * restores the last snapshot and starts raft.
   */
  async start(): Promise<void> {
    const cfg = this.cfg;
    const memberDir = join(cfg.dataDir, "member");
    const walDir = join(memberDir, "wal");
    const fresh = !hasMemberData(cfg.dataDir);
    const advertisePeer = cfg.advertisePeerURLs ?? [cfg.listenPeerURL];
    let bootstrap: MemberInfo[] | null = null;

    if (fresh) {
      // A WAL that vanished while snapshots remain is damage, not a new
      // member: starting with an empty log would forget acknowledged writes.
      const snapDir = join(memberDir, "snap");
      const snaps = existsSync(snapDir) ? readdirSync(snapDir).filter((n) => n.endsWith(".snap")) : [];
      if (snaps.length > 0) {
        throw new HostError(
          HostErrorCode.DamagedData,
          `${walDir} is missing or empty but ${snapDir} holds ${snaps.length} snapshot file(s): ` +
            "the data directory is damaged; refusing to start with an empty log",
        );
      }
    }
    if (!fresh) {
      const held = await readWalIdentity(walDir);
      if (cfg.initialClusterState !== "existing") {
        // The data directory decides who this member is, as in etcd (which
        // ignores the initial-cluster flags on a restart). What it must not
        // be is another cluster's: a member that joined later has an ID the
        // flags cannot derive (it includes the time it was added), but its
        // cluster ID is the one the initial members define.
        const expected = this.identityFromFlags();
        // ...and it must not be another initial member's (two data dirs swapped).
        const swapped =
          expected !== null &&
          held.nodeId !== expected.id &&
          expected.initial.some((m) => m.id === held.nodeId);
        if (expected !== null && (expected.clusterId !== held.clusterId || swapped)) {
          throw new HostError(
            HostErrorCode.DataDir,
            `data dir ${cfg.dataDir} belongs to member ${formatId(held.nodeId)} of cluster ${formatId(held.clusterId)}, ` +
              `but the flags describe member ${formatId(expected.id)} of cluster ${formatId(expected.clusterId)}; ` +
              "refusing to touch it",
          );
        }
      }
      this.id = held.nodeId;
      this.clusterId = held.clusterId;
    } else if (cfg.initialClusterState === "existing") {
      const joined =
        cfg.existingMembership ??
        (await joinFromPeers(
          cfg.initialCluster.filter((m) => m.name !== cfg.name).flatMap((m) => m.peerURLs),
          advertisePeer,
          cfg.peerTls,
        ));
      this.id = joined.id;
      this.clusterId = joined.clusterId;
      for (const m of joined.members) this.membership.set(m);
    } else {
      const ident = this.identityFromFlags();
      if (ident === null) {
        throw new HostError(
          HostErrorCode.InvalidArgument,
          `name ${JSON.stringify(cfg.name)} is not in the initial cluster`,
        );
      }
      this.id = ident.id;
      this.clusterId = ident.clusterId;
      bootstrap = ident.initial;
      for (const m of bootstrap) this.membership.set(m);
    }

    this.transport = new Transport({
      id: this.id,
      clusterId: this.clusterId,
      urls: advertisePeer,
      logger: this.logger,
      tls: cfg.peerTls,
      raft: {
        // The listener is bound before raft starts: answer 503 until it has.
        process: (m) => {
          if (this.node === undefined) throw new ProcessError(503, "member is starting");
          return this.node.step(m);
        },
        isIDRemoved: (id) => this.membership.isRemoved(id),
        reportUnreachable: (id) => this.node.reportUnreachable(id),
        reportSnapshot: (id, status) => this.node.reportSnapshot(id, status),
      },
      // etcd's peer endpoints: a joining member (etcd's or ours) reads the
      // membership here, and peers vouch for members we do not know yet.
      members: () => this.membership.list(),
      saveSnapshotData: async (m, data) => {
        await this.storage.snapshotter.saveDBFrom(data, m.snapshot!.metadata.index);
      },
      // A peer that applied our removal refuses us (403/410): that is a
      // removal too, and lingers like one; anything else is fatal.
      onCriticalError: (err) =>
        err instanceof RaftHttpError && err.code === RaftHttpErrorCode.MemberRemoved
          ? this.retire("a peer refused it as removed")
          : this.failFatal(err),
    });
    this.metrics.attachTransport(() => this.transport?.stats());

    // Bind before the data directory is created or written.
    await this.listenPeer(cfg.listenPeerURL);

    mkdirSync(memberDir, { recursive: true, mode: 0o700 });
    try {
      this.storage = await DiskStorage.open(memberDir, {
        metadata: encodeWalMetadata(this.id, this.clusterId),
        unsafeNoFsync: cfg.unsafeNoFsync === true,
        segmentSize: cfg.walSegmentSize,
        logger: this.logger,
      });
    } catch (err) {
      await this.closePeerServer();
      throw this.storageOpenError(err, walDir);
    }

    if (cfg.forceNewCluster === true && !fresh) await this.forceNewCluster();

    const snap = this.storage.snapshot();
    try {
      if (!isEmptySnap(snap)) await this.restoreFromSnapshot(snap, "local");
    } catch (err) {
      await this.closePeerServer();
      await this.storage.close().catch(() => {});
      throw err;
    }
    this.confState = this.storage.initialState().confState;
    if (this.sm.persistedIndex !== undefined) this.replayedUpTo = this.sm.persistedIndex();

    const raftConfig = {
      id: this.id,
      electionTick: this.electionTicks,
      heartbeatTick: cfg.heartbeatTicks ?? hostDefaults.heartbeatTicks,
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
      readOnlyOption: cfg.readOnlyOption ?? ReadOnlyOption.ReadOnlySafe,
      // Beyond etcd, on by default in the host: lease reads that are never
      // stale, and membership changes that cannot deadlock (docs/leases.md).
      // (Strict leases exist only with lease-based reads; raft refuses them otherwise.)
      leaseSafety:
        cfg.leaseSafety ?? (cfg.readOnlyOption === ReadOnlyOption.ReadOnlyLeaseBased ? "strict" : "etcd"),
      ...(cfg.leaseDriftMarginTicks !== undefined
        ? { leaseDriftMarginTicks: cfg.leaseDriftMarginTicks }
        : {}),
      shareCommitInVotes: cfg.shareCommitInVotes ?? true,
      // The Raft paper's election clock: a refused vote does not postpone
      // our own campaign (matters when PreVote is off on a peer).
      keepClockOnRejectedVote: true,
      logger: this.logger,
    };
    this.node =
      bootstrap !== null
        ? startNode(
            raftConfig,
            bootstrap.map((m) => ({ id: m.id, context: encodeMemberContext(m) })),
          )
        : restartNode(raftConfig);
    for (const m of this.membership.list()) if (m.id !== this.id) this.addPeer(m);
    this.transport.start();
    this.lastApplyProgressAt = this.now();
    this.loop = this.runLoop();
    // With strict leases every elapsed tick is delivered, even after a stall
    // (ticker.ts); otherwise one tick per timer callback, as etcd's ticker.
    const strict = raftConfig.leaseSafety === "strict";
    const clock = new TickClock(this.tickMs, performance.now());
    this.ticker = setInterval(() => {
      const n = strict ? clock.due(performance.now()) : 1;
      for (let i = 0; i < n; i++) this.node.tick();
      this.deadlines.sweep(this.now());
    }, this.tickMs);
    // etcd's --initial-election-tick-advance: start with the election clock
    // almost run down, so a cluster elects within one randomized timeout of
    // starting instead of one to two. Safe with PreVote: a member that
    // campaigns while a leader exists is refused by the members that hear it.
    // Not with strict leases: a member restarts holding the promise it may
    // have made before it went down (an election timeout of its ticks), and
    // ticking it away at start would let it vote for a new leader while the
    // old one still serves reads from its lease.
    if (cfg.initialElectionTickAdvance !== false && !strict) {
      for (let i = 0; i < this.electionTicks - 1; i++) this.node.tick();
    }
    this.publishAttributes();
    this.logger.info(
      `host: member ${formatId(this.id)} of cluster ${formatId(this.clusterId)} started at ${this.peerURL}`,
    );
  }

  /**
   * etcd's restartAsStandaloneNode: drop the uncommitted tail of the log,
   * then append, as committed entries, the removal of every other member, so
   * that raft restarts with this member as the only voter. Nothing committed
   * is lost: the removals come after the commit index, and applying them is
   * what every member would have done had the cluster agreed.
   */
  private async forceNewCluster(): Promise<void> {
    const st = this.storage.initialState();
    const hs = st.hardState;
    const cs = st.confState;
    const snapIndex = this.storage.snapshot().metadata.index;
    const commit = Math.max(hs.commit, snapIndex);
    const term = this.storage.term(commit);
    // The membership as of the commit index: the snapshot's, then every
    // committed conf change after it.
    const present = new Set([...cs.voters, ...cs.learners, ...cs.votersOutgoing, ...cs.learnersNext]);
    const voters = new Set(cs.voters);
    const logged =
      commit > snapIndex ? this.storage.entries(snapIndex + 1, commit + 1, Number.MAX_SAFE_INTEGER) : [];
    for (const e of logged) {
      if (e.type !== EntryType.EntryConfChange && e.type !== EntryType.EntryConfChangeV2) continue;
      const changes =
        e.type === EntryType.EntryConfChange
          ? asV2(decodeConfChange(e.data)).changes
          : decodeConfChangeV2(e.data).changes;
      for (const c of changes) {
        if (c.type === ConfChangeType.ConfChangeRemoveNode) {
          present.delete(c.nodeId);
          voters.delete(c.nodeId);
        } else if (c.type === ConfChangeType.ConfChangeAddNode) {
          present.add(c.nodeId);
          voters.add(c.nodeId);
        } else if (c.type === ConfChangeType.ConfChangeAddLearnerNode) {
          present.add(c.nodeId);
          voters.delete(c.nodeId);
        }
      }
    }
    const others = [...present].filter((id) => id !== this.id);
    // Entries after the commit index may never have been agreed: they go.
    // Overwriting them from commit+1 truncates them in memory and, on replay,
    // in the WAL (a later record at a lower index replaces what follows).
    const ents = others.map(
      (id, i) =>
        new Entry(
          term,
          commit + 1 + i,
          EntryType.EntryConfChange,
          encodeConfChange(new ConfChange(ConfChangeType.ConfChangeRemoveNode, id, new Uint8Array(0), 0n)),
        ),
    );
    if (!voters.has(this.id)) {
      const self = this.membership.get(this.id) ?? {
        id: this.id,
        name: this.cfg.name,
        peerURLs: this.cfg.advertisePeerURLs ?? [this.peerURL],
        clientURLs: [],
        isLearner: false,
      };
      ents.push(
        new Entry(
          term,
          commit + 1 + ents.length,
          EntryType.EntryConfChange,
          encodeConfChange(
            new ConfChange(
              ConfChangeType.ConfChangeAddNode,
              this.id,
              encodeMemberContext({ ...self, isLearner: false }),
            ),
          ),
        ),
      );
    }
    // With nobody to remove, an uncommitted tail may stay: a single voter
    // commits or overwrites it on its own, as any new leader would.
    if (ents.length === 0) return;
    const last = commit + ents.length;
    await this.storage.save({
      hardState: new HardState(hs.term, hs.vote, last),
      entries: ents,
      mustSync: true,
    });
    this.logger.warning(
      `host: forced a new cluster of one member (${formatId(this.id)}); removed ${others.map(formatId).join(", ") || "nobody"}; ` +
        `log kept up to commit ${commit}`,
    );
  }

  /**
   * Graceful shutdown: refuse new requests, give in-flight ones up to
   * `graceMs` to be answered, then stop raft, the transport and the WAL.
   * Idempotent; resolves when everything is closed.
   */
  stop(graceMs = 2000): Promise<void> {
    if (this.stopping === null) this.stopping = this.doStop(graceMs);
    return this.stopping;
  }

  private async doStop(graceMs: number): Promise<void> {
    if (this.ticker !== null) clearInterval(this.ticker);
    const inflight = [...this.waiters.values(), ...this.confWaiters.values()].length;
    if (inflight > 0 && this.node !== undefined && this.fatal === null) {
      const deadline = performance.now() + graceMs;
      while (this.waiters.size + this.confWaiters.size > 0 && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    await this.node?.stop();
    const err = new HostError(HostErrorCode.Stopped, "member is stopping");
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
    for (const w of this.confWaiters.values()) w.reject(err);
    this.confWaiters.clear();
    this.reads.failAll(err);
    await this.loop?.catch(() => {});
    await this.snapshotting;
    await this.transport?.stop();
    await this.closePeerServer();
    await this.storage?.close().catch(() => {});
    await this.sm.close?.().catch(() => {});
    this.settleDone(this.fatal ?? undefined);
  }

  /**
   * This member was removed from the cluster: it stops after
   * `removalLingerMs`, not at once. A remaining voter may hold the removal
   * entry without knowing it committed, and its configuration still counts
   * this member: it campaigns, and this member's refusal tells it the commit
   * (shareCommitInVotes). Gone at once, this member would leave it waiting
   * for a vote nobody gives (the simulator's rule for shutting down removed
   * members, made practical). Raft keeps running meanwhile; this member is in
   * no configuration of its own, so it never campaigns.
   */
  private retire(how: string): void {
    if (this.retiring || this.stopping !== null) return;
    this.retiring = true;
    const linger = this.cfg.removalLingerMs ?? 3 * this.electionTicks * this.tickMs;
    this.logger.warning(
      `host: this member (${formatId(this.id)}) was removed from the cluster (${how}); stopping in ${linger} ms`,
    );
    this.emit("removed");
    setTimeout(() => void this.stop(), linger);
  }

  private failFatal(err: Error): void {
    if (this.fatal !== null || this.stopping !== null) return;
    this.fatal =
      err instanceof HostError ? err : new HostError(HostErrorCode.Fatal, err.message, { cause: err });
    this.logger.error(`host: fatal: ${this.fatal.message}; stopping`);
    if (this.listenerCount("error") > 0) this.emit("error", this.fatal);
    void this.stop(0);
  }

  // ------------------------------------------------------------------ the Ready loop

  private async runLoop(): Promise<void> {
    try {
      for await (const rd of this.node.ready()) {
        await this.handleReady(rd);
        this.node.advance();
        if (this.stopping !== null) break;
      }
    } catch (err) {
      if (err !== ErrStopped && this.stopping === null) this.failFatal(err as Error);
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.hardState.term !== 0) this.term = rd.hardState.term;
    if (rd.hardState.commit > this.commit) this.commit = rd.hardState.commit;
    if (rd.softState !== null) this.onSoftState(rd.softState.lead, rd.softState.raftState === 2);
    const isLeader = this.lead === this.id;
    // Several MsgApps to one follower (one per proposal stepped, and commit
    // broadcasts between them) travel as one; coalesce.ts says why it is safe.
    const msgs = coalesceMessages(this.takeSnapshotMessages(rd.messages));
    const ce = rd.committedEntries;
    if (ce.length > 0) this.metrics.proposalsCommitted.set(ce[ce.length - 1]!.index);
    // Committed entries already durable here are applied while this Ready is
    // written and synced (a put is answered one fdatasync sooner); the rest
    // wait for the save. Which ones, and why: apply_order.ts.
    const early = durableCommittedPrefix(rd, this.storage.lastIndex());
    // A leader's Ready that only commits (no new entries, no snapshot): its
    // answers go out first, then its messages (the commit broadcast) and the
    // hard state's WAL write, which no client waits on. Sent first, those
    // put two socket writes and a file write before the answers, and the
    // followers' replies to the broadcast arrived in the very turn in which
    // HTTP/2 sends the answers' trailers, which end each call.
    const commitOnly =
      isLeader && rd.entries.length === 0 && early > 0 && early === ce.length && isEmptySnap(rd.snapshot);
    // A leader may send before it persists (raft's thesis, 10.2.1): the
    // followers then write in parallel with it.
    if (isLeader && !commitOnly) this.transport.send(msgs);
    // On a leader, only while one client writes at a time: no read waits,
    // and no two local proposals have waited at once for SOLO_WRITER_MS.
    // With more clients, a lone write in a lull would block the event loop
    // while the others' requests could be read and batched (under 90% reads
    // / 10% writes from 64 clients the leader spent 13% of its time in
    // inline syncs; 16 writers found a single waiting proposal often enough
    // to sync ~1 write in 60 inline).
    const inlineSync =
      this.cfg.inlineSync !== false &&
      isLoneWrite(rd, this.commit) &&
      (!isLeader ||
        (this.waiters.size <= 1 && this.reads.idle && this.now() - this.concurrentAt > SOLO_WRITER_MS));
    // An inline sync blocks the event loop: what is already durable is
    // applied (watchers notified, proposers answered) before it, and one
    // event-loop turn lets HTTP/2 put those answers on the wire (Node sends
    // a session's frames from a native immediate, which runs before any
    // setImmediate callback) before the loop waits on the disk. The same
    // order for a commit-only Ready, before its messages.
    const earlyFirst = (inlineSync && early > 0) || commitOnly;
    if (earlyFirst) {
      await this.applyEntries(early === ce.length ? ce : ce.slice(0, early));
      await new Promise<void>(setImmediate);
      if (commitOnly) {
        // One more turn: HTTP/2 sends a unary call's trailers (which end the
        // call) only in the turn after its data, once that write completed.
        await new Promise<void>(setImmediate);
        this.transport.send(msgs);
      }
    }
    const t0 = performance.now();
    let saving = this.storage.save({
      hardState: rd.hardState,
      entries: rd.entries,
      snapshot: rd.snapshot,
      mustSync: rd.mustSync,
      inlineSync,
    });
    if (rd.mustSync)
      saving = saving.then(() => this.metrics.walFsync.observe((performance.now() - t0) / 1000));
    if (early > 0 && !earlyFirst) {
      try {
        await this.applyEntries(early === ce.length ? ce : ce.slice(0, early));
      } catch (err) {
        saving.catch(noop); // the apply's failure is the one reported
        throw err;
      }
    }
    await saving;
    if (!isEmptySnap(rd.snapshot)) await this.restoreFromSnapshot(rd.snapshot!, "received");
    if (!isLeader) this.transport.send(msgs);
    if (early < ce.length) await this.applyEntries(ce);
    if (rd.readStates.length > 0) this.reads.onReadStates(rd.readStates);
    this.reads.onApplied(this.applied);
    this.maybeSnapshot();
  }

  private onSoftState(lead: bigint, isLeader: boolean): void {
    if (lead !== this.lead) {
      if (lead !== 0n) this.metrics.leaderChanges.inc();
      this.lead = lead;
      this.emit("leader", lead, this.term);
      // Reads waiting for a ReadIndex answer of the old term will not get one.
      if (lead === 0n || !isLeader) {
        this.reads.failInFlight(new HostError(HostErrorCode.NoLeader, "leader lost while serving the read"));
      }
    }
    this.metrics.hasLeader.set(lead !== 0n ? 1 : 0);
    this.metrics.isLeader.set(isLeader ? 1 : 0);
  }

  /**
   * Applies committed entries in order. Commands are handed to the state
   * machine in batches (one call per run of consecutive commands); conf
   * changes and host entries are applied between batches, so the state
   * machine and the membership advance in log order.
   */
  private async applyEntries(ents: readonly Entry[]): Promise<void> {
    let batch: AppliedCommand[] = [];
    let owners: Array<Waiter | undefined> = [];
    const flush = async (upTo: number): Promise<void> => {
      if (batch.length > 0) {
        const cmds = batch;
        const ws = owners;
        batch = [];
        owners = [];
        const t0 = performance.now();
        let results: readonly R[];
        try {
          const out = this.sm.apply(cmds);
          if (out instanceof Promise) {
            // An async apply (an on-disk state machine) is under way: reads
            // hold their query() until it is done (see read()).
            this.applying = out.then(noop, noop);
            try {
              results = await out;
            } finally {
              this.applying = null;
            }
          } else {
            results = out;
          }
        } catch (err) {
          throw new HostError(
            HostErrorCode.Fatal,
            `state machine apply failed at index ${cmds[0]!.index}: ${(err as Error).message}`,
            { cause: err },
          );
        }
        this.metrics.applyDuration.observe((performance.now() - t0) / 1000);
        if (results.length !== cmds.length) {
          throw new HostError(
            HostErrorCode.Fatal,
            `state machine apply returned ${results.length} results for ${cmds.length} commands`,
          );
        }
        for (let i = 0; i < ws.length; i++) ws[i]?.resolve(results[i]);
      }
      this.setApplied(upTo);
    };
    for (const e of ents) {
      if (e.index <= this.applied) continue;
      switch (e.type) {
        case EntryType.EntryNormal: {
          if (e.data.length === 0) break; // a new leader's empty entry
          let env: ReturnType<typeof decodeEnvelope>;
          try {
            env = decodeEnvelope(e.data);
          } catch (err) {
            // Every member skips it alike, so the state machines stay identical.
            this.logger.error(`host: skipping undecodable entry ${e.index}: ${(err as Error).message}`);
            break;
          }
          if (env.kind === EntryKind.Attributes) {
            await flush(e.index - 1);
            this.applyAttributes(env.proposer, env.body);
            break;
          }
          if (e.index <= this.replayedUpTo) break; // already in an on-disk state machine
          let owner: Waiter | undefined;
          if (env.proposer === this.id) {
            owner = this.waiters.get(env.requestId);
            if (owner !== undefined) {
              // Two proposals waited at once until this moment, not just when
              // the second arrived: after a round slower than SOLO_WRITER_MS
              // answers many clients, their next writes come one by one.
              if (this.waiters.size >= 2) this.concurrentAt = this.now();
              this.waiters.delete(env.requestId);
            }
          }
          batch.push({ index: e.index, term: e.term, data: env.body });
          owners.push(owner);
          break;
        }
        case EntryType.EntryConfChange:
          await flush(e.index - 1);
          this.applyConfChange(decodeConfChange(e.data));
          break;
        case EntryType.EntryConfChangeV2:
          await flush(e.index - 1);
          this.applyConfChange(decodeConfChangeV2(e.data));
          break;
      }
    }
    await flush(ents[ents.length - 1]!.index);
    this.metrics.proposalsPending.set(this.waiters.size);
  }

  private setApplied(index: number): void {
    if (index <= this.applied) return;
    this.applied = index;
    this.lastApplyProgressAt = this.now();
    this.metrics.proposalsApplied.set(index);
    this.reads.onApplied(index);
    this.emit("applied", index);
  }

  private applyConfChange(cc: ConfChangeI): void {
    this.confState = this.node.applyConfChange(cc);
    if (!(cc instanceof ConfChange)) {
      this.emit("membership", this.membership.list());
      return;
    }
    const change = this.membership.apply(cc);
    const m = change.member;
    if (m !== undefined && m.id !== this.id) {
      if (this.knownPeers.has(m.id)) this.transport.updatePeer(m.id, m.peerURLs);
      else this.addPeer(m);
    }
    if (m !== undefined && m.id === this.id) this.metrics.isLearner.set(m.isLearner ? 1 : 0);
    const w = this.confWaiters.get(cc.id);
    if (w !== undefined) {
      this.confWaiters.delete(cc.id);
      w.resolve(undefined);
    }
    this.emit("membership", this.membership.list());
    if (change.removedId !== undefined) {
      if (change.removedId === this.id) {
        this.retire("its removal was applied");
      } else if (this.knownPeers.delete(change.removedId)) {
        void this.transport.removePeer(change.removedId).catch(() => {});
      }
    }
  }

  private applyAttributes(proposer: bigint, body: Uint8Array): void {
    let a: { name?: unknown; clientURLs?: unknown };
    try {
      a = JSON.parse(dec.decode(body));
    } catch {
      return;
    }
    const name = typeof a.name === "string" ? a.name : "";
    const urls = Array.isArray(a.clientURLs)
      ? a.clientURLs.filter((u): u is string => typeof u === "string")
      : [];
    if (this.membership.setAttributes(proposer, name, urls) !== undefined) {
      this.emit("membership", this.membership.list());
    }
  }

  // ------------------------------------------------------------------ snapshots

  /**
   * Restores the membership and the state machine from a snapshot: the
   * membership travels in the raft snapshot's data, the state machine's
   * image in `<index>.snap.db` next to it (written by our own snapshot, or
   * by the transport when the leader sent one).
   */
  private async restoreFromSnapshot(snap: Snapshot, origin: "local" | "received"): Promise<void> {
    const md = snap.metadata;
    try {
      this.membership.restore(snap.data);
    } catch (err) {
      throw new HostError(
        HostErrorCode.DataDir,
        `snapshot at index ${md.index} has no host membership: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const onDisk = this.sm.persistedIndex !== undefined;
    if (!onDisk || origin === "received" || this.sm.persistedIndex!() < md.index) {
      let path: string;
      try {
        path = this.storage.snapshotter.dbFilePath(md.index);
      } catch (err) {
        throw new HostError(
          HostErrorCode.DataDir,
          `the state machine image of snapshot ${md.index} is missing: ${(err as Error).message}`,
          { cause: err },
        );
      }
      await this.sm.restore(createReadStream(path, { highWaterMark: 1 << 20 }), {
        index: md.index,
        term: md.term,
      });
    }
    this.applied = md.index;
    this.commit = Math.max(this.commit, md.index);
    this.snapshotIndex = md.index;
    this.confState = md.confState;
    this.lastApplyProgressAt = this.now();
    if (origin === "received") {
      for (const m of this.membership.list()) {
        if (m.id !== this.id && !this.knownPeers.has(m.id)) this.addPeer(m);
      }
      this.emit("membership", this.membership.list());
      this.reads.onApplied(this.applied);
    }
  }

  private addPeer(m: MemberInfo): void {
    if (m.peerURLs.length === 0) return;
    this.transport.addPeer(m.id, m.peerURLs);
    this.knownPeers.add(m.id);
  }

  /** Whether on-disk mode allows a snapshot at `index` (its effects must be durable there). */
  private snapshotable(index: number): boolean {
    return this.sm.persistedIndex === undefined || this.sm.persistedIndex() >= index;
  }

  /**
   * Every `policy.count` applied entries: fix the state machine's image at
   * `applied`, stream it to `<index>.snap.db`, then write the raft snapshot
   * (membership + ConfState) and compact the log, keeping
   * `policy.catchUpEntries` behind it. Runs in the background; the Ready loop
   * never waits for it.
   */
  private maybeSnapshot(): void {
    if (this.snapshotting !== null || this.confState === null || this.stopping !== null) return;
    if (this.applied - this.snapshotIndex < this.policy.count) return;
    const index = this.applied;
    if (!this.snapshotable(index)) return;
    const cs = this.confState;
    const meta = this.membership.encode();
    const image = this.sm.persistedIndex === undefined ? this.sm.snapshot() : null;
    const t0 = performance.now();
    let again = false;
    this.snapshotting = (async () => {
      try {
        if (image !== null) await this.storage.snapshotter.saveDBFrom(image, index);
        if (this.stopping !== null) return;
        await this.storage.createSnapshot(index, cs, meta);
        this.snapshotIndex = Math.max(this.snapshotIndex, index);
        const compactTo = index - this.policy.catchUpEntries;
        if (compactTo > this.storage.firstIndex()) this.storage.compact(compactTo);
        this.metrics.snapSave.observe((performance.now() - t0) / 1000);
        this.logger.info(
          `host: saved snapshot at index ${index}; compacted log up to ${Math.max(compactTo, 0)}`,
        );
        again = true;
      } catch (err) {
        // A snapshot received from the leader meanwhile makes ours obsolete.
        if (err !== ErrSnapOutOfDate && this.stopping === null)
          this.logger.error(`host: snapshot at ${index} failed: ${(err as Error).message}`);
      } finally {
        this.snapshotting = null;
      }
      // Entries applied while this snapshot was written may already call for
      // the next one; an idle cluster brings no Ready to notice it. (Not
      // after a failure: the next Ready retries, no sooner.)
      if (again) this.maybeSnapshot();
    })();
  }

  /**
   * raft's MsgSnap carries the latest stored snapshot, which may predate
   * members added since (a new member would reject it as not containing
   * itself). Like etcd, send the current applied state instead, with the
   * state machine's image streamed after the message (rafthttp's merged
   * snapshot). The image is fixed now, at `applied`.
   */
  private takeSnapshotMessages(msgs: Message[]): Message[] {
    let out: Message[] | null = null;
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      if (m.type !== MessageType.MsgSnap) {
        out?.push(m);
        continue;
      }
      if (out === null) out = msgs.slice(0, i);
      this.sendSnapshot(m);
    }
    return out ?? msgs;
  }

  private sendSnapshot(m: Message): void {
    const index = this.applied;
    const to = m.to;
    const snap = new Snapshot(
      this.membership.encode(),
      new SnapshotMetadata(this.confState ?? m.snapshot!.metadata.confState, index, this.storage.term(index)),
    );
    m.snapshot = snap;
    const image = this.sm.snapshot();
    // Spilled next to, not inside, the snap directory (whose reader would
    // warn about a file it does not know).
    const spillDir = join(this.cfg.dataDir, "member", "outgoing");
    const spill = join(spillDir, `${formatId(to)}-${index}.tmp`);
    void (async () => {
      let ok = false;
      try {
        const { mkdir, writeFile } = await import("node:fs/promises");
        await mkdir(spillDir, { recursive: true, mode: 0o700 });
        await writeFile(spill, image);
        const size = statSync(spill).size;
        const res = await this.transport.sendSnapshot({
          message: m,
          body: createReadStream(spill, { highWaterMark: 1 << 20 }),
          size,
        });
        ok = res.ok;
        if (!ok) this.logger.warning(`host: snapshot to ${formatId(to)} failed: ${res.error?.message}`);
      } catch (err) {
        this.logger.warning(`host: snapshot to ${formatId(to)} failed: ${(err as Error).message}`);
      } finally {
        rmSync(spill, { force: true });
        if (this.stopping === null) {
          this.node.reportSnapshot(to, ok ? SnapshotStatus.SnapshotFinish : SnapshotStatus.SnapshotFailure);
        }
      }
    })();
  }

  // ------------------------------------------------------------------ proposals

  /**
   * Proposes a command and resolves with the state machine's result once
   * the entry is applied on this member. On a follower raft forwards the
   * proposal to the leader. A Timeout (the signal fired) or Stopped answer
   * does not mean the command was not applied: it may still commit later.
   */
  propose(command: Uint8Array, opts: ProposeOptions = {}): Promise<R> {
    return this.proposeEnvelope(EntryKind.Command, command, opts) as Promise<R>;
  }

  private proposeEnvelope(kind: EntryKind, body: Uint8Array, opts: ProposeOptions): Promise<unknown> {
    const refusal = this.refusal(opts.waitForLeader === true);
    if (refusal !== null) return Promise.reject(refusal);
    let deadline: SweptDeadline | undefined;
    try {
      deadline = this.sweptDeadline(opts.timeoutMs);
    } catch (err) {
      return Promise.reject(err);
    }
    const id = this.ids.take();
    const data = encodeEnvelope(kind, this.id, id, body);
    const signal = opts.signal;
    const p = guarded<unknown>(
      signal,
      "request timed out; it may still be applied",
      (resolve, reject) => {
        this.waiters.set(id, { resolve, reject });
        if (this.waiters.size >= 2) this.concurrentAt = this.now();
      },
      deadline,
    );
    this.metrics.proposalsPending.set(this.waiters.size);
    // The node holds proposals made while it knows no leader until one is
    // elected; only those need a signal to leave its queue when the deadline
    // passes (with a leader, the node takes a proposal on its next turn).
    // That timer only empties the queue: a Node timer counts from the event
    // loop's cached time and can fire before timeoutMs has passed, so the
    // caller is answered by the swept deadline, which never fires early.
    const queueTimer =
      signal === undefined && deadline !== undefined && this.lead === 0n
        ? AbortSignal.timeout(opts.timeoutMs!)
        : undefined;
    this.node.propose(data, signal ?? queueTimer).catch((err: unknown) => {
      if (queueTimer?.aborted === true) return; // the swept deadline answers
      const w = this.waiters.get(id);
      if (w === undefined) return;
      this.waiters.delete(id);
      this.metrics.proposalsPending.set(this.waiters.size);
      this.metrics.proposalsFailed.inc();
      w.reject(this.toHostError(err));
    });
    return p.catch((err: unknown) => {
      // A timed-out request leaves its waiter: drop it so the map stays bounded.
      if (this.waiters.delete(id)) {
        this.metrics.proposalsPending.set(this.waiters.size);
        this.metrics.proposalsFailed.inc();
      }
      throw err;
    });
  }

  /**
   * The swept deadline of a wait bounded by `timeoutMs` (undefined: none).
   * Throws InvalidArgument for a value that is not a finite number >= 0.
   */
  private sweptDeadline(timeoutMs: number | undefined): SweptDeadline | undefined {
    if (timeoutMs === undefined) return undefined;
    if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new HostError(
        HostErrorCode.InvalidArgument,
        `timeoutMs must be a finite number >= 0, got ${timeoutMs}`,
      );
    }
    return { list: this.deadlines, at: this.now() + timeoutMs };
  }

  private refusal(waitForLeader: boolean): HostError | null {
    if (this.stopping !== null || this.node === undefined)
      return new HostError(HostErrorCode.Stopped, "member is stopping");
    // A leader that was just removed drops what it is sent: treat it as none.
    if (!waitForLeader && (this.lead === 0n || !this.membership.has(this.lead))) {
      return new HostError(HostErrorCode.NoLeader, "no leader elected; retry shortly");
    }
    return null;
  }

  // ------------------------------------------------------------------ reads

  /**
   * Waits until a read starting now may run against the local state:
   * linearizable (default) takes a batched ReadIndex round and waits for
   * this member to apply up to it; serializable returns at once (the local
   * state may be stale).
   */
  async barrier(opts: ReadOptions = {}): Promise<void> {
    if ((opts.consistency ?? "linearizable") === "serializable") return;
    if (plantedBug("stale-read")) return;
    const refusal = this.refusal(false);
    if (refusal !== null) throw refusal;
    const deadline = this.sweptDeadline(opts.timeoutMs);
    const index = await this.reads.readIndex(opts.signal, deadline);
    await this.reads.waitApplied(index, this.applied, opts.signal, deadline);
  }

  /** Runs the state machine's query after barrier(). */
  async read(q: Q, opts: ReadOptions = {}): Promise<QR> {
    if (this.sm.query === undefined) {
      throw new HostError(HostErrorCode.InvalidArgument, "the state machine has no query method");
    }
    await this.barrier(opts);
    // The state machine's methods never run concurrently: a query waits for
    // an async apply in progress (and any that starts before it runs).
    while (this.applying !== null) await this.applying;
    return this.sm.query(q);
  }

  // ------------------------------------------------------------------ membership

  /** The applied membership as this member knows it (a copy, in ID order). */
  members(): MemberInfo[] {
    return this.membership.list();
  }

  /**
   * Adds a member (a voter, or a learner with `learner: true`) and resolves
   * with it once the change is applied here. Its ID is derived from its
   * peer URLs and the time, as etcd's `member add` does. With strict
   * reconfiguration (default), adding a voter is refused unless the voters
   * that would result include a quorum of members started and heard from.
   */
  async addMember(
    peerURLs: string[],
    opts: { name?: string; learner?: boolean; clientURLs?: string[]; signal?: AbortSignal } = {},
  ): Promise<MemberInfo> {
    if (peerURLs.length === 0)
      throw new HostError(HostErrorCode.InvalidArgument, "a member needs a peer URL");
    const taken = this.membership.byPeerURL(peerURLs);
    if (taken !== undefined) {
      throw new HostError(
        HostErrorCode.MemberExists,
        `peer URL already used by member ${formatId(taken.id)}`,
      );
    }
    const learner = opts.learner === true;
    if (!learner) this.checkQuorumAfter(+1, undefined);
    // A removed ID is never used again (etcd refuses it: ErrIDRemoved): a peer that applied the
    // removal refuses that ID as removed, for good, which would retire the new member. The same URLs
    // added again within the same second derive it again, so the first later second's ID is taken.
    let at = this.now();
    let id = newMemberId(peerURLs, at);
    while (this.membership.isRemoved(id)) id = newMemberId(peerURLs, (at += 1000));
    const m: MemberInfo = {
      id,
      name: opts.name ?? "",
      peerURLs,
      clientURLs: opts.clientURLs ?? [],
      isLearner: learner,
    };
    const type = learner ? ConfChangeType.ConfChangeAddLearnerNode : ConfChangeType.ConfChangeAddNode;
    await this.proposeConfChange(new ConfChange(type, id, encodeMemberContext(m)), opts.signal);
    return this.membership.get(id) ?? m;
  }

  /** Promotes a learner to voter; it must be caught up with the leader (run on the leader). */
  async promoteMember(id: bigint, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const m = this.membership.get(id);
    if (m === undefined) throw new HostError(HostErrorCode.MemberNotFound, `no member ${formatId(id)}`);
    if (!m.isLearner)
      throw new HostError(HostErrorCode.NotLearner, `member ${formatId(id)} is not a learner`);
    this.requireLeader();
    const st = this.node.status();
    const pr = st.progress?.get(id);
    const leaderMatch = st.progress?.get(this.id)?.match ?? 0;
    if (pr === undefined || pr.match < leaderMatch * LEARNER_READY_FRACTION) {
      throw new HostError(
        HostErrorCode.LearnerNotReady,
        `learner ${formatId(id)} is not caught up with the leader yet (match ${pr?.match ?? 0} of ${leaderMatch})`,
      );
    }
    this.checkQuorumAfter(+1, undefined, id);
    const promoted: MemberInfo = { ...m, isLearner: false };
    await this.proposeConfChange(
      new ConfChange(ConfChangeType.ConfChangeAddNode, id, encodeMemberContext(promoted)),
      opts.signal,
    );
  }

  /** Replaces a member's peer URLs (ConfChangeUpdateNode); its ID stays. */
  async updateMember(id: bigint, peerURLs: string[], opts: { signal?: AbortSignal } = {}): Promise<void> {
    const m = this.membership.get(id);
    if (m === undefined) throw new HostError(HostErrorCode.MemberNotFound, `no member ${formatId(id)}`);
    if (peerURLs.length === 0)
      throw new HostError(HostErrorCode.InvalidArgument, "a member needs a peer URL");
    const taken = this.membership.byPeerURL(peerURLs);
    if (taken !== undefined && taken.id !== id) {
      throw new HostError(
        HostErrorCode.MemberExists,
        `peer URL already used by member ${formatId(taken.id)}`,
      );
    }
    await this.proposeConfChange(
      new ConfChange(ConfChangeType.ConfChangeUpdateNode, id, encodeMemberContext({ ...m, peerURLs })),
      opts.signal,
    );
  }

  /**
   * Removes a member. Refused for the last voter, and (strict
   * reconfiguration) when the remaining voters would not include a quorum of
   * members started and heard from.
   */
  async removeMember(id: bigint, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const m = this.membership.get(id);
    if (m === undefined) throw new HostError(HostErrorCode.MemberNotFound, `no member ${formatId(id)}`);
    if (!m.isLearner) {
      if (this.membership.voters().length <= 1) {
        throw new HostError(
          HostErrorCode.LastVoter,
          `member ${formatId(id)} is the last voter; removing it would leave no cluster`,
        );
      }
      this.checkQuorumAfter(-1, id);
    }
    await this.proposeConfChange(new ConfChange(ConfChangeType.ConfChangeRemoveNode, id), opts.signal);
  }

  /**
   * etcd's strict reconfiguration check (isReadyToAddVotingMember /
   * isReadyToRemoveVotingMember): count the voters that are started and
   * heard from (this member, plus peers whose streams are active) among the
   * voters the change would leave, and refuse unless they are a quorum of
   * them. A new voter is not started yet, so adding one to a cluster with a
   * member down (or an unreachable new one) is refused before it can take
   * the quorum away.
   */
  private checkQuorumAfter(delta: 1 | -1, removing: bigint | undefined, promoting?: bigint): void {
    if (this.cfg.strictReconfigCheck === false) return;
    const voters = this.membership.voters().filter((v) => v.id !== removing);
    const size = voters.length + (delta > 0 ? 1 : 0);
    let started = 0;
    for (const v of voters) {
      if (v.id === this.id || this.transport.activeSince(v.id) !== null) started++;
    }
    // A learner being promoted is already running: it counts if we hear it.
    if (promoting !== undefined && this.transport.activeSince(promoting) !== null) started++;
    const quorum = Math.floor(size / 2) + 1;
    if (started < quorum) {
      throw new HostError(
        HostErrorCode.UnsafeReconfiguration,
        `refusing: after the change ${started} of ${size} voters would be reachable, fewer than a quorum of ${quorum}`,
      );
    }
  }

  private async proposeConfChange(cc: ConfChange, signal: AbortSignal | undefined): Promise<void> {
    const refusal = this.refusal(false);
    if (refusal !== null) throw refusal;
    if (this.confWaiters.size > 0) {
      throw new HostError(HostErrorCode.ConfChangeInFlight, "another membership change is in flight; retry");
    }
    cc.id = this.ids.take();
    // raft drops a conf change while another is pending and logs it; the
    // signal (default: a few election timeouts) bounds the wait.
    const deadline = signal ?? AbortSignal.timeout(this.tickMs * this.electionTicks * 5);
    const p = guarded<unknown>(
      deadline,
      "membership change timed out; it may still be applied",
      (resolve, reject) => {
        this.confWaiters.set(cc.id, { resolve, reject });
      },
    );
    this.node.proposeConfChange(cc, deadline).catch((err: unknown) => {
      const w = this.confWaiters.get(cc.id);
      if (w === undefined) return;
      this.confWaiters.delete(cc.id);
      w.reject(this.toHostError(err));
    });
    try {
      await p;
    } finally {
      this.confWaiters.delete(cc.id);
    }
  }

  /**
   * Hands leadership to `to` and resolves once it leads. Must run on the
   * leader: elsewhere it fails with NotLeader naming the leader, for the
   * caller to forward.
   */
  async transferLeader(to: bigint, opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (!this.membership.has(to))
      throw new HostError(HostErrorCode.MemberNotFound, `no member ${formatId(to)}`);
    if (this.lead === to) return;
    this.requireLeader();
    this.node.transferLeadership(this.id, to);
    const deadline = this.now() + this.tickMs * this.electionTicks * 3;
    while (this.lead !== to) {
      if (this.now() > deadline || opts.signal?.aborted || this.stopping !== null) {
        throw new HostError(HostErrorCode.Timeout, `leadership transfer to ${formatId(to)} did not complete`);
      }
      await new Promise((r) => setTimeout(r, this.tickMs));
    }
  }

  private requireLeader(): void {
    const refusal = this.refusal(false);
    if (refusal !== null) throw refusal;
    if (this.lead !== this.id) {
      throw new HostError(HostErrorCode.NotLeader, `not the leader; the leader is ${formatId(this.lead)}`, {
        leaderId: this.lead,
      });
    }
  }

  /** Publishes this member's name and client URLs through raft once a leader exists (etcd's publish). */
  private publishAttributes(): void {
    const urls = this.cfg.advertiseClientURLs ?? [];
    const body = enc.encode(JSON.stringify({ name: this.cfg.name, clientURLs: urls }));
    const attempt = async () => {
      if (this.stopping !== null) return;
      const m = this.membership.get(this.id);
      if (m !== undefined && m.name === this.cfg.name && sameList(m.clientURLs, urls)) return;
      if (this.lead !== 0n) {
        try {
          await this.proposeEnvelope(EntryKind.Attributes, body, { signal: AbortSignal.timeout(5000) });
        } catch {
          // Retried below until the attributes show up in the membership.
        }
      }
      setTimeout(() => void attempt(), this.tickMs * 5).unref();
    };
    void attempt();
  }

  // ------------------------------------------------------------------ status

  /** The known leader (0n: none). */
  leader(): bigint {
    return this.lead;
  }

  /** The latest term this member has seen. */
  currentTerm(): number {
    return this.term;
  }

  /** Whether this member is a learner in the applied membership. */
  isLearner(): boolean {
    return this.membership.get(this.id)?.isLearner === true;
  }

  /** Log index of the last entry applied to the state machine. */
  appliedIndex(): number {
    return this.applied;
  }

  /** This member's raft state, membership and (on the leader) followers' progress, as of now. */
  status(): HostStatus {
    const st = this.node.status();
    let progress: FollowerProgress[] | undefined;
    if (st.progress !== null) {
      progress = [...st.progress.entries()]
        .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
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
      id: this.id,
      name: this.cfg.name,
      clusterId: this.clusterId,
      leader: st.softState.lead,
      term: st.hardState.term,
      vote: st.hardState.vote,
      commit: st.hardState.commit,
      applied: this.applied,
      raftState: STATE_NAMES[st.softState.raftState]!,
      isLearner: this.membership.get(this.id)?.isLearner ?? false,
      progress,
      members: this.membership.list(),
      snapshotIndex: this.snapshotIndex,
    };
  }

  /** Transport statistics (per peer), for dashboards. */
  transportStats() {
    return this.transport.stats();
  }

  /**
   * Why this member cannot serve right now, or null when it can: stopping,
   * no leader, or the state machine stuck behind the commit index.
   */
  unhealthyReason(): string | null {
    if (this.stopping !== null) return "stopping";
    if (this.lead === 0n) return "no leader";
    if (this.applied < this.commit && this.now() - this.lastApplyProgressAt > APPLY_STUCK_MS) {
      return `applied index ${this.applied} stuck behind commit ${this.commit}`;
    }
    return null;
  }

  // ------------------------------------------------------------------ plumbing

  /** Member and cluster IDs as the initial cluster defines them; null if this member is not in it. */
  private identityFromFlags(): { id: bigint; clusterId: bigint; initial: MemberInfo[] } | null {
    const cfg = this.cfg;
    return initialIdentity(
      cfg.initialCluster,
      cfg.initialClusterToken ?? hostDefaults.initialClusterToken,
      cfg.name,
    );
  }

  private async listenPeer(u: string): Promise<void> {
    const url = new URL(u);
    const https = url.protocol === "https:";
    const handler = this.transport.handler();
    const server = https
      ? createHttpsServer(this.transport.tlsServerOptions(), handler)
      : createHttpServer(handler);
    if (https) this.transport.attachServer(server as import("node:https").Server);
    server.requestTimeout = 0;
    const port = Number(url.port || (https ? 443 : 80));
    try {
      const addr = await new Promise<AddressInfo>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, url.hostname, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      });
      this.peerServer = server;
      this.peerURL = `${url.protocol}//${url.hostname}:${addr.port}`;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new HostError(
        HostErrorCode.Listen,
        e.code === "EADDRINUSE"
          ? `peer URL ${u}: port ${port} is already in use`
          : `peer URL ${u}: cannot listen: ${e.message}`,
        { cause: err },
      );
    }
  }

  private closePeerServer(): Promise<void> {
    const server = this.peerServer;
    this.peerServer = null;
    if (server === null) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 500).unref();
    });
  }

  private storageOpenError(err: unknown, walDir: string): Error {
    if (err instanceof WalError && err.code === WalErrorCode.Locked) {
      return new HostError(
        HostErrorCode.DataDirLocked,
        `another process holds ${this.cfg.dataDir} (${walDir} is locked)`,
        {
          cause: err,
        },
      );
    }
    if (err instanceof WalError && err.code === WalErrorCode.MetadataMismatch) {
      return new HostError(
        HostErrorCode.DataDir,
        `${this.cfg.dataDir} belongs to another member or cluster`,
        { cause: err },
      );
    }
    if (isDamage(err)) {
      return new HostError(
        HostErrorCode.DamagedData,
        `damaged data in ${this.cfg.dataDir}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    return new HostError(HostErrorCode.DataDir, `cannot open ${walDir}: ${(err as Error).message}`, {
      cause: err,
    });
  }

  private toHostError(err: unknown): Error {
    if (err instanceof HostError) return err;
    if (err === ErrProposalDropped)
      return new HostError(HostErrorCode.ProposalDropped, "proposal dropped; retry");
    if (err === ErrStopped) return new HostError(HostErrorCode.Stopped, "member is stopping");
    const name = (err as Error)?.name;
    if (name === "AbortError" || name === "TimeoutError") {
      return new HostError(HostErrorCode.Timeout, "request timed out; it may still be applied");
    }
    if (err instanceof RaftError) return new HostError(HostErrorCode.Fatal, err.message, { cause: err });
    return err instanceof Error ? err : new Error(String(err));
  }
}

function noop(): void {}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function validateConfig(
  cfg: HostConfig<unknown, unknown, unknown>,
  policy: SnapshotPolicy,
  tickMs: number,
  electionTicks: number,
): void {
  const bad = (what: string) => new HostError(HostErrorCode.InvalidArgument, what);
  if (typeof cfg.name !== "string" || cfg.name === "") throw bad("name must be a non-empty string");
  if (typeof cfg.dataDir !== "string" || cfg.dataDir === "") throw bad("dataDir must be a non-empty path");
  if (!Number.isSafeInteger(tickMs) || tickMs <= 0) throw bad("tickMs must be a positive integer");
  const hb = cfg.heartbeatTicks ?? hostDefaults.heartbeatTicks;
  if (!Number.isSafeInteger(electionTicks) || electionTicks <= hb) {
    throw bad("electionTicks must be an integer greater than heartbeatTicks");
  }
  if (!Number.isSafeInteger(policy.count) || policy.count <= 0)
    throw bad("snapshot.count must be a positive integer");
  if (!Number.isSafeInteger(policy.catchUpEntries) || policy.catchUpEntries < 0) {
    throw bad("snapshot.catchUpEntries must be a non-negative integer");
  }
  if (
    cfg.removalLingerMs !== undefined &&
    (!Number.isSafeInteger(cfg.removalLingerMs) || cfg.removalLingerMs < 0)
  ) {
    throw bad("removalLingerMs must be a non-negative integer");
  }
  for (const u of [cfg.listenPeerURL, ...(cfg.advertisePeerURLs ?? [])]) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw bad(`not a URL: ${u}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw bad(`peer URLs use http or https: ${u}`);
  }
  if (
    cfg.initialClusterState !== undefined &&
    cfg.initialClusterState !== "new" &&
    cfg.initialClusterState !== "existing"
  ) {
    throw bad(
      `initialClusterState must be "new" or "existing", not ${JSON.stringify(cfg.initialClusterState)}`,
    );
  }
}

/** Whether a start-up error means the WAL or snapshot files are damaged (as opposed to unusable). */
function isDamage(err: unknown): boolean {
  if (err instanceof SnapError) return true;
  return err instanceof WalError && (err.code === WalErrorCode.SnapshotNotFound || isCorruption(err));
}

/**
 * The member and cluster IDs recorded in an existing WAL's metadata
 * (read-only): the head of the first segment, not the log, since the full
 * read follows at once in DiskStorage.open, which reports any damage in the
 * log with its file and offset.
 */
async function readWalIdentity(walDir: string): Promise<{ nodeId: bigint; clusterId: bigint }> {
  try {
    return decodeWalMetadata(await readWalMetadata(walDir));
  } catch (err) {
    throw new HostError(
      isDamage(err) ? HostErrorCode.DamagedData : HostErrorCode.DataDir,
      `cannot read the member identity from ${walDir}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * Whether `dataDir` already holds a member's log (a non-empty `member/wal`).
 * Such a member restarts as who its WAL says it is; the bootstrap and join
 * settings only apply to an empty directory (etcd ignores them likewise).
 */
export function hasMemberData(dataDir: string): boolean {
  const walDir = join(dataDir, "member", "wal");
  return existsSync(walDir) && readdirSync(walDir).length > 0;
}
