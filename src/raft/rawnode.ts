// RawNode: the thread-unsafe, synchronous API around the raft state machine.
// The application ticks it, steps messages into it, and drains Ready structs.
//
// Raft itself does no I/O. Everything that must leave the state machine -
// state to persist, messages to send, entries to apply - is collected and
// handed out by ready(); the application does the work and reports back with
// advance() (or, with asyncStorageWrites, by delivering the responses of the
// local storage messages). Safety depends on the order the application does
// that work in, so the contract is spelled out here and on Ready.
//
// What must be durable before what:
// - A vote, and the term it was cast in, must be on stable storage before
//   the MsgVoteResp granting it leaves (a candidate's vote for itself too:
//   it is a response addressed to itself, counted only after the write).
//   Otherwise a crash and restart could vote twice in one term, and two
//   leaders could be elected in it.
// - Entries must be durable before they are acknowledged (the MsgAppResp a
//   follower sends, and the leader's own acknowledgement, which counts for
//   its quorum): a quorum's acknowledgement is what makes an entry
//   committed, so it must survive crashes of the acknowledging members.
// - A snapshot must be persisted before the entries that follow it.
// - Committed entries may be applied once they are durable locally (with
//   synchronous handling, once the Ready's write has finished; they can be in
//   the same Ready as their own append).
// The commit index in HardState needs no fsync of its own (mustSync): it
// can be recovered from a quorum after a crash, and being behind is safe.
// Leaders may send their MsgApps before persisting the same entries locally
// (the Raft thesis, 10.2.1): the leader's own acknowledgement only counts
// after its write completes.

import {
  asV2,
  ConfChange,
  type ConfChangeI,
  ConfChangeType,
  type ConfState,
  Entry,
  EntryType,
  encodeConfChange,
  HardState,
  isEmptyHardState,
  isEmptySnap,
  isUint64,
  LocalAppendThread,
  LocalApplyThread,
  Message,
  MessageType,
  None,
  type Snapshot,
} from "../raftpb/index.ts";
import type { Progress } from "../tracker/index.ts";
import { ErrStepLocalMsg, ErrStepPeerNotFound, freshError, RaftError } from "./errors.ts";
import { type Config, confChangeToMsg, Raft, type SoftState } from "./raft.ts";
import type { ReadState } from "./read_only.ts";
import { type BasicStatus, getBasicStatus, getStatus, type Status } from "./status.ts";
import { entsSize, isLocalMsg, isLocalMsgTarget, isResponseMsg } from "./util.ts";

/** The outcome of a snapshot transfer, as reported by the transport. */
export const SnapshotStatus = { SnapshotFinish: 1, SnapshotFailure: 2 } as const;
export type SnapshotStatus = (typeof SnapshotStatus)[keyof typeof SnapshotStatus];

/**
 * Whether a Ready struct's write must be durable (fsync) before its messages
 * go out: new entries, a new vote or a new term. These are the persistent
 * state raft's safety rests on (the paper's currentTerm, votedFor, log[]); a
 * commit-only change can be written lazily.
 */
export function mustSync(st: HardState, prev: HardState, entsnum: number): boolean {
  // Persistent state on all servers: currentTerm, votedFor, log entries.
  return entsnum !== 0 || st.vote !== prev.vote || st.term !== prev.term;
}

/**
 * Work raft hands to the application: state to persist, entries to apply and
 * messages to send. Persist hardState, entries and snapshot before sending
 * messages (unless asyncStorageWrites).
 *
 * Handling one Ready (synchronous mode, the default):
 *   1. write snapshot (if any), entries and hardState (if not empty) to
 *      storage, atomically if possible, and fsync when mustSync is set;
 *      entries replace any stored entries from their first index on;
 *   2. send messages (only now: some promise that step 1 is durable);
 *   3. apply a snapshot to the state machine, then committedEntries, in order
 *      (a ConfChange entry through RawNode.applyConfChange);
 *   4. call advance(). Only then may the next ready() be taken: advance steps
 *      the local acknowledgements (our own MsgAppResp, the stable and applied
 *      indexes) back into raft.
 * The arrays are handed over: raft does not touch them again, and the
 * application must not mutate entries it still shares with raft's log.
 *
 * With asyncStorageWrites the same work arrives as messages (MsgStorageAppend
 * to LocalAppendThread, MsgStorageApply to LocalApplyThread) inside
 * `messages`; each carries `responses` that the application steps back into
 * raft (or sends, when addressed to another member) once the work is done and
 * durable, in the order the storage messages were issued. advance() is not
 * used then.
 */
export class Ready {
  /**
   * Set when the leader or the node's role changed; null otherwise. Volatile:
   * never persisted (it is rebuilt at restart from the log and elections).
   */
  softState: SoftState | null;
  /**
   * The term, vote and commit index to persist; empty (all zero) when none
   * of them changed since the last Ready.
   */
  hardState: HardState;
  /**
   * Answers to read requests (RawNode.readIndex): a read with the same
   * context may be served once the state machine has applied up to `index`.
   */
  readStates: ReadState[];
  /** Entries to append to stable storage, before messages are sent. */
  entries: Entry[];
  /** A snapshot to persist (index 0 when none), before entries and messages. */
  snapshot: Snapshot | null;
  /**
   * Committed entries to apply to the state machine, in order. In synchronous
   * mode they may include entries of this same Ready's `entries` (apply them
   * after the write). Their total payload is bounded by
   * Config.maxCommittedSizePerReady (a single larger entry still goes out
   * alone).
   */
  committedEntries: Entry[];
  /**
   * Messages to send once the state above is persisted. Order does not
   * matter for safety; raft tolerates loss, reordering and duplication.
   * A MsgSnap must be followed by RawNode.reportSnapshot with its outcome,
   * and an undeliverable message may be reported with reportUnreachable.
   */
  messages: Message[];
  /**
   * True if hardState/entries must be synced to disk before sending
   * messages (see mustSync): entries, a vote or a term changed.
   */
  mustSync: boolean;

  // Fields are set through the constructor (not initializers) so that
  // RawNode builds a Ready without allocating defaults it would discard.
  constructor(
    softState: SoftState | null = null,
    hardState: HardState = new HardState(0, 0n, 0),
    readStates: ReadState[] = [],
    entries: Entry[] = [],
    snapshot: Snapshot | null = null,
    committedEntries: Entry[] = [],
    messages: Message[] = [],
    mustSync = false,
  ) {
    this.softState = softState;
    this.hardState = hardState;
    this.readStates = readStates;
    this.entries = entries;
    this.snapshot = snapshot;
    this.committedEntries = committedEntries;
    this.messages = messages;
    this.mustSync = mustSync;
  }
}

/** Whether the Ready holds nothing to do (mustSync aside, which is false then). */
export function isEmptyReady(rd: Ready): boolean {
  return (
    rd.softState === null &&
    isEmptyHardState(rd.hardState) &&
    isEmptySnap(rd.snapshot) &&
    rd.entries.length === 0 &&
    rd.committedEntries.length === 0 &&
    rd.messages.length === 0 &&
    rd.readStates.length === 0
  );
}

/** A member to bootstrap a new cluster with. */
export interface Peer {
  /** The member's ID: an unsigned 64-bit value, never 0. */
  id: bigint;
  context?: Uint8Array;
}

/** Whether a progress entry belongs to a voter or a learner. */
export const ProgressType = { Peer: 0, Learner: 1 } as const;
export type ProgressType = (typeof ProgressType)[keyof typeof ProgressType];

/** Thrown by RawNode.step for messages that are malformed for their type. */
export const ErrInvalidMessage = new RaftError("ERR_INVALID_MESSAGE", "raft: invalid message");

/**
 * Whether a message lacks the shape its type requires (RawNode.step and
 * Node.step refuse it with ErrInvalidMessage): a MsgProp without entries, a
 * MsgReadIndex(Resp) without exactly one, a MsgApp unlike any leader's, a
 * MsgSnap without a snapshot.
 */
export function isMalformed(m: Message): boolean {
  switch (m.type) {
    case MessageType.MsgProp:
      return m.entries.length === 0;
    case MessageType.MsgReadIndex:
    case MessageType.MsgReadIndexResp:
      return m.entries.length !== 1;
    case MessageType.MsgApp:
      return !wellFormedAppend(m);
    case MessageType.MsgSnap:
      return m.snapshot === null;
    default:
      return false;
  }
}

/**
 * Whether a MsgApp has the shape every leader's has: entries at consecutive
 * indexes right after `index`, with terms that never decrease from `logTerm`
 * and never exceed the message's term. etcd's raft trusts this; a message
 * without it (a buggy or corrupted peer) would make raft panic on an index out
 * of range or, worse, splice a gap into the log, so it is refused up front.
 */
function wellFormedAppend(m: Message): boolean {
  const ents = m.entries;
  if (m.logTerm > m.term) return false;
  let prevTerm = m.logTerm;
  for (let i = 0; i < ents.length; i++) {
    const e = ents[i]!;
    if (e.index !== m.index + 1 + i || e.term < prevTerm || e.term > m.term) return false;
    prevTerm = e.term;
  }
  return true;
}

/**
 * The raft state machine with the Ready/advance protocol around it. Not
 * thread-safe and never asynchronous: every call runs to completion. Node
 * (node.ts) drives one from an async loop.
 */
export class RawNode {
  readonly raft: Raft;
  /** Whether storage work is handed out as local messages instead of through advance(). */
  readonly asyncStorageWrites: boolean;
  // The soft and hard state last handed out in a Ready: the next Ready
  // carries them only if they changed since (so an empty HardState means
  // "nothing new to persist", not "all zero").
  private prevSoftSt: SoftState;
  private prevHardSt: HardState;
  // Messages stepped back into raft on advance() (synchronous mode only):
  // what the application's work on the accepted Ready acknowledges. Non-empty
  // exactly between accepting a Ready and advance(); accepting a second Ready
  // then is a misuse that would lose acknowledgements (panic).
  private stepsOnAdvance: Message[] = [];

  constructor(config: Config) {
    this.raft = new Raft(config);
    this.asyncStorageWrites = config.asyncStorageWrites ?? false;
    this.prevSoftSt = this.raft.softState();
    this.prevHardSt = this.raft.hardState();
  }

  /**
   * Bootstraps a brand-new cluster: appends a ConfChangeAddNode entry per
   * peer at term 1 and applies them, so that campaign() works at once. The
   * entries are still handed to the application in the first Ready.
   */
  bootstrap(peers: readonly Peer[]): void {
    if (peers.length === 0)
      throw new RaftError("ERR_BOOTSTRAP", "must provide at least one peer to Bootstrap");
    for (const p of peers) {
      if (!isUint64(p.id) || p.id === None) {
        throw new RaftError(
          "ERR_BOOTSTRAP",
          `peer ID must be a non-zero unsigned 64-bit bigint, got ${String(p.id)}`,
        );
      }
    }
    const lastIndex = this.raft.raftLog.storage.lastIndex();
    if (lastIndex !== 0) throw new RaftError("ERR_BOOTSTRAP", "can't bootstrap a nonempty Storage");
    // Nothing is persisted yet: the first Ready must emit the HardState.
    this.prevHardSt = new HardState(0, 0n, 0);
    this.raft.becomeFollower(1, None);
    const ents = peers.map(
      (p, i) =>
        new Entry(
          1,
          i + 1,
          EntryType.EntryConfChange,
          encodeConfChange(new ConfChange(ConfChangeType.ConfChangeAddNode, p.id, p.context)),
        ),
    );
    this.raft.raftLog.append(ents);
    // Apply them now so that campaign() works right after bootstrapping; the
    // application sees them again in Ready.committedEntries (applied is not
    // advanced) and applies them a second time, which is harmless.
    this.raft.raftLog.committed = ents.length;
    for (const p of peers)
      this.raft.applyConfChange(asV2(new ConfChange(ConfChangeType.ConfChangeAddNode, p.id)));
  }

  tick(): void {
    this.raft.tick();
  }

  /** Advances the election clock without campaigning (for quiesced groups). */
  tickQuiesced(): void {
    // Time passes for a strict lease too: a quiesced leader's lease ages.
    this.raft.advanceLeaseClock();
    this.raft.electionElapsed++;
  }

  /** Makes this node campaign for leadership. */
  campaign(): void {
    const m = new Message();
    m.type = MessageType.MsgHup;
    throwIf(this.raft.step(m));
  }

  /** Proposes data to be appended to the log; throws ErrProposalDropped if it is dropped. */
  propose(data: Uint8Array): void {
    const m = new Message();
    m.type = MessageType.MsgProp;
    m.from = this.raft.id;
    m.entries = [newEntry(data)];
    throwIf(this.raft.step(m));
  }

  /** Proposes a membership change (V1 or V2). */
  proposeConfChange(cc: ConfChangeI): void {
    throwIf(this.raft.step(confChangeToMsg(cc)));
  }

  /** Applies a committed membership change; returns the new ConfState. */
  applyConfChange(cc: ConfChangeI): ConfState {
    return this.raft.applyConfChange(asV2(cc));
  }

  /**
   * Steps a message received from the network. Local-only message types and
   * responses from unknown peers are refused, as are malformed messages.
   */
  step(m: Message): void {
    if (isLocalMsg(m.type) && !isLocalMsgTarget(m.from)) throw freshError(ErrStepLocalMsg);
    if (isResponseMsg(m.type) && !isLocalMsgTarget(m.from) && !this.raft.trk.progress.has(m.from)) {
      throw freshError(ErrStepPeerNotFound);
    }
    if (isMalformed(m)) throw freshError(ErrInvalidMessage);
    throwIf(this.raft.step(m));
  }

  /**
   * The pending Ready; it is accepted at once (call advance() after handling
   * it). Accepting means raft considers its contents handed out: the
   * unstable entries and snapshot are marked in progress, the committed
   * entries count as applying, and the messages are gone from raft's queues.
   * Call hasReady() first to avoid an empty Ready.
   */
  ready(): Ready {
    const rd = this.readyWithoutAccept();
    this.acceptReady(rd);
    return rd;
  }

  // Builds the Ready from raft's current state without changing anything, so
  // that building and accepting stay separate (as etcd's readyWithoutAccept).
  // r.msgs holds messages that need nothing persisted first (e.g. a leader's
  // MsgApp and heartbeats); r.msgsAfterAppend holds those that do (votes,
  // acknowledgements of appended entries).
  private readyWithoutAccept(): Ready {
    const r = this.raft;
    const entries = r.raftLog.nextUnstableEnts();
    const prev = this.prevHardSt;
    const rd = new Ready(
      this.softStateChanged() ? r.softState() : null,
      this.hardStateChanged() ? r.hardState() : new HardState(0, 0n, 0),
      r.readStates.length !== 0 ? r.readStates : [],
      entries,
      r.raftLog.nextUnstableSnapshot(),
      r.raftLog.nextCommittedEnts(this.applyUnstableEntries()),
      r.msgs,
      entries.length !== 0 || r.vote !== prev.vote || r.term !== prev.term,
    );
    if (this.asyncStorageWrites) {
      // Storage work travels as messages to the local append/apply threads.
      if (needStorageAppendMsg(r, rd)) rd.messages.push(newStorageAppendMsg(r, rd));
      if (rd.committedEntries.length > 0) rd.messages.push(newStorageApplyMsg(r, rd.committedEntries));
    } else {
      // Messages to others can go out with the Ready (the application persists
      // first); our own responses are stepped back on advance().
      for (const m of r.msgsAfterAppend) if (m.to !== r.id) rd.messages.push(m);
    }
    return rd;
  }

  // Marks rd as handed out (see ready()). In synchronous mode it also prepares
  // the acknowledgements advance() steps in: our own responses (e.g. the
  // leader's MsgAppResp for its own entries, which must count only after the
  // write), the stable index of the entries and snapshot, and the applied
  // index of the committed entries.
  private acceptReady(rd: Ready): void {
    const r = this.raft;
    if (rd.softState !== null) this.prevSoftSt = rd.softState;
    if (!isEmptyHardState(rd.hardState)) this.prevHardSt = rd.hardState;
    if (rd.readStates.length !== 0) r.readStates = [];
    if (!this.asyncStorageWrites) {
      if (this.stepsOnAdvance.length !== 0)
        r.logger.panic("two accepted Ready structs without call to Advance");
      for (const m of r.msgsAfterAppend) if (m.to === r.id) this.stepsOnAdvance.push(m);
      if (needStorageAppendRespMsg(r, rd)) this.stepsOnAdvance.push(newStorageAppendRespMsg(r, rd));
      if (rd.committedEntries.length > 0) {
        this.stepsOnAdvance.push(newStorageApplyRespMsg(r, rd.committedEntries));
      }
    }
    r.msgs = [];
    if (r.msgsAfterAppend.length !== 0) r.msgsAfterAppend = [];
    r.raftLog.acceptUnstable();
    if (rd.committedEntries.length > 0) {
      const ents = rd.committedEntries;
      r.raftLog.acceptApplying(ents[ents.length - 1]!.index, entsSize(ents), this.applyUnstableEntries());
    }
  }

  // Synchronous handling persists entries before applying, so committed
  // entries may be handed out before they are stable: the application writes
  // the Ready's entries before it applies its committedEntries. With
  // asynchronous writes the apply thread may run ahead of the append thread,
  // so only entries already stable may be applied.
  private applyUnstableEntries(): boolean {
    return !this.asyncStorageWrites;
  }

  // Compare raft's current soft/hard state with what was last handed out,
  // without allocating (hasReady runs on every turn of a Ready loop).
  private softStateChanged(): boolean {
    const r = this.raft;
    const p = this.prevSoftSt;
    return r.lead !== p.lead || r.state !== p.raftState;
  }

  private hardStateChanged(): boolean {
    const r = this.raft;
    const p = this.prevHardSt;
    return r.term !== p.term || r.vote !== p.vote || r.raftLog.committed !== p.commit;
  }

  /**
   * Whether ready() would return anything. A fresh node whose hard state is
   * all zero has nothing to persist even though prevHardSt is "unset".
   */
  hasReady(): boolean {
    const r = this.raft;
    if (this.softStateChanged()) return true;
    if ((r.term !== 0 || r.vote !== None || r.raftLog.committed !== 0) && this.hardStateChanged())
      return true;
    if (r.raftLog.hasNextUnstableSnapshot()) return true;
    if (r.msgs.length > 0 || r.msgsAfterAppend.length > 0) return true;
    if (r.raftLog.hasNextUnstableEnts() || r.raftLog.hasNextCommittedEnts(this.applyUnstableEntries()))
      return true;
    return r.readStates.length !== 0;
  }

  /**
   * Tells raft the last Ready was persisted and applied. Not used with
   * asyncStorageWrites (the storage threads' responses take its place).
   * Steps the acknowledgements prepared when the Ready was accepted, in
   * order: our own responses first (while the entries are still unstable),
   * then the stable and applied indexes. The argument is ignored (kept for
   * etcd's signature).
   */
  advance(_rd?: Ready): void {
    if (this.asyncStorageWrites)
      this.raft.logger.panic("Advance must not be called when using AsyncStorageWrites");
    const steps = this.stepsOnAdvance;
    this.stepsOnAdvance = [];
    for (const m of steps) this.raft.step(m);
  }

  status(): Status {
    return getStatus(this.raft);
  }

  basicStatus(): BasicStatus {
    return getBasicStatus(this.raft);
  }

  /** Visits every member's progress without copying it. */
  withProgress(visitor: (id: bigint, type: ProgressType, pr: Progress) => void): void {
    this.raft.trk.visit((id, pr) => visitor(id, pr.isLearner ? ProgressType.Learner : ProgressType.Peer, pr));
  }

  /**
   * Tells raft that the last message to `id` could not be delivered. A leader
   * then stops optimistic replication to it (StateReplicate -> StateProbe),
   * since the window has likely been lost.
   */
  reportUnreachable(id: bigint): void {
    const m = new Message();
    m.type = MessageType.MsgUnreachable;
    m.from = id;
    this.raft.step(m);
  }

  /**
   * Reports the outcome of sending a snapshot to `id`. Required after every
   * MsgSnap: the leader sends no entries to that follower meanwhile
   * (StateSnapshot; heartbeats go on). Either outcome returns it to probing; after a failure
   * the next attempt waits for a heartbeat response.
   */
  reportSnapshot(id: bigint, status: SnapshotStatus): void {
    const m = new Message();
    m.type = MessageType.MsgSnapStatus;
    m.from = id;
    m.reject = status === SnapshotStatus.SnapshotFailure;
    this.raft.step(m);
  }

  /**
   * Asks the leader to hand leadership to `transferee` (a follower forwards
   * it to the leader). The leader catches the transferee up, then sends it
   * MsgTimeoutNow so it campaigns at once; proposals are dropped while the
   * transfer is in progress, and it is abandoned after an election timeout.
   */
  transferLeader(transferee: bigint): void {
    const m = new Message();
    m.type = MessageType.MsgTransferLeader;
    m.from = transferee;
    this.raft.step(m);
  }

  /** Makes a follower forget its leader (it will accept a new one before its timeout). */
  forgetLeader(): void {
    const m = new Message();
    m.type = MessageType.MsgForgetLeader;
    throwIf(this.raft.step(m));
  }

  /**
   * Requests a read index; the answer arrives as a ReadState with the same
   * context in a later Ready. Contexts should be unique per request.
   * No answer arrives at all if leadership is lost meanwhile, or if no
   * leader is known: the caller needs a timeout and retries (see
   * read_only.ts for when the leader may answer).
   */
  readIndex(rctx: Uint8Array): void {
    const m = new Message();
    m.type = MessageType.MsgReadIndex;
    m.entries = [newEntry(rctx)];
    this.raft.step(m);
  }
}

function newEntry(data: Uint8Array): Entry {
  return new Entry(0, 0, EntryType.EntryNormal, data);
}

function throwIf(err: RaftError | null): void {
  if (err !== null) throw err;
}

// The storage messages below are the asynchronous form of the Ready contract:
// MsgStorageAppend asks the append thread to persist, then deliver
// `responses` (our own acknowledgements, and the MsgStorageAppendResp that
// tells raft what became stable); MsgStorageApply asks the apply thread to
// apply, then deliver a MsgStorageApplyResp. In synchronous mode the same
// response messages are built and stepped in by advance().

function needStorageAppendMsg(r: Raft, rd: Ready): boolean {
  // Entries, hard state or snapshot to write, or responses that must wait for
  // every earlier append to be durable.
  return (
    rd.entries.length > 0 ||
    !isEmptyHardState(rd.hardState) ||
    !isEmptySnap(rd.snapshot) ||
    r.msgsAfterAppend.length > 0
  );
}

function needStorageAppendRespMsg(r: Raft, rd: Ready): boolean {
  // Raft must hear when its unstable entries (including ones handed out in an
  // earlier Ready) or a snapshot become stable.
  return r.raftLog.hasNextOrInProgressUnstableEnts() || !isEmptySnap(rd.snapshot);
}

function newStorageAppendMsg(r: Raft, rd: Ready): Message {
  const m = new Message();
  m.type = MessageType.MsgStorageAppend;
  m.to = LocalAppendThread;
  m.from = r.id;
  m.entries = rd.entries;
  if (!isEmptyHardState(rd.hardState)) {
    // All three fields are set together so that the HardState can be rebuilt;
    // none is set when it did not change.
    m.term = rd.hardState.term;
    m.vote = rd.hardState.vote;
    m.commit = rd.hardState.commit;
  }
  if (!isEmptySnap(rd.snapshot)) m.snapshot = rd.snapshot;
  // Our own MsgAppResp must be handled before the MsgStorageAppendResp, while
  // the entries are still in the unstable log.
  const responses = r.msgsAfterAppend.slice();
  if (needStorageAppendRespMsg(r, rd)) responses.push(newStorageAppendRespMsg(r, rd));
  m.responses = responses;
  return m;
}

function newStorageAppendRespMsg(r: Raft, rd: Ready): Message {
  const m = new Message();
  m.type = MessageType.MsgStorageAppendResp;
  m.to = r.id;
  m.from = LocalAppendThread;
  // The term lets raft ignore this response after a term change, when the
  // entries it names may have been overwritten (an ABA race).
  m.term = r.term;
  if (r.raftLog.hasNextOrInProgressUnstableEnts()) {
    const log = r.raftLog;
    m.index = log.lastIndex();
    m.logTerm = log.termOrError(m.index);
    if (m.logTerm < 0) log.logger.panic(`unexpected error getting the last entry term (${m.index})`);
  }
  if (!isEmptySnap(rd.snapshot)) m.snapshot = rd.snapshot;
  return m;
}

function newStorageApplyMsg(r: Raft, ents: Entry[]): Message {
  const m = new Message();
  m.type = MessageType.MsgStorageApply;
  m.to = LocalApplyThread;
  m.from = r.id;
  // Committed entries do not apply under a particular term.
  m.term = 0;
  m.entries = ents;
  m.responses = [newStorageApplyRespMsg(r, ents)];
  return m;
}

function newStorageApplyRespMsg(r: Raft, ents: Entry[]): Message {
  const m = new Message();
  m.type = MessageType.MsgStorageApplyResp;
  m.to = r.id;
  m.from = LocalApplyThread;
  m.term = 0;
  m.entries = ents;
  return m;
}
