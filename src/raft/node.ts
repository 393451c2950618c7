// Node: the asynchronous, event-loop driven API around RawNode, for
// applications that want raft to run "on its own" the way etcd's Node runs on
// its own goroutine. Inputs (messages, ticks, proposals) are queued by the
// methods below and consumed by a loop that runs on the event loop in turns of
// bounded work: each turn steps at most TURN_BUDGET queued inputs into raft,
// then hands at most one Ready to the consumer waiting on ready(). Consecutive
// turns run as microtasks until YIELD_BUDGET inputs were processed, then the
// loop yields to the macrotask queue (setImmediate, or setTimeout in browsers)
// so that timers and I/O are never starved. The node never holds a timer or
// handle while idle, so a node (stopped or not) never keeps a process alive.
//
// This file uses only standard JavaScript (Promise, globalThis timers through
// structural types) so that it runs in browsers like the rest of the core.

import {
  type ConfChangeI,
  type ConfState,
  Entry,
  EntryType,
  Message,
  MessageType,
  None,
} from "../raftpb/index.ts";
import { ErrStepLocalMsg, ErrStopped, freshError, isError, RaftError } from "./errors.ts";
import { type Config, confChangeToMsg } from "./raft.ts";
import { ErrInvalidMessage, isMalformed, type Peer, RawNode, type Ready, SnapshotStatus } from "./rawnode.ts";
import type { Status } from "./status.ts";
import { isLocalMsg, isLocalMsgTarget, isResponseMsg } from "./util.ts";

/**
 * The part of AbortSignal the Node uses; the DOM's and Node's AbortSignal
 * both satisfy it. A waiting call rejects with `signal.reason` when the
 * signal aborts (or with an AbortError if the signal has no reason).
 */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: "abort", listener: AbortListenerObject): void;
  removeEventListener(type: "abort", listener: AbortListenerObject): void;
}

/** An EventListener object (the Node registers itself without closures). */
export interface AbortListenerObject {
  handleEvent(event: unknown): void;
}

/** Rejection of a waiting call whose AbortSignal fired without a reason. */
export class AbortError extends RaftError {
  constructor() {
    super("ABORT_ERR", "The operation was aborted");
    this.name = "AbortError";
  }
}

/** ready() was iterated by two consumers at once; a Node has exactly one. */
export const ErrReadyBusy = new RaftError("ERR_READY_BUSY", "raft: another consumer is waiting for Ready");
/** advance() was called on a node using asyncStorageWrites. */
export const ErrAdvanceAsync = new RaftError(
  "ERR_ADVANCE_ASYNC",
  "raft: advance must not be called when using asyncStorageWrites",
);

/** The asynchronous raft node; see startNode/restartNode. */
export interface Node {
  /** Advances the logical clock by one tick. Never blocks; ticks beyond 128 pending are dropped with a warning. */
  tick(): void;
  /** Makes this node campaign; resolves once raft has processed the request. */
  campaign(signal?: AbortSignalLike): Promise<void>;
  /**
   * Proposes data for the log. Resolves once raft accepted the proposal
   * (appended it as leader or forwarded it to the leader), not when it is
   * committed; proposals can still be lost, so retry on a timeout. While no
   * leader is known the proposal waits. Rejects with ErrProposalDropped when
   * raft drops it, ErrStopped after stop(), or the signal's reason.
   */
  propose(data: Uint8Array, signal?: AbortSignalLike): Promise<void>;
  /** Proposes a membership change (V1 or V2); settles like propose(). */
  proposeConfChange(cc: ConfChangeI, signal?: AbortSignalLike): Promise<void>;
  /**
   * Steps a message received from the network (or, with asyncStorageWrites,
   * a response of the local storage threads). Resolves once the message is
   * queued (at once unless the inbox is full); local-only message types are
   * refused with ErrStepLocalMsg, malformed ones with ErrInvalidMessage.
   */
  step(m: Message, signal?: AbortSignalLike): Promise<void>;
  /**
   * The Ready stream: one consumer. Without asyncStorageWrites the next Ready
   * comes only after advance(). The iteration ends when the node stops.
   */
  ready(): AsyncIterable<Ready>;
  /** Tells raft the last Ready was persisted, sent and applied. */
  advance(): void;
  /** Applies a committed membership change; returns the new ConfState. */
  applyConfChange(cc: ConfChangeI): ConfState;
  /** Asks leader `lead` to hand over leadership to `transferee`. */
  transferLeadership(lead: bigint, transferee: bigint): void;
  /** Makes a follower forget its leader (see RawNode.forgetLeader). */
  forgetLeader(signal?: AbortSignalLike): Promise<void>;
  /** Requests a read index; the answer arrives as a ReadState with `rctx` in a later Ready. */
  readIndex(rctx: Uint8Array, signal?: AbortSignalLike): Promise<void>;
  /** The current status (still answers after stop, frozen at that point). */
  status(): Status;
  /** Reports that the last message to `id` could not be delivered. */
  reportUnreachable(id: bigint): void;
  /** Reports the outcome of a snapshot sent to `id`. */
  reportSnapshot(id: bigint, status: SnapshotStatus): void;
  /** Stops the node: pending calls reject with ErrStopped and ready() ends. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a node; with peers it bootstraps a new cluster (one ConfChangeAddNode
 * entry per peer), without it resumes from config.storage like restartNode.
 */
export function startNode(config: Config, peers: readonly Peer[]): Node {
  const rn = new RawNode(config);
  if (peers.length > 0) {
    try {
      rn.bootstrap(peers);
    } catch (err) {
      // As etcd: a storage that is not empty is resumed instead.
      if (!(err instanceof RaftError)) throw err;
      rn.raft.logger.warning(`error occurred during starting a new node: ${err.message}`);
    }
  }
  return new RaftNode(rn);
}

/** Restarts a node from config.storage (set config.applied to the state machine's applied index). */
export function restartNode(config: Config): Node {
  return new RaftNode(new RawNode(config));
}

// Inputs stepped into raft per turn, and per run of microtask turns before
// the loop yields to the macrotask queue.
const TURN_BUDGET = 512;
const YIELD_BUDGET = 2048;
// Queued inputs beyond which step() waits for the loop to catch up.
const HIGH_WATER = 4096;
// Ticks that may wait in the inbox (etcd buffers 128).
const MAX_PENDING_TICKS = 128;

const RESOLVED: Promise<void> = Promise.resolve();
const DONE: IteratorResult<Ready> = Object.freeze({ done: true, value: undefined });
// The tick marker in the inbox.
const TICK = new Message();

interface Timers {
  setImmediate?: (f: () => void) => unknown;
  clearImmediate?: (h: unknown) => void;
  setTimeout: (f: () => void, ms: number) => unknown;
  clearTimeout: (h: unknown) => void;
  queueMicrotask?: (f: () => void) => void;
}
const timers = globalThis as unknown as Timers;

// Promise resolvers captured without a closure per promise.
let capturedResolve: ((v: never) => void) | null = null;
let capturedReject: ((e: unknown) => void) | null = null;
function capture(res: (v: never) => void, rej: (e: unknown) => void): void {
  capturedResolve = res;
  capturedReject = rej;
}

/** A call waiting for the loop: settles its promise and unhooks its signal. */
class Waiter implements AbortListenerObject {
  readonly promise: Promise<void>;
  private readonly res: (v: undefined) => void;
  private readonly rej: (e: unknown) => void;
  private readonly signal: AbortSignalLike | undefined;
  private readonly queue: Queue;
  /** Whether raft's verdict (e.g. ErrProposalDropped) rejects the promise. */
  readonly reportErrors: boolean;
  settled = false;

  constructor(queue: Queue, signal: AbortSignalLike | undefined, reportErrors: boolean) {
    this.promise = new Promise<void>(capture);
    this.res = capturedResolve as (v: undefined) => void;
    this.rej = capturedReject!;
    this.queue = queue;
    this.signal = signal;
    this.reportErrors = reportErrors;
    if (signal !== undefined) signal.addEventListener("abort", this);
  }

  settle(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    if (this.signal !== undefined) this.signal.removeEventListener("abort", this);
    if (err === null) this.res(undefined);
    else this.rej(err);
  }

  handleEvent(): void {
    if (this.settled) return;
    // The input stays queued but is skipped: an aborted call has no effect.
    this.settle(abortReason(this.signal!));
    this.queue.cancelled++;
    // Proposals may wait a long time for a leader: do not let aborted ones pile up.
    if (!this.queue.draining) this.queue.compact();
  }
}

function abortReason(signal: AbortSignalLike): unknown {
  return signal.reason ?? new AbortError();
}

// A FIFO of messages, each with an optional waiter: slots [head, tail) are
// queued. Consumed slots are cleared (nothing stays reachable) but the arrays
// keep their capacity, so a queue that empties every turn allocates nothing.
class Queue {
  msgs: (Message | null)[] = [];
  waiters: (Waiter | null)[] = [];
  head = 0;
  tail = 0;
  cancelled = 0;
  /** True while the loop walks the queue (compaction must wait). */
  draining = false;

  get pending(): number {
    return this.tail - this.head;
  }

  push(m: Message, w: Waiter | null): void {
    if (this.tail < this.msgs.length) {
      this.msgs[this.tail] = m;
      this.waiters[this.tail] = w;
    } else {
      this.msgs.push(m);
      this.waiters.push(w);
    }
    this.tail++;
  }

  /** Takes the message at the head; its waiter is in `this.taken`. */
  take(): Message {
    const i = this.head++;
    const m = this.msgs[i]!;
    this.taken = this.waiters[i] as Waiter | null;
    this.msgs[i] = null;
    this.waiters[i] = null;
    return m;
  }
  taken: Waiter | null = null;

  // Rewinds an empty queue; when many slots were consumed or aborted, moves
  // the live ones into fresh arrays (also giving back the memory of a flood).
  compact(): void {
    if (this.head === this.tail) {
      this.head = 0;
      this.tail = 0;
      this.cancelled = 0;
      if (this.msgs.length > 4096) {
        this.msgs = [];
        this.waiters = [];
      }
      return;
    }
    if (this.head < 1024 && this.cancelled < 64) return;
    const msgs: (Message | null)[] = [];
    const waiters: (Waiter | null)[] = [];
    for (let i = this.head; i < this.tail; i++) {
      const w = this.waiters[i] as Waiter | null;
      if (w?.settled) continue;
      msgs.push(this.msgs[i]!);
      waiters.push(w);
    }
    this.msgs = msgs;
    this.waiters = waiters;
    this.head = 0;
    this.tail = msgs.length;
    this.cancelled = 0;
  }

  /** Settles every queued waiter with `err` and empties the queue. */
  clear(err: unknown): void {
    for (let i = this.head; i < this.tail; i++) this.waiters[i]?.settle(err);
    this.msgs = [];
    this.waiters = [];
    this.head = 0;
    this.tail = 0;
    this.cancelled = 0;
    this.draining = false;
  }
}

class ReadyStream implements AsyncIterableIterator<Ready> {
  private readonly node: RaftNode;
  constructor(node: RaftNode) {
    this.node = node;
  }
  next(): Promise<IteratorResult<Ready>> {
    return this.node.nextReady();
  }
  // Leaving a for-await loop early does not stop the node.
  return(): Promise<IteratorResult<Ready>> {
    return Promise.resolve(DONE);
  }
  [Symbol.asyncIterator](): AsyncIterableIterator<Ready> {
    return this;
  }
}

class RaftNode implements Node {
  private readonly rn: RawNode;
  private readonly async: boolean;
  private readonly inbox = new Queue();
  private readonly props = new Queue();
  private readonly stream: ReadyStream;
  private pendingTicks = 0;
  // Proposals are taken only while a leader is known (and we were not removed).
  private propsEnabled = false;
  private lead = None;
  // The consumer waiting in ready().next().
  private readerRes: ((r: IteratorResult<Ready>) => void) | null = null;
  private readerRej: ((e: unknown) => void) | null = null;
  // A Ready was handed out and awaits advance() (synchronous storage only).
  private outstanding = false;
  private advancePending = false;
  private scheduled = false;
  private macroHandle: unknown = null;
  private workSinceYield = 0;
  // Set once stopped: ErrStopped, or the error raft failed with.
  private stoppedWith: unknown = null;
  private readonly runMicro = () => this.turn();
  private readonly runMacro = () => {
    this.macroHandle = null;
    this.workSinceYield = 0;
    this.turn();
  };

  constructor(rn: RawNode) {
    this.rn = rn;
    this.async = rn.asyncStorageWrites;
    this.stream = new ReadyStream(this);
  }

  tick(): void {
    if (this.stoppedWith !== null) return;
    if (this.pendingTicks >= MAX_PENDING_TICKS) {
      this.rn.raft.logger.warning(`${this.rn.raft.id.toString(16)} a tick was dropped: the node is too busy`);
      return;
    }
    this.pendingTicks++;
    this.inbox.push(TICK, null);
    this.schedule();
  }

  campaign(signal?: AbortSignalLike): Promise<void> {
    const m = new Message();
    m.type = MessageType.MsgHup;
    return this.enqueueWaiting(this.inbox, m, signal);
  }

  propose(data: Uint8Array, signal?: AbortSignalLike): Promise<void> {
    const m = new Message();
    m.type = MessageType.MsgProp;
    m.from = this.rn.raft.id;
    m.entries = [new Entry(0, 0, EntryType.EntryNormal, data)];
    return this.enqueueWaiting(this.props, m, signal);
  }

  proposeConfChange(cc: ConfChangeI, signal?: AbortSignalLike): Promise<void> {
    const m = confChangeToMsg(cc);
    m.from = this.rn.raft.id;
    return this.enqueueWaiting(this.props, m, signal);
  }

  step(m: Message, signal?: AbortSignalLike): Promise<void> {
    if (this.stoppedWith !== null) return Promise.reject(this.stoppedWith);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const t = m.type;
    if (isLocalMsg(t) && !isLocalMsgTarget(m.from)) return Promise.reject(freshError(ErrStepLocalMsg));
    if (isMalformed(m)) return Promise.reject(freshError(ErrInvalidMessage));
    // Forwarded proposals wait for a leader like local ones.
    const q = t === MessageType.MsgProp ? this.props : this.inbox;
    if (q.pending < HIGH_WATER && (q === this.inbox || this.propsEnabled)) {
      q.push(m, null);
      this.schedule();
      return RESOLVED;
    }
    // Back-pressure: resolve once the loop has consumed the message.
    const w = new Waiter(q, signal, false);
    q.push(m, w);
    this.schedule();
    return w.promise;
  }

  ready(): AsyncIterable<Ready> {
    return this.stream;
  }

  advance(): void {
    if (this.async) throw freshError(ErrAdvanceAsync);
    if (this.stoppedWith !== null || !this.outstanding) return;
    this.advancePending = true;
    this.schedule();
  }

  applyConfChange(cc: ConfChangeI): ConfState {
    if (this.stoppedWith !== null) throw this.stoppedWith;
    const r = this.rn.raft;
    const before = r.trk.progress.has(r.id);
    let cs: ConfState;
    try {
      cs = this.rn.applyConfChange(cc);
    } catch (err) {
      this.fail(err);
      throw err;
    }
    if (
      before &&
      !r.trk.progress.has(r.id) &&
      !cs.voters.includes(r.id) &&
      !cs.votersOutgoing.includes(r.id)
    ) {
      // We were removed: stop taking proposals (until a leader change says otherwise).
      this.propsEnabled = false;
    }
    this.schedule();
    return cs;
  }

  transferLeadership(lead: bigint, transferee: bigint): void {
    const m = new Message();
    m.type = MessageType.MsgTransferLeader;
    m.from = transferee;
    m.to = lead;
    this.enqueue(m);
  }

  forgetLeader(signal?: AbortSignalLike): Promise<void> {
    const m = new Message();
    m.type = MessageType.MsgForgetLeader;
    return this.enqueueWaiting(this.inbox, m, signal);
  }

  readIndex(rctx: Uint8Array, signal?: AbortSignalLike): Promise<void> {
    const m = new Message();
    m.type = MessageType.MsgReadIndex;
    m.entries = [new Entry(0, 0, EntryType.EntryNormal, rctx)];
    return this.enqueueWaiting(this.inbox, m, signal);
  }

  status(): Status {
    return this.rn.status();
  }

  reportUnreachable(id: bigint): void {
    const m = new Message();
    m.type = MessageType.MsgUnreachable;
    m.from = id;
    this.enqueue(m);
  }

  reportSnapshot(id: bigint, status: SnapshotStatus): void {
    const m = new Message();
    m.type = MessageType.MsgSnapStatus;
    m.from = id;
    m.reject = status === SnapshotStatus.SnapshotFailure;
    this.enqueue(m);
  }

  stop(): Promise<void> {
    if (this.stoppedWith === null) this.shutdown(ErrStopped);
    return RESOLVED;
  }

  /** The consumer's next(): settles with the next Ready, or done once stopped. */
  nextReady(): Promise<IteratorResult<Ready>> {
    if (isError(this.stoppedWith, ErrStopped)) return Promise.resolve(DONE);
    if (this.stoppedWith !== null) return Promise.reject(this.stoppedWith);
    if (this.readerRes !== null) return Promise.reject(freshError(ErrReadyBusy));
    const p = new Promise<IteratorResult<Ready>>(capture);
    this.readerRes = capturedResolve as (r: IteratorResult<Ready>) => void;
    this.readerRej = capturedReject;
    this.schedule();
    return p;
  }

  private enqueue(m: Message): void {
    if (this.stoppedWith !== null) return;
    this.inbox.push(m, null);
    this.schedule();
  }

  private enqueueWaiting(q: Queue, m: Message, signal: AbortSignalLike | undefined): Promise<void> {
    if (this.stoppedWith !== null) return Promise.reject(this.stoppedWith);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const w = new Waiter(q, signal, true);
    q.push(m, w);
    this.schedule();
    return w.promise;
  }

  private schedule(): void {
    if (this.scheduled || this.stoppedWith !== null) return;
    this.scheduled = true;
    if (this.workSinceYield < YIELD_BUDGET) {
      if (timers.queueMicrotask !== undefined) timers.queueMicrotask(this.runMicro);
      else RESOLVED.then(this.runMicro);
    } else if (timers.setImmediate !== undefined) {
      this.macroHandle = timers.setImmediate(this.runMacro);
    } else {
      this.macroHandle = timers.setTimeout(this.runMacro, 0);
    }
  }

  private turn(): void {
    this.scheduled = false;
    if (this.stoppedWith !== null) return;
    try {
      this.process();
    } catch (err) {
      // raft panicked (a violated invariant or a storage failure): the node is unusable.
      this.fail(err);
    }
  }

  private process(): void {
    const rn = this.rn;
    let budget = TURN_BUDGET;
    if (this.advancePending) {
      this.advancePending = false;
      this.outstanding = false;
      rn.advance();
    }
    budget = this.drain(this.inbox, budget);
    this.checkLeader();
    if (this.propsEnabled) budget = this.drain(this.props, budget);
    let work = TURN_BUDGET - budget;
    if (this.readerRes !== null && (this.async || !this.outstanding) && rn.hasReady()) {
      const rd = rn.ready();
      if (!this.async) this.outstanding = true;
      const res = this.readerRes;
      this.readerRes = null;
      this.readerRej = null;
      work++;
      res({ done: false, value: rd });
    }
    this.workSinceYield += work;
    if (this.inbox.pending > 0 || (this.propsEnabled && this.props.pending > 0)) this.schedule();
  }

  // Steps up to `budget` queued inputs of `q` into raft; returns the budget left.
  private drain(q: Queue, budget: number): number {
    const proposals = q === this.props;
    q.draining = true;
    while (budget > 0 && q.head < q.tail) {
      const m = q.take();
      const w = q.taken;
      if (w?.settled) continue;
      budget--;
      const err = proposals ? this.rn.raft.step(m) : this.stepReceived(m);
      if (w !== null) w.settle(w.reportErrors ? err : null);
      if (this.stoppedWith !== null) break;
    }
    q.draining = false;
    q.compact();
    return budget;
  }

  // A tick or a message from the inbox. As etcd's node, step errors of
  // received messages are not reported.
  private stepReceived(m: Message): null {
    const r = this.rn.raft;
    if (m === TICK) {
      this.pendingTicks--;
      r.tick();
    } else if (!isResponseMsg(m.type) || isLocalMsgTarget(m.from) || r.trk.progress.has(m.from)) {
      // (Responses from nodes that are not, or no longer, members are dropped.)
      r.step(m);
    }
    return null;
  }

  // Opens proposals when a leader becomes known, closes them when it is lost.
  private checkLeader(): void {
    const r = this.rn.raft;
    if (this.lead === r.lead) return;
    const hex = r.id.toString(16);
    if (r.lead !== None) {
      if (this.lead === None)
        r.logger.info(`raft.node: ${hex} elected leader ${r.lead.toString(16)} at term ${r.term}`);
      else
        r.logger.info(
          `raft.node: ${hex} changed leader from ${this.lead.toString(16)} to ${r.lead.toString(16)} at term ${r.term}`,
        );
      this.propsEnabled = true;
    } else {
      r.logger.info(`raft.node: ${hex} lost leader ${this.lead.toString(16)} at term ${r.term}`);
      this.propsEnabled = false;
    }
    this.lead = r.lead;
  }

  private fail(err: unknown): void {
    if (this.stoppedWith === null) this.shutdown(err);
  }

  private shutdown(err: unknown): void {
    this.stoppedWith = err;
    if (this.macroHandle !== null) {
      if (timers.clearImmediate !== undefined && timers.setImmediate !== undefined)
        timers.clearImmediate(this.macroHandle);
      else timers.clearTimeout(this.macroHandle);
      this.macroHandle = null;
    }
    this.inbox.clear(err);
    this.props.clear(err);
    const res = this.readerRes;
    const rej = this.readerRej;
    this.readerRes = null;
    this.readerRej = null;
    if (res !== null) {
      if (isError(err, ErrStopped)) res(DONE);
      else rej!(err);
    }
  }
}
