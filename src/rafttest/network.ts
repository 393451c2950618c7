// An in-process network of RawNodes for tests of multi-node properties. Each
// node has its own MemoryStorage and a toy state machine (the list of applied
// payloads); messages travel through one queue that the test drives, with
// seeded random loss per link, partitions and optional reordering. Everything
// is deterministic for a given seed; nothing here uses timers or Node APIs.

import type { ReadState } from "../raft/index.ts";
import {
  type Config,
  discardLogger,
  isLocalMsgTarget,
  MemoryStorage,
  RaftError,
  type RandomSource,
  RawNode,
  type Ready,
  SeededRandom,
  SnapshotStatus,
  StateType,
} from "../raft/index.ts";
import {
  ConfState,
  decodeConfChange,
  decodeConfChangeV2,
  type Entry,
  EntryType,
  HardState,
  isEmptyHardState,
  isEmptySnap,
  LocalAppendThread,
  LocalApplyThread,
  type Message,
  MessageType,
  None,
  Snapshot,
  SnapshotMetadata,
  sortIds,
  utf8,
} from "../raftpb/index.ts";

/** Per-node overrides of the raft Config (id and storage are always the network's). */
export type NodeConfig = Partial<Omit<Config, "id" | "storage">>;

export interface NetworkOptions {
  /** Voters of the initial configuration (default [1, 2, 3]). */
  voters?: readonly bigint[];
  /** Learners of the initial configuration. */
  learners?: readonly bigint[];
  /** Seed of the network's randomness (loss, reordering) and of each node's election timeouts. */
  seed?: number;
  /** Config applied to every node, or a function giving each node's config. */
  config?: NodeConfig | ((id: bigint) => NodeConfig);
  /**
   * Rewrites the messages of each Ready before they are queued (synchronous
   * storage mode only), as a host may (tsraft/host folds them: coalesce.ts).
   */
  outbox?: (msgs: readonly Message[]) => readonly Message[];
}

/** One member of the network with its storage and state machine. */
export class NetworkNode {
  readonly id: bigint;
  readonly rawNode: RawNode;
  readonly storage: MemoryStorage;
  /** Every entry this node applied, in order (entries covered by a restored snapshot are not included). */
  readonly appliedEntries: Entry[] = [];
  /** The state machine: the payloads of applied normal entries, including those restored from snapshots. */
  state: Uint8Array[] = [];
  /** The membership after the latest applied conf change or snapshot. */
  confState: ConfState;
  /** Index and term of the last applied entry or snapshot. */
  appliedIndex = 0;
  appliedTerm = 0;
  /** Snapshots this node restored, in order. */
  readonly restoredSnapshots: Snapshot[] = [];
  /** Every ReadState this node's Readies returned, in order. */
  readStates: ReadState[] = [];
  /** Every Ready this node handled (for assertions on the Ready contract). */
  readonly readies: Ready[] = [];
  /** Keep the Readies (off by default: they hold on to every message). */
  recordReadies = false;

  constructor(id: bigint, rawNode: RawNode, storage: MemoryStorage, confState: ConfState) {
    this.id = id;
    this.rawNode = rawNode;
    this.storage = storage;
    this.confState = confState;
  }

  get raft() {
    return this.rawNode.raft;
  }

  /** The state machine's payloads as strings (payloads are expected to be UTF-8 text). */
  data(): string[] {
    return this.state.map(decodeUtf8);
  }
}

/** A message that was not delivered, and why. */
export interface DroppedMessage {
  message: Message;
  reason: "cut" | "loss" | "filter" | "unknown-node";
}

/** A message that was delivered but refused by the recipient's step(). */
export interface RefusedMessage {
  message: Message;
  error: RaftError;
}

const linkKey = (from: bigint, to: bigint) => `${from}->${to}`;

/** Several RawNodes connected through a test-driven message queue. */
export class Network {
  readonly nodes = new Map<bigint, NetworkNode>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  readonly dropped: DroppedMessage[] = [];
  readonly refused: RefusedMessage[] = [];
  /** Every message delivered to a node, in order (local storage messages excluded). */
  readonly delivered: Message[] = [];
  /** Deliver each batch of queued messages in a seeded random order instead of send order. */
  reorder = false;
  private readonly rng: SeededRandom;
  private readonly seed: number;
  private readonly configOf: (id: bigint) => NodeConfig;
  private readonly cuts = new Set<string>();
  private readonly loss = new Map<string, number>();
  private readonly filters: Array<(m: Message) => boolean> = [];
  private readonly rewrites: Array<(m: Message) => Message | null> = [];
  private readonly outbox: (msgs: readonly Message[]) => readonly Message[];

  constructor(opts: NetworkOptions = {}) {
    this.seed = opts.seed ?? 1;
    this.outbox = opts.outbox ?? ((msgs) => msgs);
    this.rng = new SeededRandom(this.seed);
    const c = opts.config;
    this.configOf = typeof c === "function" ? c : () => c ?? {};
    const voters = opts.voters ?? [1n, 2n, 3n];
    const learners = opts.learners ?? [];
    for (const id of [...voters, ...learners]) {
      this.addNode(id, new ConfState([...voters], [...learners]));
    }
  }

  /**
   * Creates a node whose storage starts from `confState` at index 0 (the way
   * a cluster is bootstrapped), or empty when confState is null (a node that
   * waits to be sent a snapshot). Replaces a node of the same ID (a restart
   * with fresh storage); use restart() to keep the storage.
   */
  addNode(id: bigint, confState: ConfState | null, config: NodeConfig = {}): NetworkNode {
    const storage = new MemoryStorage();
    const cs = confState ?? new ConfState();
    if (confState !== null) storage.applySnapshot(new Snapshot(new Uint8Array(0), new SnapshotMetadata(cs)));
    const rawNode = new RawNode(this.configFor(id, storage, config));
    const node = new NetworkNode(id, rawNode, storage, cs);
    this.nodes.set(id, node);
    return node;
  }

  /**
   * Creates a node over an existing storage (for logs prepared by the test).
   * Its state machine starts at the storage's snapshot, or at config.applied.
   */
  addNodeWithStorage(id: bigint, storage: MemoryStorage, config: NodeConfig = {}): NetworkNode {
    const snap = storage.snapshot();
    const rawNode = new RawNode(this.configFor(id, storage, { applied: snap.metadata.index, ...config }));
    const node = new NetworkNode(id, rawNode, storage, snap.metadata.confState);
    node.state = decodeState(snap.data);
    // Entries up to config.applied count as applied already (their payloads are not replayed).
    node.appliedIndex = Math.max(snap.metadata.index, config.applied ?? 0);
    node.appliedTerm = storage.term(node.appliedIndex);
    this.nodes.set(id, node);
    return node;
  }

  /**
   * Restarts a node from its storage (losing its volatile state and any
   * undelivered messages to it); its state machine restarts from the latest
   * snapshot in storage and re-applies committed entries.
   */
  restart(id: bigint, config: NodeConfig = {}): NetworkNode {
    const node = this.addNodeWithStorage(id, this.node(id).storage, config);
    this.queue = this.queue.filter((m) => m.to !== id);
    return node;
  }

  /** Removes a node from the network (its queued messages are discarded). */
  removeNode(id: bigint): void {
    this.nodes.delete(id);
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
  }

  private configFor(id: bigint, storage: MemoryStorage, extra: NodeConfig): Config {
    return {
      electionTick: 10,
      heartbeatTick: 1,
      maxSizePerMsg: Number.POSITIVE_INFINITY,
      maxInflightMsgs: 256,
      logger: discardLogger,
      // Test IDs are small: Number(id) is exact, and keeps every seed's timeouts.
      random: new SeededRandom(this.seed * 1000 + Number(id)),
      ...this.configOf(id),
      ...extra,
      id,
      storage,
    };
  }

  node(id: bigint): NetworkNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id} in the network`);
    return n;
  }

  raft(id: bigint) {
    return this.node(id).rawNode.raft;
  }

  ids(): bigint[] {
    return sortIds(this.nodes.keys());
  }

  // ------------------------------------------------------------ faults

  /** Drops messages from `from` to `to` with the given probability (seeded); 0 restores the link. */
  drop(from: bigint, to: bigint, probability = 1): void {
    if (probability <= 0) this.loss.delete(linkKey(from, to));
    else this.loss.set(linkKey(from, to), probability);
  }

  /** Cuts both directions between a and b. */
  cut(a: bigint, b: bigint): void {
    this.cuts.add(linkKey(a, b));
    this.cuts.add(linkKey(b, a));
  }

  /** Cuts every link to and from `id`. */
  isolate(id: bigint): void {
    for (const other of this.ids()) if (other !== id) this.cut(id, other);
  }

  /** Splits the network into groups that only talk among themselves. */
  partition(...groups: bigint[][]): void {
    for (const g of groups)
      for (const h of groups) {
        if (g === h) continue;
        for (const a of g) for (const b of h) this.cut(a, b);
      }
  }

  /** Drops every message for which `pred` is true until heal(). */
  filter(pred: (m: Message) => boolean): void {
    this.filters.push(pred);
  }

  /** Replaces each message in flight by what `fn` returns (null drops it) until heal(). */
  rewrite(fn: (m: Message) => Message | null): void {
    this.rewrites.push(fn);
  }

  /** Restores every link: no cuts, losses, filters or rewrites. */
  heal(): void {
    this.cuts.clear();
    this.loss.clear();
    this.filters.length = 0;
    this.rewrites.length = 0;
  }

  // ------------------------------------------------------------ driving

  /** Ticks the given nodes (default: all) n times each, without handling Readies. */
  tick(ids: bigint | readonly bigint[] = this.ids(), n = 1): void {
    const list = typeof ids === "bigint" ? [ids] : ids;
    for (let i = 0; i < n; i++) for (const id of list) this.node(id).rawNode.tick();
  }

  /** Makes `id` campaign and runs the network until it is quiet. */
  campaign(id: bigint): void {
    this.node(id).rawNode.campaign();
    this.stabilize();
  }

  /** Campaigns `id` and asserts that it became leader. */
  elect(id: bigint): void {
    this.campaign(id);
    if (this.raft(id).lead !== id) throw new Error(`node ${id} failed to become leader`);
  }

  /** Proposes data at `id` (throws ErrProposalDropped), without running the network. */
  propose(id: bigint, data: string | Uint8Array): void {
    this.node(id).rawNode.propose(typeof data === "string" ? utf8(data) : data);
  }

  /** The current leader as seen by a majority-independent scan: the unique node in StateLeader at the highest term. */
  leader(): bigint {
    let best = None;
    let term = -1;
    for (const n of this.nodes.values()) {
      const r = n.raft;
      if (r.state === StateType.StateLeader && r.term > term) {
        best = n.id;
        term = r.term;
      }
    }
    return best;
  }

  /** Handles the Ready of one node, if it has one; returns whether it did. */
  processReady(id: bigint): boolean {
    const n = this.node(id);
    const rn = n.rawNode;
    if (!rn.hasReady()) return false;
    const rd = rn.ready();
    if (n.recordReadies) n.readies.push(rd);
    for (const rs of rd.readStates) n.readStates.push(rs);
    if (rn.asyncStorageWrites) {
      for (const m of rd.messages) {
        if (m.to === LocalAppendThread) this.runAppend(n, m);
        else if (m.to === LocalApplyThread) this.runApply(n, m);
        else this.queue.push(m);
      }
      return true;
    }
    persist(n, rd.hardState, rd.entries, rd.snapshot);
    apply(n, rd.committedEntries);
    for (const m of this.outbox(rd.messages)) {
      if (isLocalMsgTarget(m.to)) throw new Error("local message in synchronous mode");
      this.queue.push(m);
    }
    rn.advance();
    return true;
  }

  // The append "thread": persist, then release the responses (to peers and to ourselves).
  private runAppend(n: NetworkNode, m: Message): void {
    persist(n, new HardState(m.term, m.vote, m.commit), m.entries, m.snapshot);
    for (const r of m.responses) this.queue.push(r);
  }

  private runApply(n: NetworkNode, m: Message): void {
    apply(n, m.entries);
    for (const r of m.responses) this.queue.push(r);
  }

  /**
   * Delivers every message queued right now (not those sent in response),
   * subject to cuts, losses and filters; returns how many were delivered.
   * With `only`, delivers just the matching messages and keeps the rest queued.
   */
  deliver(only?: (m: Message) => boolean): number {
    let batch: Message[];
    if (only === undefined) {
      batch = this.queue;
      this.queue = [];
    } else {
      batch = [];
      const rest: Message[] = [];
      for (const m of this.queue) (only(m) ? batch : rest).push(m);
      this.queue = rest;
    }
    if (this.reorder) {
      // Local messages (storage responses, self-acks) keep their order; the rest is shuffled.
      const local = batch.filter((m) => isLocal(m));
      const remote = batch.filter((m) => !isLocal(m));
      shuffle(remote, this.rng);
      batch = [...local, ...remote];
    }
    let n = 0;
    for (const m of batch) if (this.deliverOne(m)) n++;
    return n;
  }

  private deliverOne(m: Message): boolean {
    for (const rw of this.rewrites) {
      if (isLocal(m)) break;
      const r = rw(m);
      if (r === null) {
        this.dropped.push({ message: m, reason: "filter" });
        return false;
      }
      m = r;
    }
    const target = this.nodes.get(m.to);
    if (target === undefined) {
      this.dropped.push({ message: m, reason: "unknown-node" });
      return false;
    }
    // Messages to and from the node itself (storage responses, self-acks) are local: never lost.
    if (!isLocal(m)) {
      const key = linkKey(m.from, m.to);
      let reason: DroppedMessage["reason"] | null = null;
      const p = this.loss.get(key);
      if (this.cuts.has(key)) reason = "cut";
      else if (p !== undefined && (p >= 1 || this.rng.intn(1_000_000) < p * 1_000_000)) reason = "loss";
      else if (this.filters.some((f) => f(m))) reason = "filter";
      if (reason !== null) {
        this.dropped.push({ message: m, reason });
        this.reportSnapshot(m, SnapshotStatus.SnapshotFailure);
        return false;
      }
      this.delivered.push(m);
    }
    try {
      target.rawNode.step(m);
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
      this.refused.push({ message: m, error: e });
    }
    this.reportSnapshot(m, SnapshotStatus.SnapshotFinish);
    return true;
  }

  // Like a transport, tell the sender of a snapshot whether it arrived.
  private reportSnapshot(m: Message, status: SnapshotStatus): void {
    if (m.type !== MessageType.MsgSnap) return;
    this.nodes.get(m.from)?.rawNode.reportSnapshot(m.to, status);
  }

  /**
   * Handles Readies and delivers messages until no node has a Ready and the
   * queue is empty. Throws if the network does not quiesce within maxRounds.
   */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      let busy = false;
      for (const id of this.ids()) if (this.processReady(id)) busy = true;
      if (this.queue.length > 0) {
        this.deliver();
        busy = true;
      }
      if (!busy) return;
    }
    throw new Error(`network did not stabilize within ${maxRounds} rounds`);
  }

  /** Ticks every node once and stabilizes, `n` times. */
  tickAndStabilize(n = 1, ids?: readonly bigint[]): void {
    for (let i = 0; i < n; i++) {
      this.tick(ids ?? this.ids());
      this.stabilize();
    }
  }

  /**
   * Makes a snapshot of `id`'s applied state at `index` (default: its applied
   * index) and compacts its log up to there.
   */
  compact(id: bigint, index?: number): Snapshot {
    const n = this.node(id);
    const i = index ?? n.appliedIndex;
    if (i > n.appliedIndex)
      throw new Error(`cannot snapshot unapplied index ${i} (applied ${n.appliedIndex})`);
    const upTo = n.appliedEntries.filter((e) => e.index <= i);
    // The state at i: what was applied up to i (the state machine may be ahead).
    const extra = n.appliedEntries.filter((e) => e.index > i && isPayload(e)).length;
    const state = n.state.slice(0, n.state.length - extra);
    const snap = n.storage.createSnapshot(i, confStateAt(n, upTo), encodeState(state));
    n.storage.compact(i);
    return snap;
  }

  /** The payloads applied by `id`, as strings. */
  appliedData(id: bigint): string[] {
    return this.node(id).data();
  }
}

function isLocal(m: Message): boolean {
  return m.from === m.to || isLocalMsgTarget(m.from);
}

function isPayload(e: Entry): boolean {
  return e.type === EntryType.EntryNormal && e.data.length > 0;
}

// The confState in effect after applying `upTo` (the node tracks only the latest one).
function confStateAt(n: NetworkNode, upTo: readonly Entry[]): ConfState {
  const later = n.appliedEntries.length > upTo.length;
  if (!later) return n.confState;
  // Replaying conf changes would need the state from before; be explicit instead.
  const pending = n.appliedEntries
    .slice(upTo.length)
    .some((e) => e.type === EntryType.EntryConfChange || e.type === EntryType.EntryConfChangeV2);
  if (pending) throw new Error("cannot snapshot below an applied conf change; snapshot at the applied index");
  return n.confState;
}

function persist(n: NetworkNode, hs: HardState, ents: readonly Entry[], snap: Snapshot | null): void {
  if (!isEmptySnap(snap)) {
    n.storage.applySnapshot(snap!);
    n.state = decodeState(snap!.data);
    n.confState = snap!.metadata.confState;
    n.appliedIndex = snap!.metadata.index;
    n.appliedTerm = snap!.metadata.term;
    n.restoredSnapshots.push(snap!);
  }
  n.storage.append(ents);
  if (!isEmptyHardState(hs)) n.storage.setHardState(hs);
}

function apply(n: NetworkNode, ents: readonly Entry[]): void {
  for (const e of ents) {
    if (e.index <= n.appliedIndex) throw new Error(`node ${n.id} re-applies index ${e.index}`);
    if (e.index !== n.appliedIndex + 1)
      throw new Error(`node ${n.id} applies index ${e.index} after ${n.appliedIndex}`);
    n.appliedEntries.push(e);
    n.appliedIndex = e.index;
    n.appliedTerm = e.term;
    switch (e.type) {
      case EntryType.EntryConfChange:
        n.confState = n.rawNode.applyConfChange(decodeConfChange(e.data));
        break;
      case EntryType.EntryConfChangeV2:
        n.confState = n.rawNode.applyConfChange(decodeConfChangeV2(e.data));
        break;
      default:
        if (e.data.length > 0) n.state.push(e.data);
    }
  }
}

function shuffle<T>(a: T[], rng: RandomSource): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.intn(i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

/** Length-prefixed concatenation of payloads (the snapshot format of the toy state machine). */
export function encodeState(state: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of state) size += 4 + p.length;
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of state) {
    out[o] = p.length >>> 24;
    out[o + 1] = (p.length >>> 16) & 0xff;
    out[o + 2] = (p.length >>> 8) & 0xff;
    out[o + 3] = p.length & 0xff;
    out.set(p, o + 4);
    o += 4 + p.length;
  }
  return out;
}

export function decodeState(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < b.length) {
    const len = ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
    out.push(b.slice(o + 4, o + 4 + len));
    o += 4 + len;
  }
  return out;
}

/** Decodes UTF-8 without TextDecoder (the core and its test helpers run in any JS engine). */
export function decodeUtf8(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    let cp: number;
    let n: number;
    if (c < 0x80) [cp, n] = [c, 1];
    else if (c < 0xe0) [cp, n] = [c & 0x1f, 2];
    else if (c < 0xf0) [cp, n] = [c & 0x0f, 3];
    else [cp, n] = [c & 0x07, 4];
    for (let k = 1; k < n; k++) cp = (cp << 6) | (b[i + k]! & 0x3f);
    s += String.fromCodePoint(cp);
    i += n;
  }
  return s;
}

/** A message type filter for Network.filter(). */
export function ofType(...types: MessageType[]): (m: Message) => boolean {
  const set = new Set<MessageType>(types);
  return (m) => set.has(m.type);
}
