// The raft consensus state machine: a deterministic function of the messages
// stepped into it and the ticks it is given. It performs no I/O; everything it
// wants done comes out through msgs/msgsAfterAppend and the log.
//
// Roles and terms. Time is divided into terms, numbered consecutively; each
// term begins with an election and has at most one leader. Every member is
// a follower, a (pre-)candidate or the leader, and knows a current term,
// which only grows and is persisted (HardState.term) before anything that
// depends on it leaves the node (see rawnode.ts). Every message carries its
// sender's term (local messages, forwarded proposals and read requests carry
// 0); a member that sees a higher term adopts it and becomes a follower
// (step()), and messages of a lower term are ignored or answered so that
// their sender learns the newer term.
//
// The safety properties, and where this file keeps them:
// - Election Safety: at most one leader per term. A member votes at most
//   once per term (`vote`, persisted with the term, see handleVote), and a
//   candidate needs the votes of a quorum; two quorums intersect
//   (quorum/quorum.ts), so two candidates cannot both win a term.
// - Leader Append-Only: a leader never overwrites or deletes its own
//   entries; it only appends (appendEntry). Only followers truncate, and
//   only an uncommitted tail (log.ts maybeAppend).
// - Log Matching: if two logs have an entry with the same index and term,
//   the logs are identical up to it. A leader creates at most one entry per
//   index in its term, and every MsgApp names the entry before its entries
//   (index, logTerm), which the follower must hold (log.ts maybeAppend).
// - Leader Completeness: an entry committed in a term is in the log of every
//   leader of a later term. A voter only votes for a candidate whose log is
//   at least as up to date as its own (RaftLog.isUpToDate), and a committed
//   entry is on a quorum, which intersects every electing quorum.
// - State Machine Safety: members apply the same entry at each index. It
//   follows from the above and the commit rule: a leader counts replicas
//   only for entries of its current term (RaftLog.maybeCommit, with the
//   reason there); earlier entries are committed indirectly with them. That
//   is why a new leader appends an empty entry at once (becomeLeader): it
//   commits everything before it as soon as a quorum has it.
//
// Liveness rests on randomized election timeouts (no two members usually
// time out together) and on these optional mechanisms, all as in etcd:
// - PreVote: before incrementing its term, a member asks whether it could
//   win (MsgPreVote for term+1, no state change on the voters). A member
//   rejoining after a partition, whose log is behind, then fails without
//   bumping the term and forcing the healthy leader to step down.
// - CheckQuorum: a leader that has not heard from a quorum within an
//   election timeout steps down (stepLeader, MsgCheckQuorum), and a member
//   that heard from a leader within the last election timeout ignores vote
//   requests of a higher term (the "lease" check in step()), so that a
//   member that is merely cut off from the leader cannot depose it.
// - Leader transfer: the leader catches the transferee up, then sends it
//   MsgTimeoutNow; the transferee campaigns at once, skipping PreVote, and
//   its vote requests carry CampaignTransfer so that voters grant them even
//   within a leader's lease (handleTransferLeader, step()). Proposals are
//   dropped meanwhile, so that the leader's log stops growing and the
//   transferee can catch up with it; the transfer is abandoned after an
//   election timeout.
//
// Membership changes are log entries (EntryConfChange/V2). They take effect
// when applied (applyConfChange), at most one may be pending (propose checks
// pendingConfIndex), and a member with a committed but unapplied change may
// not campaign (hup), since it does not know its configuration yet. Joint
// consensus and auto-leave are described in confchange.
//
// Three options go beyond etcd, all off by default (docs/leases.md):
// - leaseSafety "strict": members promise not to vote for or become another
//   leader for an election timeout after hearing from one (voteHold), and
//   the leader serves lease reads only within rounds a quorum acknowledged
//   (lease.ts). Invariant: while voteHold > 0, this member grants no vote
//   and starts no campaign except for a leadership transfer.
// - shareCommitInVotes: vote traffic carries commit indexes (learnCommit),
//   so that a member that missed a committed membership change learns and
//   applies it rather than campaign under a configuration that needs the
//   vote of a removed member. Invariant: a commit index is adopted only up
//   to an entry our log shares with the sender (Log Matching makes that safe).
// - keepClockOnRejectedVote: a real vote of a later term that we refuse
//   moves us to that term but does not restart our election clock (the Raft
//   paper's rule: only a leader's message or a granted vote restarts it).
//   Without PreVote, etcd restarts it, so a candidate whose log is too short
//   to win keeps postponing the one member that could win. Invariant: the
//   clock restarts only on a granted vote, a message from the term's leader,
//   or our own campaign.

import { type ChangeResult, Changer, restore as restoreConf } from "../confchange/index.ts";
import { VoteResult } from "../quorum/index.ts";
import {
  asV2,
  type ConfChangeI,
  type ConfChangeV2,
  type ConfState,
  confStatesEquivalent,
  decodeConfChange,
  decodeConfChangeV2,
  describeConfChange,
  Entry,
  EntryType,
  enterJoint,
  HardState,
  isEmptyHardState,
  isUint64,
  leaveJoint,
  Message,
  MessageType,
  marshalConfChange,
  messageTypeNames,
  None,
  Snapshot,
} from "../raftpb/index.ts";
import { type Progress, ProgressStateType, ProgressTracker } from "../tracker/index.ts";
import {
  ConfigError,
  ErrCompacted,
  ErrProposalDropped,
  ErrSnapshotTemporarilyUnavailable,
  isError,
  type RaftError,
} from "./errors.ts";
import { decodeRoundCtx, encodeRoundCtx, LeaderLease, type LeaseSafety } from "./lease.ts";
import { RaftLog } from "./log.ts";
import { getLogger, type Logger } from "./logger.ts";
import { type RandomSource, SeededRandom, seedFromId } from "./rand.ts";
import { ReadOnly, ReadOnlyOption, ReadState } from "./read_only.ts";
import type { Storage } from "./storage.ts";
import { entsSize, isLocalMsgTarget, noLimit, payloadsSize, voteRespMsgType } from "./util.ts";

/**
 * A member's role. StatePreCandidate (PreVote only) asks for votes without
 * changing its term or vote; it becomes a candidate when it would win.
 * Transitions: follower -> pre-candidate/candidate (election timeout);
 * pre-candidate -> candidate (won pre-vote); candidate -> leader (won vote);
 * any -> follower (higher term, lost election, a leader of the current term
 * heard from). A leader never becomes a candidate directly.
 */
export const StateType = {
  StateFollower: 0,
  StateCandidate: 1,
  StateLeader: 2,
  StatePreCandidate: 3,
} as const;
export type StateType = (typeof StateType)[keyof typeof StateType];
export const stateTypeNames: readonly string[] = [
  "StateFollower",
  "StateCandidate",
  "StateLeader",
  "StatePreCandidate",
];

// Why a member campaigns: a pre-vote round (PreVote on), a real election, or
// a leadership transfer (MsgTimeoutNow), whose vote requests carry
// CAMPAIGN_TRANSFER_BYTES in their context so that voters let them through
// a leader's lease.
const CampaignPreElection = "CampaignPreElection";
const CampaignElection = "CampaignElection";
const CampaignTransfer = "CampaignTransfer";
type CampaignType = typeof CampaignPreElection | typeof CampaignElection | typeof CampaignTransfer;
const CAMPAIGN_TRANSFER_BYTES = Uint8Array.from(CampaignTransfer, (c) => c.charCodeAt(0));

/** Everything needed to start a raft instance. */
export interface Config {
  /** This node's ID: an unsigned 64-bit value, never 0. */
  id: bigint;
  /**
   * Ticks a follower waits without hearing from a leader before campaigning
   * (the actual timeout is drawn from [electionTick, 2*electionTick-1]).
   * Also the length of a CheckQuorum period and of a leadership transfer.
   * etcd suggests 10 * heartbeatTick, so that a few lost heartbeats do not
   * cause an election.
   */
  electionTick: number;
  /** Ticks between leader heartbeats; must be smaller than electionTick. */
  heartbeatTick: number;
  /** Where raft reads its persisted log and state. */
  storage: Storage;
  /** The last applied index when restarting; entries at or below it are not handed out again. */
  applied?: number;
  /** Persist and apply through MsgStorageAppend/MsgStorageApply messages instead of Ready/advance. */
  asyncStorageWrites?: boolean;
  /** Byte limit of one MsgApp's entries (0: one entry per message; default 1 MiB, Infinity: none). */
  maxSizePerMsg?: number;
  /** Byte limit of committed entries being applied at once (default: maxSizePerMsg). */
  maxCommittedSizePerReady?: number;
  /** Byte limit of the leader's uncommitted log tail; proposals beyond it are dropped (0: none). */
  maxUncommittedEntriesSize?: number;
  /** In-flight MsgApp messages per follower while replicating (default 512). */
  maxInflightMsgs?: number;
  /** In-flight payload bytes per follower (0: no limit); must be >= maxSizePerMsg. */
  maxInflightBytes?: number;
  /** The leader steps down when a quorum was not heard from in an election timeout. */
  checkQuorum?: boolean;
  /** Pre-vote before campaigning, so that a partitioned node cannot disrupt the cluster. */
  preVote?: boolean;
  /** How ReadIndex is served: Safe (quorum heartbeat) or LeaseBased (needs checkQuorum). */
  readOnlyOption?: ReadOnlyOption;
  /**
   * With ReadOnlyLeaseBased: "etcd" (default) serves lease reads as etcd's
   * raft does, which can be stale; "strict" serves them only while a quorum
   * acknowledged the leader recently enough that no other member can have
   * been elected (see docs/leases.md), falls back to a quorum round
   * otherwise, and steps down as soon as the lease lapses. Every member must
   * run with the same setting: followers keep the promises the lease rests on.
   */
  leaseSafety?: LeaseSafety;
  /**
   * With leaseSafety "strict": ticks by which the lease is shortened to cover
   * members whose ticks run faster than the leader's (default
   * ceil(electionTick / 10)). The lease lasts electionTick - 1 - margin ticks
   * from the start of the last heartbeat round a quorum acknowledged.
   */
  leaseDriftMarginTicks?: number;
  /**
   * Vote requests and vote rejections carry the sender's commit index; a
   * member whose log matches the sender's there adopts it. A member that
   * missed the commit of a membership change learns it from the peers it
   * asks for votes (or that ask it), applies it, and campaigns with the
   * committed configuration instead of waiting forever for the vote of a
   * removed or demoted member (etcd-io/etcd#12359). Default false (etcd).
   */
  shareCommitInVotes?: boolean;
  /**
   * A real vote request of a later term that we refuse moves us to its term
   * (as in etcd) but leaves our election clock running, as the Raft paper
   * prescribes (Figure 2: the clock restarts on a message from the current
   * leader or on granting a vote). etcd restarts the clock on every change
   * of term: without PreVote, a member whose log is too short to win keeps
   * campaigning and each of its requests postpones the campaign of the only
   * members that could win, so elections can split for a long time (two
   * voters where the one with the shorter log ticks faster never elect a
   * leader until the randomized timeouts happen to favour the other).
   * A leader that steps down this way starts a fresh clock, as in etcd.
   * Default false (etcd).
   */
  keepClockOnRejectedVote?: boolean;
  logger?: Logger;
  /** Followers drop proposals instead of forwarding them to the leader. */
  disableProposalForwarding?: boolean;
  /** Skip the propose-time checks of conf changes against the active config. */
  disableConfChangeValidation?: boolean;
  /** A leader that is removed or demoted steps down. */
  stepDownOnRemoval?: boolean;
  /** Source of the randomized election timeouts (default: seeded from the node ID). */
  random?: RandomSource;
}

/** A Config with every default filled in. */
export interface ResolvedConfig extends Required<Omit<Config, "random">> {
  random: RandomSource;
}

function checkCount(field: string, v: number, allowInfinity: boolean): void {
  if (allowInfinity && v === noLimit) return;
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new ConfigError(field, `${field} must be a non-negative safe integer, got ${v}`);
  }
}

/** Validates a Config and fills in defaults; throws ConfigError naming the bad field. */
export function resolveConfig(c: Config): ResolvedConfig {
  if (!isUint64(c.id)) {
    throw new ConfigError("id", `id must be an unsigned 64-bit bigint, got ${typeof c.id} ${String(c.id)}`);
  }
  // 0 (None) means "no node" in votes, leaders and messages; 2^64-1 and
  // 2^64-2 address the local storage threads (asyncStorageWrites).
  if (c.id === None) throw new ConfigError("id", "cannot use none as id");
  if (isLocalMsgTarget(c.id)) throw new ConfigError("id", "cannot use local target as id");
  checkCount("heartbeatTick", c.heartbeatTick, false);
  if (c.heartbeatTick <= 0) throw new ConfigError("heartbeatTick", "heartbeat tick must be greater than 0");
  checkCount("electionTick", c.electionTick, false);
  if (c.electionTick <= c.heartbeatTick) {
    throw new ConfigError("electionTick", "election tick must be greater than heartbeat tick");
  }
  if (c.storage == null) throw new ConfigError("storage", "storage cannot be nil");
  const maxSizePerMsg = c.maxSizePerMsg ?? 1024 * 1024;
  checkCount("maxSizePerMsg", maxSizePerMsg, true);
  let maxUncommitted = c.maxUncommittedEntriesSize ?? 0;
  checkCount("maxUncommittedEntriesSize", maxUncommitted, true);
  if (maxUncommitted === 0) maxUncommitted = noLimit;
  let maxCommitted = c.maxCommittedSizePerReady ?? 0;
  checkCount("maxCommittedSizePerReady", maxCommitted, true);
  // They used to be one option; default the apply budget to the message size.
  // A message size of 0 means "one entry at a time", which for the apply
  // budget is 1 byte: a budget of 0 would make raft panic on the first commit,
  // or, after a restart with applied > 0, never hand out committed entries.
  if (maxCommitted === 0) maxCommitted = Math.max(maxSizePerMsg, 1);
  const maxInflightMsgs = c.maxInflightMsgs ?? 512;
  checkCount("maxInflightMsgs", maxInflightMsgs, false);
  if (maxInflightMsgs <= 0)
    throw new ConfigError("maxInflightMsgs", "max inflight messages must be greater than 0");
  let maxInflightBytes = c.maxInflightBytes ?? 0;
  checkCount("maxInflightBytes", maxInflightBytes, true);
  if (maxInflightBytes === 0) maxInflightBytes = noLimit;
  // A smaller window could not even hold one full message.
  else if (maxInflightBytes < maxSizePerMsg) {
    throw new ConfigError("maxInflightBytes", "max inflight bytes must be >= max message size");
  }
  const readOnlyOption = c.readOnlyOption ?? ReadOnlyOption.ReadOnlySafe;
  if (
    readOnlyOption !== ReadOnlyOption.ReadOnlySafe &&
    readOnlyOption !== ReadOnlyOption.ReadOnlyLeaseBased
  ) {
    throw new ConfigError("readOnlyOption", `unknown read-only option ${String(readOnlyOption)}`);
  }
  // A lease read trusts that the leader would have stepped down had it lost
  // its quorum; only CheckQuorum makes a leader step down, and only
  // CheckQuorum makes followers ignore other candidates while it leads.
  if (readOnlyOption === ReadOnlyOption.ReadOnlyLeaseBased && !c.checkQuorum) {
    throw new ConfigError(
      "readOnlyOption",
      "CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased",
    );
  }
  const leaseSafety = c.leaseSafety ?? "etcd";
  if (leaseSafety !== "etcd" && leaseSafety !== "strict") {
    throw new ConfigError("leaseSafety", `unknown lease safety ${JSON.stringify(leaseSafety)}`);
  }
  const leaseDriftMarginTicks = c.leaseDriftMarginTicks ?? Math.ceil(c.electionTick / 10);
  checkCount("leaseDriftMarginTicks", leaseDriftMarginTicks, false);
  if (leaseSafety === "strict") {
    if (readOnlyOption !== ReadOnlyOption.ReadOnlyLeaseBased) {
      throw new ConfigError("leaseSafety", 'leaseSafety "strict" needs readOnlyOption ReadOnlyLeaseBased');
    }
    // The lease must outlast a heartbeat interval, or it lapses between rounds.
    const leaseTicks = c.electionTick - 1 - leaseDriftMarginTicks;
    if (leaseTicks <= c.heartbeatTick) {
      throw new ConfigError(
        "leaseDriftMarginTicks",
        `a strict lease lasts electionTick - 1 - leaseDriftMarginTicks = ${leaseTicks} ticks, which must exceed ` +
          `heartbeatTick (${c.heartbeatTick}): raise electionTick or lower the margin`,
      );
    }
  }
  const applied = c.applied ?? 0;
  checkCount("applied", applied, false);
  return {
    id: c.id,
    electionTick: c.electionTick,
    heartbeatTick: c.heartbeatTick,
    storage: c.storage,
    applied,
    asyncStorageWrites: c.asyncStorageWrites ?? false,
    maxSizePerMsg,
    maxCommittedSizePerReady: maxCommitted,
    maxUncommittedEntriesSize: maxUncommitted,
    maxInflightMsgs,
    maxInflightBytes,
    checkQuorum: c.checkQuorum ?? false,
    preVote: c.preVote ?? false,
    readOnlyOption,
    leaseSafety,
    leaseDriftMarginTicks,
    shareCommitInVotes: c.shareCommitInVotes ?? false,
    keepClockOnRejectedVote: c.keepClockOnRejectedVote ?? false,
    logger: c.logger ?? getLogger(),
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    disableConfChangeValidation: c.disableConfChangeValidation ?? false,
    stepDownOnRemoval: c.stepDownOnRemoval ?? false,
    random: c.random ?? new SeededRandom(seedFromId(c.id)),
  };
}

/**
 * Volatile state that the application may want to display: the leader and
 * our role. Never persisted: after a restart every member is a follower
 * without a known leader until it hears from one.
 */
export class SoftState {
  lead: bigint;
  raftState: StateType;
  constructor(lead: bigint, raftState: StateType) {
    this.lead = lead;
    this.raftState = raftState;
  }
  equal(o: SoftState | null): boolean {
    return o !== null && o.lead === this.lead && o.raftState === this.raftState;
  }
}

// A message of the given type to `to`, with term 0 (send() stamps the term
// and the sender).
function msg(type: MessageType, to: bigint): Message {
  const m = new Message();
  m.type = type;
  m.to = to;
  return m;
}

/** The conf change carried by a MsgProp entry, or null for a normal entry. */
function confChangeOf(e: Entry): ConfChangeI | null {
  if (e.type === EntryType.EntryConfChange) return decodeConfChange(e.data);
  if (e.type === EntryType.EntryConfChangeV2) return decodeConfChangeV2(e.data);
  return null;
}

/** A MsgProp carrying one conf-change entry (null: the empty change that leaves a joint config). */
export function confChangeToMsg(cc: ConfChangeI | null): Message {
  const { type, data } = marshalConfChange(cc);
  const m = msg(MessageType.MsgProp, None);
  m.entries = [new Entry(0, 0, type, data)];
  return m;
}

/**
 * One member's raft state machine. Every input goes through step() (messages,
 * including local ones like MsgHup and MsgBeat) or tick(); every output
 * lands in msgs, msgsAfterAppend, readStates or the log, from where RawNode
 * hands it to the application.
 */
export class Raft {
  id: bigint;
  /** The current term. Never decreases; persisted (HardState) before it is revealed. */
  term = 0;
  /**
   * Whom we voted for in `term` (None: nobody yet). Set at most once per
   * term - a new term clears it (reset) - and persisted with the term before
   * the vote is sent, which is what makes "one vote per term" survive
   * restarts. A candidate votes for itself.
   */
  vote = None;
  /** Answers to read requests, for the next Ready. */
  readStates: ReadState[] = [];
  raftLog: RaftLog;
  /** Byte limit of the entries in one MsgApp (Config.maxSizePerMsg). */
  maxMsgSize: number;
  /** Byte limit of the leader's uncommitted tail (Config.maxUncommittedEntriesSize; Infinity: none). */
  maxUncommittedSize: number;
  /** The configuration, every member's Progress (meaningful on the leader) and the votes of this term. */
  trk: ProgressTracker;
  state: StateType = StateType.StateFollower;
  /** True if this node is a learner in its own configuration. */
  isLearner = false;
  /** Messages to send right away (never to this node). */
  msgs: Message[] = [];
  /**
   * Messages to send only once the unstable state (term, vote, entries,
   * snapshot) accumulated so far is durable: MsgAppResp, MsgVoteResp and
   * MsgPreVoteResp, possibly addressed to this node.
   */
  msgsAfterAppend: Message[] = [];
  /** The leader of `term` as far as we know (None: unknown). Volatile, as in SoftState. */
  lead = None;
  /**
   * Target of an ongoing leadership transfer (leader only; None otherwise).
   * Cleared when the transfer ends: a new term (reset), an election timeout
   * without success, or the transferee leaving the voters.
   */
  leadTransferee = None;
  /**
   * Set once this leader has sent MsgTimeoutNow in its term: the transferee
   * may win an election at any moment (voters ignore the lease for a forced
   * campaign), so lease-based reads fall back to a quorum round until the
   * term ends. (etcd keeps serving them: etcd-io/raft#99, stale reads.)
   */
  leaseRevoked = false;
  /**
   * Index of the latest conf change possibly not yet applied; one may be
   * pending at a time (leader only). A new conf change is refused while
   * pendingConfIndex > applied: two changes in flight could each be
   * validated against a configuration the other one replaces. A new leader
   * sets it to its last index, conservatively treating its whole log as
   * possibly holding one.
   */
  pendingConfIndex = 0;
  disableConfChangeValidation: boolean;
  /**
   * Estimated payload bytes of the uncommitted log tail (leader only): raised
   * by appended proposals, lowered as entries are applied. It may undercount
   * (it starts at 0 for a new leader's inherited tail) but never overcounts,
   * so the limit can only let through more than configured, never refuse
   * proposals forever.
   */
  uncommittedSize = 0;
  /** Read requests waiting for a quorum heartbeat round (ReadOnlySafe). */
  readOnly: ReadOnly;
  /**
   * Ticks since the last reset of the election clock. On a follower or
   * candidate: since a new term, a vote granted, or a message from the
   * current leader; an election starts when it passes
   * randomizedElectionTimeout. On a leader: ticks of the current CheckQuorum
   * (and leader transfer) period. The CheckQuorum lease in step() reads it.
   */
  electionElapsed = 0;
  /** Leader only: ticks since the last heartbeat broadcast. */
  heartbeatElapsed = 0;
  checkQuorum: boolean;
  preVote: boolean;
  heartbeatTimeout: number;
  electionTimeout: number;
  /**
   * In [electionTimeout, 2*electionTimeout-1]; redrawn whenever the term
   * state resets. Randomization makes it unlikely that several members time
   * out together and split the vote again and again.
   */
  randomizedElectionTimeout = 0;
  disableProposalForwarding: boolean;
  stepDownOnRemoval: boolean;
  logger: Logger;
  random: RandomSource;
  /** MsgReadIndex requests held until the leader commits an entry of its term. */
  pendingReadIndexMessages: Message[] = [];
  /** leaseSafety "strict" (see lease.ts). */
  readonly strictLease: boolean;
  /** With a strict lease: ticks a lease round stays valid (electionTimeout - 1 - drift margin). */
  readonly leaseTicks: number;
  /** Ticks since this instance started; the leader measures its lease with it. */
  leaseClock = 0;
  /**
   * With a strict lease: ticks during which this member still keeps its
   * promise to the leader it last heard from (or that it may have made before
   * a restart): no vote for another candidate and no campaign of its own,
   * except the forced campaign of a leadership transfer.
   */
  voteHold = 0;
  /** The leader's lease in its term (strict leases only; null otherwise). */
  lease: LeaderLease | null = null;
  /** Lease-based reads answered from the lease, and those that needed a quorum round (strict leases). */
  leaseReadsLocal = 0;
  leaseReadsFallback = 0;
  /** Vote messages carry commit indexes (Config.shareCommitInVotes). */
  readonly shareCommitInVotes: boolean;
  /** A refused vote of a later term leaves the election clock running (Config.keepClockOnRejectedVote). */
  readonly keepClockOnRejectedVote: boolean;

  /**
   * Builds a member from its storage: the configuration from the stored
   * ConfState (replayed through the Changer, so an invalid one is refused),
   * term/vote/commit from the HardState, applied from Config.applied. It
   * starts as a follower without a leader, whatever it was before a restart.
   */
  constructor(config: Config) {
    const c = resolveConfig(config);
    this.id = c.id;
    this.logger = c.logger;
    this.random = c.random;
    this.raftLog = new RaftLog(c.storage, c.logger, c.maxCommittedSizePerReady);
    const { hardState, confState } = c.storage.initialState();
    this.maxMsgSize = c.maxSizePerMsg;
    this.maxUncommittedSize = c.maxUncommittedEntriesSize;
    this.trk = new ProgressTracker(c.maxInflightMsgs, c.maxInflightBytes);
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.checkQuorum = c.checkQuorum;
    this.preVote = c.preVote;
    this.readOnly = new ReadOnly(c.readOnlyOption);
    this.disableProposalForwarding = c.disableProposalForwarding;
    this.disableConfChangeValidation = c.disableConfChangeValidation;
    this.stepDownOnRemoval = c.stepDownOnRemoval;
    this.strictLease = c.leaseSafety === "strict";
    this.leaseTicks = c.electionTick - 1 - c.leaseDriftMarginTicks;
    this.shareCommitInVotes = c.shareCommitInVotes;
    this.keepClockOnRejectedVote = c.keepClockOnRejectedVote;
    // Before going down this member may have promised a leader not to vote
    // for an election timeout; it cannot know, so it keeps that promise anew.
    if (this.strictLease) this.voteHold = this.electionTimeout;

    const last = this.raftLog.lastEntryID();
    const r = restoreConf(new Changer(this.trk, last.index), confState);
    this.assertConfStatesEquivalent(confState, this.switchToConfig(r.config, r.progress));
    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    if (c.applied > 0) this.raftLog.appliedTo(c.applied, 0);
    this.becomeFollower(this.term, None);

    const peers = this.trk
      .voterNodes()
      .map((n) => n.toString(16))
      .join(",");
    this.logger.info(
      `newRaft ${this.id.toString(16)} [peers: [${peers}], term: ${this.term}, commit: ${this.raftLog.committed}, ` +
        `applied: ${this.raftLog.applied}, lastindex: ${last.index}, lastterm: ${last.term}]`,
    );
  }

  // The configuration raft switched to must be the one it was given (storage
  // or snapshot); a difference would mean the Changer's replay lost something.
  private assertConfStatesEquivalent(a: ConfState, b: ConfState): void {
    const err = confStatesEquivalent(a, b);
    if (err !== undefined) this.logger.panic(err);
  }

  private get hex(): string {
    return this.id.toString(16);
  }

  hasLeader(): boolean {
    return this.lead !== None;
  }

  softState(): SoftState {
    return new SoftState(this.lead, this.state);
  }

  /** The state raft needs back after a restart: term, vote and commit index. */
  hardState(): HardState {
    return new HardState(this.term, this.vote, this.raftLog.committed);
  }

  /**
   * Queues a message. Vote messages carry their term explicitly; everything
   * else gets the current term (except proposals and read requests, which
   * are forwarded unchanged). Responses that assert durable state wait in
   * msgsAfterAppend until the state they depend on is persisted.
   */
  send(m: Message): void {
    if (m.from === None) m.from = this.id;
    const t = m.type;
    if (
      t === MessageType.MsgVote ||
      t === MessageType.MsgVoteResp ||
      t === MessageType.MsgPreVote ||
      t === MessageType.MsgPreVoteResp
    ) {
      if (m.term === 0) this.logger.panic(`term should be set when sending ${messageTypeNames[t]}`);
    } else {
      if (m.term !== 0) {
        this.logger.panic(`term should not be set when sending ${messageTypeNames[t]} (was ${m.term})`);
      }
      if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) m.term = this.term;
    }
    if (t === MessageType.MsgAppResp || t === MessageType.MsgVoteResp || t === MessageType.MsgPreVoteResp) {
      this.msgsAfterAppend.push(m);
    } else {
      if (m.to === this.id)
        this.logger.panic(`message should not be self-addressed when sending ${messageTypeNames[t]}`);
      this.msgs.push(m);
    }
  }

  /** Sends `to` whatever maybeSendAppend allows, even an empty MsgApp (it carries the commit index). */
  sendAppend(to: bigint): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends a MsgApp with new entries (if any) and the commit index to `to`.
   * Empty messages are sent only if sendIfEmpty (they carry the commit index).
   * Returns true if a message was sent.
   */
  maybeSendAppend(to: bigint, sendIfEmpty: boolean): boolean {
    return this.maybeSendAppendTo(to, this.trk.progress.get(to)!, sendIfEmpty);
  }

  /**
   * maybeSendAppend for a caller that holds `to`'s Progress already: the
   * per-message paths pass it along rather than look a bigint ID up in the
   * progress Map again (see ProgressMap).
   *
   * The MsgApp names the entry just before the ones it carries, (next-1,
   * term), so that the follower can check Log Matching before accepting
   * them. If that term or those entries are compacted away, the follower is
   * too far behind for the log: it gets a snapshot instead. A paused flow
   * (probe outstanding, full window, snapshot in flight) sends nothing.
   */
  private maybeSendAppendTo(to: bigint, pr: Progress, sendIfEmpty: boolean): boolean {
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.termOrError(prevIndex);
    // The follower needs entries we no longer have: send a snapshot instead.
    if (prevTerm < 0) return this.maybeSendSnapshot(to, pr);
    let ents: Entry[] = [];
    // With a full window in StateReplicate only an empty MsgApp goes out, so
    // that a lost window is eventually acked or rejected.
    if (pr.state !== ProgressStateType.StateReplicate || !pr.inflights.full()) {
      try {
        ents = this.raftLog.entries(pr.next, this.maxMsgSize);
      } catch (err) {
        if (!isError(err, ErrCompacted)) throw err;
        if (!sendIfEmpty) return false;
        return this.maybeSendSnapshot(to, pr);
      }
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    const m = msg(MessageType.MsgApp, to);
    m.index = prevIndex;
    m.logTerm = prevTerm;
    m.entries = ents;
    m.commit = this.raftLog.committed;
    this.send(m);
    pr.sentEntries(ents.length, payloadsSize(ents));
    pr.sentCommitIndex(this.raftLog.committed);
    return true;
  }

  /**
   * Sends the latest snapshot to `to`; false if it is unavailable or the peer
   * is inactive. An inactive peer (not heard from since the last CheckQuorum
   * round) may be down, and a snapshot is expensive to build and ship: wait
   * until it answers a heartbeat. Storage may answer that the snapshot is
   * being prepared (ErrSnapshotTemporarilyUnavailable): raft tries again on
   * a later heartbeat response. The follower then stays in StateSnapshot
   * until the transport reports the outcome or the follower acknowledges.
   */
  maybeSendSnapshot(to: bigint, pr: Progress): boolean {
    if (!pr.recentActive) {
      this.logger.debug(`ignore sending snapshot to ${to.toString(16)} since it is not recently active`);
      return false;
    }
    let snapshot: Snapshot;
    try {
      snapshot = this.raftLog.snapshot();
    } catch (err) {
      if (isError(err, ErrSnapshotTemporarilyUnavailable)) {
        this.logger.debug(
          `${this.hex} failed to send snapshot to ${to.toString(16)} because snapshot is temporarily unavailable`,
        );
        return false;
      }
      throw err;
    }
    if (snapshot.metadata.index === 0) this.logger.panic("need non-empty snapshot");
    const { index: sindex, term: sterm } = snapshot.metadata;
    this.logger.debug(
      `${this.hex} [firstindex: ${this.raftLog.firstIndex()}, commit: ${this.raftLog.committed}] sent snapshot` +
        `[index: ${sindex}, term: ${sterm}] to ${to.toString(16)} [${pr.toString()}]`,
    );
    pr.becomeSnapshot(sindex);
    this.logger.debug(
      `${this.hex} paused sending replication messages to ${to.toString(16)} [${pr.toString()}]`,
    );
    const m = msg(MessageType.MsgSnap, to);
    m.snapshot = snapshot;
    this.send(m);
    return true;
  }

  /**
   * Heartbeats carry min(match, committed): a follower must not commit past
   * what it matches. Its log beyond match may still hold entries of an old
   * term that the leader's log does not have; a commit index covering them
   * would commit the wrong entries. Heartbeats carry no entries, so they can
   * only commit what a MsgApp already proved to be shared.
   */
  sendHeartbeat(to: bigint, ctx: Uint8Array | null): void {
    this.sendHeartbeatTo(to, this.trk.progress.get(to)!, ctx);
  }

  private sendHeartbeatTo(to: bigint, pr: Progress, ctx: Uint8Array | null): void {
    const m = msg(MessageType.MsgHeartbeat, to);
    m.commit = Math.min(pr.match, this.raftLog.committed);
    if (ctx !== null) m.context = ctx;
    this.send(m);
    pr.sentCommitIndex(m.commit);
  }

  /** Sends entries (or at least the commit index) to every follower whose flow is not paused. */
  bcastAppend(): void {
    const prm = this.trk.progress;
    const ids = prm.sortedIds();
    const prs = prm.sortedProgress();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id !== this.id) this.maybeSendAppendTo(id, prs[i]!, true);
    }
  }

  /**
   * A heartbeat round (MsgBeat, every heartbeatTimeout ticks): keeps
   * followers from campaigning, carries the commit index, and with a
   * pending ReadOnlySafe request carries its context, so that the
   * acknowledgements also confirm leadership for that read.
   */
  bcastHeartbeat(): void {
    if (this.lease !== null) {
      this.startLeaseRound();
      return;
    }
    const ctx = this.readOnly.lastPendingRequestCtx();
    this.bcastHeartbeatWithCtx(ctx === null || ctx.length === 0 ? null : ctx);
  }

  /** Heartbeats to every other member, learners included (they need the commit index too). */
  bcastHeartbeatWithCtx(ctx: Uint8Array | null): void {
    const prm = this.trk.progress;
    const ids = prm.sortedIds();
    const prs = prm.sortedProgress();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id !== this.id) this.sendHeartbeatTo(id, prs[i]!, ctx);
    }
  }

  // ------------------------------------------------------------ strict leases (see lease.ts)

  /** Broadcasts a heartbeat round numbered for the lease; returns its number. */
  private startLeaseRound(): number {
    const round = this.lease!.startRound(this.leaseClock);
    this.bcastHeartbeatWithCtx(encodeRoundCtx(round));
    return round;
  }

  /** The leader's tick at which the round a quorum acknowledged last was sent (-Infinity: none). */
  private leaseQuorumTick(): number {
    const lease = this.lease!;
    const q = lease.quorumRound(this.trk.config.voters);
    return q === 0 ? Number.NEGATIVE_INFINITY : lease.tickOfRound(q);
  }

  /** Whether lease-based reads may be answered from the lease now. */
  leaseHolds(): boolean {
    return (
      this.lease !== null && !this.leaseRevoked && this.leaseClock - this.leaseQuorumTick() < this.leaseTicks
    );
  }

  /** The tick the lease was last renewed at: the quorum round's, or the start of leadership. */
  private leaseRenewedTick(): number {
    return Math.max(this.lease!.startTick, this.leaseQuorumTick());
  }

  /** True once the lease (or, before the first renewal, leadership itself) is leaseTicks old. */
  private leaseLapsed(): boolean {
    return this.leaseClock - this.leaseRenewedTick() >= this.leaseTicks;
  }

  /** Answers the reads waiting for rounds a quorum has now acknowledged. */
  private advanceLease(): void {
    const lease = this.lease!;
    const q = lease.quorumRound(this.trk.config.voters);
    if (q === 0) return;
    for (const rd of lease.takeReadsUpTo(q)) {
      const resp = this.responseToReadIndexReq(rd.req, rd.index);
      if (resp !== null) this.send(resp);
    }
    lease.forgetBefore(q);
  }

  /**
   * The application applied up to `index` (payload bytes `size`). On a leader
   * in an auto-leave joint configuration, once the entry that entered it is
   * applied (applied >= pendingConfIndex), the leader proposes the empty
   * change that leaves it: the joint state must not outlast its purpose, and
   * the leader is the one member that knows when it may propose.
   */
  appliedTo(index: number, size: number): void {
    const oldApplied = this.raftLog.applied;
    const newApplied = Math.max(index, oldApplied);
    this.raftLog.appliedTo(newApplied, size);
    if (
      this.trk.config.autoLeave &&
      newApplied >= this.pendingConfIndex &&
      this.state === StateType.StateLeader
    ) {
      // Leave the joint config now. The empty change (nil data) can never be
      // refused for its size; it can be dropped during a leadership transfer,
      // in which case we try again on the next applied entry.
      const err = this.step(confChangeToMsg(null));
      if (err !== null) {
        this.logger.debug(
          `not initiating automatic transition out of joint configuration ${this.trk.config.toString()}: ${err.message}`,
        );
      } else {
        this.logger.info(
          `initiating automatic transition out of joint configuration ${this.trk.config.toString()}`,
        );
      }
    }
  }

  /** The snapshot is persisted and, being the state machine's state, applied. */
  appliedSnap(snap: Snapshot): void {
    const index = snap.metadata.index;
    this.raftLog.stableSnapTo(index);
    this.appliedTo(index, 0);
  }

  /**
   * Advances the commit index to what a quorum acknowledged (leader only),
   * if that entry is of the current term (see RaftLog.maybeCommit).
   */
  maybeCommit(): boolean {
    return this.raftLog.maybeCommit(this.trk.committed(), this.term);
  }

  /**
   * Resets the per-term state for `term` (the same term when a candidate
   * becomes leader). A new term clears the vote; within a term the vote
   * stays, since it was cast for this term. Every Progress restarts probing
   * from the end of our log, with nothing known about the followers: what
   * a previous leader (or we, in an earlier term) knew does not carry over.
   * Our own match is our last index, which we certainly hold.
   */
  reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = None;
    }
    this.lead = None;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const lastIndex = this.raftLog.lastIndex();
    this.trk.visit((id, pr) => {
      pr.match = 0;
      pr.next = lastIndex + 1;
      pr.state = ProgressStateType.StateProbe;
      pr.pendingSnapshot = 0;
      pr.recentActive = false;
      pr.msgAppFlowPaused = false;
      pr.sentCommit = 0;
      pr.inflights = this.trk.newInflights();
      if (id === this.id) pr.match = lastIndex;
    });
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.leaseRevoked = false;
    this.readOnly = new ReadOnly(this.readOnly.option);
    this.lease = null;
  }

  /**
   * Appends entries at the current term (leader only); false if the
   * uncommitted size limit refuses them. The entries are stamped here with
   * the term and consecutive indexes after our last one: proposals arrive
   * without either. Leader Append-Only: this only extends the log.
   */
  appendEntry(es: Entry[]): boolean {
    let li = this.raftLog.lastIndex();
    for (let i = 0; i < es.length; i++) {
      const e = es[i]!;
      e.term = this.term;
      e.index = li + 1 + i;
    }
    if (!this.increaseUncommittedSize(es)) {
      this.logger.warning(
        `${this.hex} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`,
      );
      return false;
    }
    li = this.raftLog.append(es);
    // The leader acknowledges its own entries once they are durable, through
    // a self-addressed MsgAppResp delivered after the append.
    const m = msg(MessageType.MsgAppResp, this.id);
    m.index = li;
    this.send(m);
    return true;
  }

  /**
   * One unit of logical time. Raft has no clock of its own: the application
   * calls tick() at a regular interval, and every timeout is a count of
   * ticks. Leaders count towards heartbeats and quorum checks, others
   * towards an election.
   */
  tick(): void {
    this.advanceLeaseClock();
    if (this.state === StateType.StateLeader) this.tickHeartbeat();
    else this.tickElection();
  }

  /** Time passes for the lease: the leader's clock, and a member's promise to its leader. */
  advanceLeaseClock(): void {
    this.leaseClock++;
    if (this.voteHold > 0) this.voteHold--;
  }

  /** Followers and candidates campaign once the randomized election timeout passes. */
  tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      const m = msg(MessageType.MsgHup, None);
      m.from = this.id;
      const err = this.step(m);
      if (err !== null) this.logger.debug(`error occurred during election: ${err.message}`);
    }
  }

  /** Leaders send heartbeats and, with CheckQuorum, verify they still have a quorum. */
  tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.lease !== null && this.leaseLapsed()) {
      // Others may be electing a leader from now on: stop leading at once,
      // rather than at the next quorum check up to an election timeout later.
      this.logger.warning(
        `${this.hex} stepped down to follower since its lease lapsed at tick ${this.leaseClock} ` +
          `(last renewed by a round sent at tick ${this.leaseRenewedTick()})`,
      );
      this.becomeFollower(this.term, None);
      return;
    }
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        const m = msg(MessageType.MsgCheckQuorum, None);
        m.from = this.id;
        const err = this.step(m);
        if (err !== null)
          this.logger.debug(`error occurred during checking sending heartbeat: ${err.message}`);
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === StateType.StateLeader && this.leadTransferee !== None) this.abortLeaderTransfer();
    }
    if (this.state !== StateType.StateLeader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      const m = msg(MessageType.MsgBeat, None);
      m.from = this.id;
      const err = this.step(m);
      if (err !== null) this.logger.debug(`error occurred during checking sending heartbeat: ${err.message}`);
    }
  }

  /** Becomes a follower of `lead` (None if unknown) at `term`. Allowed from any state. */
  becomeFollower(term: number, lead: bigint): void {
    this.reset(term);
    this.lead = lead;
    this.state = StateType.StateFollower;
    this.logger.info(`${this.hex} became follower at term ${this.term}`);
  }

  /**
   * Starts an election: a new term, with our vote for ourselves (counted when
   * the self-addressed MsgVoteResp comes back after the term and vote are
   * persisted, see campaign()).
   */
  becomeCandidate(): void {
    if (this.state === StateType.StateLeader) this.logger.panic("invalid transition [leader -> candidate]");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = StateType.StateCandidate;
    this.logger.info(`${this.hex} became candidate at term ${this.term}`);
  }

  /**
   * Starts a pre-vote round: neither term nor vote changes, so a member that
   * cannot win leaves no trace on the others. lead is cleared: we are asking
   * to replace it.
   */
  becomePreCandidate(): void {
    if (this.state === StateType.StateLeader)
      this.logger.panic("invalid transition [leader -> pre-candidate]");
    // Pre-candidacy changes neither the term nor the vote.
    this.trk.resetVotes();
    this.lead = None;
    this.state = StateType.StatePreCandidate;
    this.logger.info(`${this.hex} became pre-candidate at term ${this.term}`);
  }

  /**
   * Takes office after winning the election of the current term. The log is
   * not examined for conf changes (see pendingConfIndex); the empty entry
   * appended here makes every earlier entry committed as soon as a quorum
   * holds it (the current-term commit rule), and the first ReadIndex of the
   * term waits for it.
   */
  becomeLeader(): void {
    if (this.state === StateType.StateFollower) this.logger.panic("invalid transition [follower -> leader]");
    this.reset(this.term);
    this.lead = this.id;
    this.state = StateType.StateLeader;
    // The leader trivially replicates to itself and is always active.
    const pr = this.trk.progress.get(this.id)!;
    pr.becomeReplicate();
    pr.recentActive = true;
    // Conservatively treat everything in the log as a possibly pending conf
    // change, rather than scanning the tail.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // The empty entry commits the previous terms' entries; its payload size
    // is 0, so it never counts against the uncommitted size limit.
    if (!this.appendEntry([new Entry()])) this.logger.panic("empty entry was dropped");
    if (this.strictLease) this.lease = new LeaderLease(this.id, this.leaseClock);
    this.logger.info(`${this.hex} became leader at term ${this.term}`);
  }

  /**
   * Starts a campaign if we may: not already leader, promotable (a voter
   * without a pending snapshot), no committed conf change left to apply
   * (our configuration would be out of date: we might need votes from the
   * wrong members, or be no voter at all), and, with a strict lease, no
   * promise to keep (except for a transfer).
   */
  hup(t: CampaignType): void {
    if (this.state === StateType.StateLeader) {
      this.logger.debug(`${this.hex} ignoring MsgHup because already leader`);
      return;
    }
    if (!this.promotable()) {
      this.logger.warning(`${this.hex} is unpromotable and can not campaign`);
      return;
    }
    if (this.hasUnappliedConfChanges()) {
      this.logger.warning(
        `${this.hex} cannot campaign at term ${this.term} since there are still pending configuration changes to apply`,
      );
      return;
    }
    if (this.voteHold > 0 && t !== CampaignTransfer) {
      // Our own vote would break the promise a leader's lease may rest on.
      this.logger.warning(
        `${this.hex} cannot campaign at term ${this.term} within the lease of its last leader (remaining ticks: ${this.voteHold})`,
      );
      return;
    }
    this.logger.info(`${this.hex} is starting a new election at term ${this.term}`);
    this.campaign(t);
  }

  /** True if a committed but unapplied entry is a conf change. */
  hasUnappliedConfChanges(): boolean {
    return this.hasConfChangeIn(this.raftLog.applied + 1, this.raftLog.committed + 1);
  }

  /** True if an entry in [lo, hi) is a conf change. */
  private hasConfChangeIn(lo: number, hi: number): boolean {
    if (lo >= hi) return false;
    let found = false;
    // Page through the entries to bound memory, with the apply budget as page size.
    this.raftLog.scan(lo, hi, this.raftLog.maxApplyingEntsSize, (ents) => {
      for (const e of ents) {
        if (e.type === EntryType.EntryConfChange || e.type === EntryType.EntryConfChangeV2) {
          found = true;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  /**
   * Asks every voter of the configuration (both halves when joint) for its
   * vote. A request carries our last entry (index, logTerm) for the voter's
   * up-to-date check; a pre-vote asks for term+1 without taking it. Our own
   * vote is a self-addressed response: like any vote it must only count
   * once it is durable.
   */
  campaign(t: CampaignType): void {
    if (!this.promotable()) {
      this.logger.warning(`${this.hex} is unpromotable; campaign() should have been called`);
    }
    let term: number;
    let voteMsg: MessageType;
    if (t === CampaignPreElection) {
      this.becomePreCandidate();
      voteMsg = MessageType.MsgPreVote;
      // Pre-votes ask for the next term without incrementing ours.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.MsgVote;
      term = this.term;
    }
    for (const id of this.trk.voterNodes()) {
      if (id === this.id) {
        // The self-vote counts once it is durable: a self-addressed response.
        const m = msg(voteRespMsgType(voteMsg), id);
        m.term = term;
        this.send(m);
        continue;
      }
      const last = this.raftLog.lastEntryID();
      this.logger.info(
        `${this.hex} [logterm: ${last.term}, index: ${last.index}] sent ${messageTypeNames[voteMsg]} request to ` +
          `${id.toString(16)} at term ${this.term}`,
      );
      const m = msg(voteMsg, id);
      m.term = term;
      m.index = last.index;
      m.logTerm = last.term;
      if (t === CampaignTransfer) m.context = CAMPAIGN_TRANSFER_BYTES;
      if (this.shareCommitInVotes) m.commit = this.raftLog.committed;
      this.send(m);
    }
  }

  /** Records one vote (granted or not) and tallies the election so far. Repeated votes count once. */
  poll(id: bigint, t: MessageType, v: boolean): { granted: number; rejected: number; result: VoteResult } {
    if (v)
      this.logger.info(
        `${this.hex} received ${messageTypeNames[t]} from ${id.toString(16)} at term ${this.term}`,
      );
    else {
      this.logger.info(
        `${this.hex} received ${messageTypeNames[t]} rejection from ${id.toString(16)} at term ${this.term}`,
      );
    }
    this.trk.recordVote(id, v);
    return this.trk.tallyVotes();
  }

  /**
   * Steps a message into the state machine; returns an error (e.g.
   * ErrProposalDropped) or null.
   *
   * First the message's term is compared with ours (term 0 marks a local
   * message, exempt):
   * - higher: we adopt it and become a follower (of the sender if it is a
   *   leader's message), unless it is a pre-vote (which asks about a term
   *   nobody has entered) or a granted pre-vote response, or a vote request
   *   we ignore because we heard from a leader within the election timeout
   *   (CheckQuorum) or hold a strict-lease promise;
   * - lower: it is stale. Most are dropped; some are answered so that the
   *   sender learns our term (see below).
   * Then the current-term message goes to the handler of our role.
   */
  step(m: Message): RaftError | null {
    if (this.shareCommitInVotes && m.commit > this.raftLog.committed && isVoteTraffic(m.type)) {
      this.learnCommit(m);
    }
    // Handle the message's term, which may make us step down.
    if (m.term === 0) {
      // A local message.
    } else if (m.term > this.term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER_BYTES);
        const inLease = this.checkQuorum && this.lead !== None && this.electionElapsed < this.electionTimeout;
        // A strict lease's promise outlives a change of term or leader.
        if (!force && (inLease || this.voteHold > 0)) {
          // Within the minimum election timeout of hearing from a leader we
          // neither update the term nor grant the vote. The leader is alive
          // as far as we know; the candidate is likely a member that lost
          // contact with it (a one-sided partition) and would otherwise
          // depose a working leader with every timeout. Ignoring the term
          // too matters: adopting it would demote that leader when it next
          // hears from us. A transfer's campaign (force) was asked for by the
          // leader itself, so it passes.
          const last = this.raftLog.lastEntryID();
          this.logger.info(
            `${this.hex} [logterm: ${last.term}, index: ${last.index}, vote: ${this.vote.toString(16)}] ignored ` +
              `${messageTypeNames[m.type]} from ${m.from.toString(16)} [logterm: ${m.logTerm}, index: ${m.index}] ` +
              `at term ${this.term}: lease is not expired (remaining ticks: ${Math.max(inLease ? this.electionTimeout - this.electionElapsed : 0, this.voteHold)})`,
          );
          return null;
        }
      }
      if (m.type === MessageType.MsgPreVote) {
        // Never change the term for a pre-vote: it asks about a term nobody
        // has entered, and answering must leave no trace.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // A granted pre-vote carries the future term; the term changes when we win.
        // (A rejection carries the voter's own term: if that is higher, we
        // are behind and adopt it below like any other message.)
      } else {
        this.logger.info(
          `${this.hex} [term: ${this.term}] received a ${messageTypeNames[m.type]} message with higher term from ` +
            `${m.from.toString(16)} [term: ${m.term}]`,
        );
        // Only the leader of a term sends these three: its sender is the
        // leader of the new term. Anything else only tells us the term.
        if (
          m.type === MessageType.MsgApp ||
          m.type === MessageType.MsgHeartbeat ||
          m.type === MessageType.MsgSnap
        ) {
          this.becomeFollower(m.term, m.from);
        } else if (
          m.type === MessageType.MsgVote &&
          this.keepClockOnRejectedVote &&
          this.state !== StateType.StateLeader
        ) {
          // The new term, without restarting our clock: handleVote restarts
          // it if it grants the vote. (A leader's clock counted CheckQuorum
          // rounds, so a deposed leader starts a fresh one.)
          const elapsed = this.electionElapsed;
          const timeout = this.randomizedElectionTimeout;
          this.becomeFollower(m.term, None);
          this.electionElapsed = elapsed;
          this.randomizedElectionTimeout = timeout;
        } else {
          this.becomeFollower(m.term, None);
        }
      }
    } else if (m.term < this.term) {
      if (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp) {
        // A leader of an older term: tell it about our term (it may be a
        // stale leader, or we may have been partitioned and advanced our
        // term; either way a higher-term response unsticks the situation).
        // etcd answers only with CheckQuorum or PreVote, counting on us to
        // campaign otherwise; but a member that may not campaign (a learner,
        // or one whose applied config lacks it) would then never rejoin.
        this.send(msg(MessageType.MsgAppResp, m.from));
      } else if (m.type === MessageType.MsgPreVote || m.type === MessageType.MsgVote) {
        // Reject explicitly so that a candidate with a higher term but a
        // shorter log does not deadlock the cluster after enabling PreVote.
        const last = this.raftLog.lastEntryID();
        this.logger.info(
          `${this.hex} [logterm: ${last.term}, index: ${last.index}, vote: ${this.vote.toString(16)}] rejected ` +
            `${messageTypeNames[m.type]} from ${m.from.toString(16)} [logterm: ${m.logTerm}, index: ${m.index}] ` +
            `at term ${this.term}`,
        );
        const r = msg(voteRespMsgType(m.type), m.from);
        r.term = this.term;
        r.reject = true;
        this.attachCommit(r);
        this.send(r);
      } else if (m.type === MessageType.MsgStorageAppendResp) {
        if (m.index !== 0) {
          // The entries may have been overwritten in a later term; do not
          // consider them stable.
          this.logger.info(
            `${this.hex} [term: ${this.term}] ignored entry appends from a ${messageTypeNames[m.type]} message ` +
              `with lower term [term: ${m.term}]`,
          );
        }
        // A snapshot is term-independent committed state: its application stands.
        if (m.snapshot !== null) this.appliedSnap(m.snapshot);
      } else {
        this.logger.info(
          `${this.hex} [term: ${this.term}] ignored a ${messageTypeNames[m.type]} message with lower term from ` +
            `${m.from.toString(16)} [term: ${m.term}]`,
        );
      }
      return null;
    }

    switch (m.type) {
      case MessageType.MsgHup:
        this.hup(this.preVote ? CampaignPreElection : CampaignElection);
        return null;
      // The storage acknowledgements (from the local threads, or stepped in by
      // advance()): entries up to (index, logTerm) are durable, a snapshot is
      // durable and applied, committed entries are applied. They carry our
      // current term or 0, so a term change in between sent them to the
      // lower-term branch above instead.
      case MessageType.MsgStorageAppendResp:
        if (m.index !== 0) this.raftLog.stableTo(m.index, m.logTerm);
        if (m.snapshot !== null) this.appliedSnap(m.snapshot);
        return null;
      case MessageType.MsgStorageApplyResp:
        if (m.entries.length > 0) {
          const index = m.entries[m.entries.length - 1]!.index;
          this.appliedTo(index, entsSize(m.entries));
          this.reduceUncommittedSize(payloadsSize(m.entries));
        }
        return null;
      case MessageType.MsgVote:
      case MessageType.MsgPreVote:
        this.handleVote(m);
        return null;
      default:
        switch (this.state) {
          case StateType.StateLeader:
            return this.stepLeader(m);
          case StateType.StateFollower:
            return this.stepFollower(m);
          default:
            return this.stepCandidate(m);
        }
    }
  }

  /**
   * Answers a (pre-)vote request of our term or a later one (step() has
   * adopted a later term for real votes already). The rules, in order:
   * - we may vote for the candidate we already voted for in this term (a
   *   retransmitted request), or for anyone if we have neither voted nor
   *   know a leader in this term, or for any pre-vote of a later term (a
   *   pre-vote binds nothing);
   * - the candidate's last entry must be at least as up to date as ours
   *   (Leader Completeness);
   * - with a strict lease, not while our promise to another leader holds.
   * A granted real vote is recorded (and persisted before the response
   * leaves) and restarts our election clock, so that we do not campaign
   * against the candidate we just voted for.
   */
  private handleVote(m: Message): void {
    // We can vote for a repeat of our vote, or if we have not voted and know
    // of no leader in this term, or for a pre-vote of a future term...
    let canVote =
      this.vote === m.from ||
      (this.vote === None && this.lead === None) ||
      (m.type === MessageType.MsgPreVote && m.term > this.term);
    // ...but not while a strict lease's promise holds (a message of a higher
    // term may have reset our term and leader since we made it).
    if (
      canVote &&
      this.voteHold > 0 &&
      this.vote !== m.from &&
      !bytesEqual(m.context, CAMPAIGN_TRANSFER_BYTES)
    ) {
      this.logger.info(
        `${this.hex} keeps its lease promise to its last leader (remaining ticks: ${this.voteHold}); ` +
          `not voting for ${m.from.toString(16)} at term ${m.term}`,
      );
      canVote = false;
    }
    const last = this.raftLog.lastEntryID();
    // ...and only if the candidate's log is at least as up to date as ours.
    // Learners vote too: a promoted learner may not know it yet.
    if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
      this.logger.info(
        `${this.hex} [logterm: ${last.term}, index: ${last.index}, vote: ${this.vote.toString(16)}] cast ` +
          `${messageTypeNames[m.type]} for ${m.from.toString(16)} [logterm: ${m.logTerm}, index: ${m.index}] ` +
          `at term ${this.term}`,
      );
      // Respond with the message's term, not ours: for pre-votes our term is
      // older, and the candidate would ignore a stale-term response.
      const r = msg(voteRespMsgType(m.type), m.from);
      r.term = m.term;
      this.send(r);
      if (m.type === MessageType.MsgVote) {
        // Only real votes are recorded.
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.logger.info(
        `${this.hex} [logterm: ${last.term}, index: ${last.index}, vote: ${this.vote.toString(16)}] rejected ` +
          `${messageTypeNames[m.type]} from ${m.from.toString(16)} [logterm: ${m.logTerm}, index: ${m.index}] ` +
          `at term ${this.term}`,
      );
      const r = msg(voteRespMsgType(m.type), m.from);
      r.term = this.term;
      r.reject = true;
      this.attachCommit(r);
      this.send(r);
    }
  }

  /**
   * With shareCommitInVotes: a vote rejection tells the candidate our commit
   * index, as (index, logTerm) = (commit, its term), so that a candidate
   * whose log matches ours there learns it.
   */
  private attachCommit(r: Message): void {
    if (!this.shareCommitInVotes) return;
    const c = this.raftLog.committed;
    r.index = c;
    r.logTerm = this.raftLog.zeroTermOnOutOfBounds(c);
    r.commit = c;
  }

  /**
   * Adopts the commit index a vote message carries (shareCommitInVotes). The
   * sender's log holds (m.index, m.logTerm) and its commit index m.commit is
   * at most m.index. If our log holds that entry too, log matching makes our
   * prefix up to m.index identical to the sender's, so our entries up to
   * m.commit are committed. (A vote request carries the candidate's last
   * entry; a rejection the responder's commit entry.) A member that missed
   * the commit of a membership change thus applies it before campaigning
   * with a configuration that would need the vote of a member the change
   * removed or demoted.
   */
  private learnCommit(m: Message): void {
    const idx = Math.min(m.commit, m.index);
    if (idx <= this.raftLog.committed || !this.raftLog.matchTerm(m.index, m.logTerm)) return;
    this.logger.info(
      `${this.hex} [commit: ${this.raftLog.committed}] learned commit ${idx} from ` +
        `${messageTypeNames[m.type]} of ${m.from.toString(16)} [logterm: ${m.logTerm}, index: ${m.index}]`,
    );
    this.raftLog.commitTo(idx);
    // A candidate must not win with a configuration it now knows to be
    // superseded (the rule hup() applies before campaigning).
    if (
      (this.state === StateType.StateCandidate || this.state === StateType.StatePreCandidate) &&
      this.hasUnappliedConfChanges()
    ) {
      this.logger.info(
        `${this.hex} abandons its campaign at term ${this.term}: configuration changes up to ${idx} are committed but not applied`,
      );
      this.becomeFollower(this.term, None);
    }
  }

  /**
   * The leader's handler. Messages about one follower (responses, snapshot
   * and unreachable reports, transfer requests) need its Progress, and are
   * ignored for non-members (a removed member may still answer).
   */
  private stepLeader(m: Message): RaftError | null {
    // These message types need no progress for m.from.
    switch (m.type) {
      case MessageType.MsgBeat:
        this.bcastHeartbeat();
        return null;
      case MessageType.MsgCheckQuorum:
        // Once per election timeout: if a quorum did not respond since the
        // last check, others may be electing a new leader; step down rather
        // than keep accepting proposals that cannot commit (and, with lease
        // reads, answering reads another leader's writes could have made
        // stale).
        if (!this.trk.quorumActive()) {
          this.logger.warning(`${this.hex} stepped down to follower since quorum is not active`);
          this.becomeFollower(this.term, None);
        }
        // Everyone but us must prove activity again before the next check.
        this.trk.visit((id, pr) => {
          if (id !== this.id) pr.recentActive = false;
        });
        return null;
      case MessageType.MsgProp:
        return this.propose(m);
      case MessageType.MsgReadIndex:
        // Until an entry of our term commits, our commit index may be stale.
        // That holds for a single voter too: a leader removed from its config
        // (without stepDownOnRemoval) may have committed more through it.
        if (!this.committedEntryInCurrentTerm()) {
          this.pendingReadIndexMessages.push(m);
          return null;
        }
        this.sendMsgReadIndexResponse(m);
        return null;
      case MessageType.MsgForgetLeader:
        // Only followers forget their leader; we are it.
        return null;
    }

    const pr = this.trk.progress.get(m.from);
    if (pr === undefined) {
      this.logger.debug(`${this.hex} no progress available for ${m.from.toString(16)}`);
      return null;
    }
    switch (m.type) {
      case MessageType.MsgAppResp:
        this.handleAppendResponse(m, pr);
        break;
      case MessageType.MsgHeartbeatResp:
        this.handleHeartbeatResponse(m, pr);
        break;
      case MessageType.MsgSnapStatus:
        if (pr.state !== ProgressStateType.StateSnapshot) return null;
        if (!m.reject) {
          pr.becomeProbe();
          this.logger.debug(
            `${this.hex} snapshot succeeded, resumed sending replication messages to ${m.from.toString(16)} [${pr.toString()}]`,
          );
        } else {
          // Clear the pending snapshot first, or we would probe from its index.
          pr.pendingSnapshot = 0;
          pr.becomeProbe();
          this.logger.debug(
            `${this.hex} snapshot failed, resumed sending replication messages to ${m.from.toString(16)} [${pr.toString()}]`,
          );
        }
        // After success wait for the follower's MsgAppResp; after failure,
        // wait a heartbeat before trying again.
        pr.msgAppFlowPaused = true;
        break;
      case MessageType.MsgUnreachable:
        // While replicating optimistically, an unreachable peer has likely lost a MsgApp.
        if (pr.state === ProgressStateType.StateReplicate) pr.becomeProbe();
        this.logger.debug(
          `${this.hex} failed to send message to ${m.from.toString(16)} because it is unreachable [${pr.toString()}]`,
        );
        break;
      case MessageType.MsgTransferLeader:
        this.handleTransferLeader(m, pr);
        break;
    }
    return null;
  }

  /**
   * Appends a proposal's entries and starts replicating them. Dropped when
   * we are no longer a member, during a leadership transfer, or beyond the
   * uncommitted size limit. A conf change entry is checked against the
   * current configuration (unless disableConfChangeValidation): refused if
   * another change is still unapplied, if it is not the leave-joint change
   * while joint, or if it is an empty change outside a joint configuration.
   * A refused conf change becomes an empty normal entry rather than being
   * dropped, so that the rest of the proposal (a batch may hold several
   * entries) goes ahead unchanged.
   */
  private propose(m: Message): RaftError | null {
    if (m.entries.length === 0) this.logger.panic(`${this.hex} stepped empty MsgProp`);
    // A leader removed from the configuration drops new proposals.
    if (!this.trk.progress.has(this.id)) return ErrProposalDropped;
    if (this.leadTransferee !== None) {
      this.logger.debug(
        `${this.hex} [term ${this.term}] transfer leadership to ${this.leadTransferee.toString(16)} is in progress; dropping proposal`,
      );
      return ErrProposalDropped;
    }
    // The proposal's entries are consumed: they are stamped with our term and
    // index, and refused conf changes are replaced by empty entries.
    const ents = m.entries;
    for (let i = 0; i < ents.length; i++) {
      const cc = confChangeOf(ents[i]!);
      if (cc === null) continue;
      // Checked against the active configuration. A change accepted here is
      // validated again by the Changer when applied; these checks keep
      // changes that would be refused (or overlap another one) out of the
      // log in the first place.
      const alreadyPending = this.pendingConfIndex > this.raftLog.applied;
      const alreadyJoint = this.trk.config.voters.outgoing.size > 0;
      const wantsLeaveJoint = asV2(cc).changes.length === 0;
      let failedCheck = "";
      if (alreadyPending) {
        failedCheck = `possible unapplied conf change at index ${this.pendingConfIndex} (applied to ${this.raftLog.applied})`;
      } else if (alreadyJoint && !wantsLeaveJoint) {
        failedCheck = "must transition out of joint config first";
      } else if (!alreadyJoint && wantsLeaveJoint) {
        failedCheck = "not in joint state; refusing empty conf change";
      }
      if (failedCheck !== "" && !this.disableConfChangeValidation) {
        this.logger.info(
          `${this.hex} ignoring conf change ${describeConfChange(cc)} at config ${this.trk.config.toString()}: ${failedCheck}`,
        );
        ents[i] = new Entry();
      } else {
        // The index this entry gets in appendEntry: no other change may be
        // proposed until it is applied.
        this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
      }
    }
    if (!this.appendEntry(ents)) return ErrProposalDropped;
    this.bcastAppend();
    return null;
  }

  /**
   * A follower's answer to a MsgApp (or our own acknowledgement). A
   * rejection moves next back (Progress.maybeDecrTo) using the follower's
   * hint, refined by findConflictByTerm on our log, and probes again; see
   * RaftLog.findConflictByTerm for a worked example. An acceptance raises
   * match, may switch the follower to StateReplicate, may commit (then
   * pending reads are released and everyone hears the new commit index),
   * and refills the follower's window. A transfer target that has caught up
   * gets its MsgTimeoutNow here.
   */
  private handleAppendResponse(m: Message, pr: Progress): void {
    // Also reached from advance(), when the leader acks its own appended entries.
    pr.recentActive = true;
    if (m.reject) {
      // RejectHint is the follower's guess of the last matching index and
      // LogTerm its term there (0 from old versions or an empty log).
      this.logger.debug(
        `${this.hex} received MsgAppResp(rejected, hint: (index ${m.rejectHint}, term ${m.logTerm})) from ` +
          `${m.from.toString(16)} for index ${m.index}`,
      );
      let nextProbeIdx = m.rejectHint;
      if (m.logTerm > 0) {
        // Skip every index whose term in our log exceeds the follower's term
        // at the hint: a probe there must fail too. This probes at most once
        // per term of our log instead of once per entry.
        nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
      }
      if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
        this.logger.debug(`${this.hex} decreased progress of ${m.from.toString(16)} to [${pr.toString()}]`);
        if (pr.state === ProgressStateType.StateReplicate) pr.becomeProbe();
        this.maybeSendAppendTo(m.from, pr, true);
      }
      return;
    }
    // Update on a higher match, or when an up-to-date response can move a
    // probing follower back to replicating. (A follower that was moved back
    // to probing while fully caught up, e.g. by MsgUnreachable, answers the
    // next probe with its match again; that proves the logs agree up to
    // match, which is all StateReplicate needs.)
    if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === ProgressStateType.StateProbe)) {
      if (pr.state === ProgressStateType.StateProbe) {
        pr.becomeReplicate();
      } else if (pr.state === ProgressStateType.StateSnapshot && pr.match + 1 >= this.raftLog.firstIndex()) {
        // Whatever snapshot the follower applied, it can now be caught up from
        // the log; resume through probe so that the snapshot is accounted for.
        this.logger.debug(
          `${this.hex} recovered from needing snapshot, resumed sending replication messages to ${m.from.toString(16)} [${pr.toString()}]`,
        );
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === ProgressStateType.StateReplicate) {
        pr.inflights.freeLE(m.index);
      }
      if (this.maybeCommit()) {
        // The commit index advanced in our term: pending reads can be served.
        this.releasePendingReadIndexMessages();
        this.bcastAppend();
      } else if (this.id !== m.from && pr.canBumpCommit(this.raftLog.committed)) {
        // The follower may be missing the commit index; a message now can beat
        // the next heartbeat.
        this.maybeSendAppendTo(m.from, pr, true);
      }
      // The window may have opened up: send as much as allowed, without
      // empty messages. Each MsgApp is bounded by maxMsgSize and the window
      // by maxInflightMsgs/maxInflightBytes, so the loop ends when the log is
      // exhausted or the flow pauses.
      if (this.id !== m.from) {
        while (this.maybeSendAppendTo(m.from, pr, false)) {
          // keep sending
        }
      }
      if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
        this.logger.info(
          `${this.hex} sent MsgTimeoutNow to ${m.from.toString(16)} after received MsgAppResp`,
        );
        this.sendTimeoutNow(m.from);
      }
    }
  }

  /**
   * A heartbeat answer proves the follower is alive: it unpauses the flow
   * (the safety valve for lost MsgApps), counts for CheckQuorum, and
   * counts as an acknowledgement of the read request (or lease round) its
   * context names.
   */
  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    // Send an append even to a paused follower: if the whole window was lost
    // this gets replication going again. A caught-up follower in StateProbe
    // (after ReportUnreachable) gets an empty one so it can return to
    // StateReplicate. StateSnapshot stays paused, so nothing is sent there.
    if (pr.match < this.raftLog.lastIndex() || pr.state === ProgressStateType.StateProbe)
      this.maybeSendAppendTo(m.from, pr, true);
    if (this.lease !== null) {
      const round = decodeRoundCtx(m.context);
      if (round > 0 && this.lease.ack(m.from, round)) this.advanceLease();
      return;
    }
    if (
      (this.readOnly.option !== ReadOnlyOption.ReadOnlySafe && !this.leaseRevoked) ||
      m.context.length === 0
    )
      return;
    if (this.trk.config.voters.voteResult(this.readOnly.recvAck(m.from, m.context)) !== VoteResult.VoteWon)
      return;
    for (const rs of this.readOnly.advance(m)) {
      const resp = this.responseToReadIndexReq(rs.req, rs.index);
      if (resp !== null) this.send(resp);
    }
  }

  /**
   * Starts a leadership transfer to m.from (the transferee; the request may
   * have been forwarded by any member). Learners cannot lead. A new target
   * replaces a transfer in progress. The transferee gets MsgTimeoutNow as
   * soon as its log is as long as ours (now, or after it acknowledges our
   * last index), so that it wins the up-to-date check everywhere.
   */
  private handleTransferLeader(m: Message, pr: Progress): void {
    if (pr.isLearner) {
      this.logger.debug(`${this.hex} is learner. Ignored transferring leadership`);
      return;
    }
    const leadTransferee = m.from;
    const lastLeadTransferee = this.leadTransferee;
    if (lastLeadTransferee !== None) {
      if (lastLeadTransferee === leadTransferee) {
        this.logger.info(
          `${this.hex} [term ${this.term}] transfer leadership to ${leadTransferee.toString(16)} is in progress, ` +
            `ignores request to same node ${leadTransferee.toString(16)}`,
        );
        return;
      }
      this.abortLeaderTransfer();
      this.logger.info(
        `${this.hex} [term ${this.term}] abort previous transferring leadership to ${lastLeadTransferee.toString(16)}`,
      );
    }
    if (leadTransferee === this.id) {
      this.logger.debug(`${this.hex} is already leader. Ignored transferring leadership to self`);
      return;
    }
    this.logger.info(
      `${this.hex} [term ${this.term}] starts to transfer leadership to ${leadTransferee.toString(16)}`,
    );
    // The transfer must finish within an election timeout.
    this.electionElapsed = 0;
    this.leadTransferee = leadTransferee;
    if (pr.match === this.raftLog.lastIndex()) {
      this.sendTimeoutNow(leadTransferee);
      this.logger.info(
        `${this.hex} sends MsgTimeoutNow to ${leadTransferee.toString(16)} immediately as ` +
          `${leadTransferee.toString(16)} already has up-to-date log`,
      );
    } else {
      this.sendAppend(leadTransferee);
    }
  }

  // Shared by StateCandidate and StatePreCandidate; each only counts its own kind of vote response.
  private stepCandidate(m: Message): RaftError | null {
    const myVoteRespType =
      this.state === StateType.StatePreCandidate ? MessageType.MsgPreVoteResp : MessageType.MsgVoteResp;
    switch (m.type) {
      case MessageType.MsgProp:
        this.logger.info(`${this.hex} no leader at term ${this.term}; dropping proposal`);
        return ErrProposalDropped;
      case MessageType.MsgApp:
        // A leader of our term exists (Election Safety: not us), so this
        // election is lost; follow it.
        this.becomeFollower(m.term, m.from); // m.term == this.term here
        this.handleAppendEntries(m);
        return null;
      case MessageType.MsgHeartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return null;
      case MessageType.MsgSnap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return null;
      case myVoteRespType: {
        const { granted, rejected, result } = this.poll(m.from, m.type, !m.reject);
        this.logger.info(
          `${this.hex} has received ${granted} ${messageTypeNames[m.type]} votes and ${rejected} vote rejections`,
        );
        if (result === VoteResult.VoteWon) {
          if (this.state === StateType.StatePreCandidate) {
            this.campaign(CampaignElection);
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === VoteResult.VoteLost) {
          // A quorum refused: give up and wait for a leader or our next
          // timeout (randomized, so another member likely tries first).
          // A pre-vote response carries the future term; stay at ours.
          this.becomeFollower(this.term, None);
        }
        return null;
      }
      case MessageType.MsgTimeoutNow:
        this.logger.debug(
          `${this.hex} [term ${this.term} state ${stateTypeNames[this.state]}] ignored MsgTimeoutNow from ${m.from.toString(16)}`,
        );
        return null;
    }
    return null;
  }

  /**
   * The follower's handler. Messages from the leader of our term (MsgApp,
   * MsgHeartbeat, MsgSnap) identify it and reset the election clock; client
   * requests (proposals, read indexes, transfer requests) are forwarded to it.
   */
  private stepFollower(m: Message): RaftError | null {
    switch (m.type) {
      case MessageType.MsgProp: {
        if (this.lead === None) {
          this.logger.info(`${this.hex} no leader at term ${this.term}; dropping proposal`);
          return ErrProposalDropped;
        }
        if (this.disableProposalForwarding) {
          this.logger.info(
            `${this.hex} not forwarding to leader ${this.lead.toString(16)} at term ${this.term}; dropping proposal`,
          );
          return ErrProposalDropped;
        }
        this.send(this.forward(m));
        return null;
      }
      case MessageType.MsgApp:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return null;
      case MessageType.MsgHeartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return null;
      case MessageType.MsgSnap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return null;
      case MessageType.MsgTransferLeader:
        if (this.lead === None) {
          this.logger.info(`${this.hex} no leader at term ${this.term}; dropping leader transfer msg`);
          return null;
        }
        this.send(this.forward(m));
        return null;
      case MessageType.MsgForgetLeader:
        // Forgetting the leader lifts the CheckQuorum lease in step(): we
        // answer a higher-term vote request at once instead of ignoring it
        // until an election timeout has passed (for an application that
        // knows the leader is gone). Lease-based reads rely on members
        // ignoring those requests, so it is refused under ReadOnlyLeaseBased.
        if (this.readOnly.option === ReadOnlyOption.ReadOnlyLeaseBased) {
          this.logger.error("ignoring MsgForgetLeader due to ReadOnlyLeaseBased");
          return null;
        }
        if (this.lead !== None) {
          this.logger.info(`${this.hex} forgetting leader ${this.lead.toString(16)} at term ${this.term}`);
          this.lead = None;
        }
        return null;
      case MessageType.MsgTimeoutNow:
        this.logger.info(
          `${this.hex} [term ${this.term}] received MsgTimeoutNow from ${m.from.toString(16)} and starts an election to get leadership.`,
        );
        // Transfers skip pre-vote: we know we are not rejoining after a partition.
        this.hup(CampaignTransfer);
        return null;
      case MessageType.MsgReadIndex:
        if (this.lead === None) {
          this.logger.info(`${this.hex} no leader at term ${this.term}; dropping index reading msg`);
          return null;
        }
        this.send(this.forward(m));
        return null;
      case MessageType.MsgReadIndexResp:
        if (m.entries.length !== 1) {
          this.logger.error(
            `${this.hex} invalid format of MsgReadIndexResp from ${m.from.toString(16)}, entries count: ${m.entries.length}`,
          );
          return null;
        }
        this.readStates.push(new ReadState(m.index, m.entries[0]!.data));
        return null;
    }
    return null;
  }

  // A copy of m addressed to the leader. The copy keeps the caller's message
  // intact and clears any term a misbehaving peer may have set.
  private forward(m: Message): Message {
    const f = m.clone();
    f.to = this.lead;
    f.term = 0;
    return f;
  }

  /**
   * A MsgApp of the current leader. Entries at or below our commit index are
   * known to match already (they are committed, hence in the leader's log):
   * answer with the commit index so the leader skips ahead. Otherwise the
   * append succeeds if our log holds (m.index, m.logTerm) (log.ts
   * maybeAppend); the acknowledgement goes out only after the entries are
   * durable (MsgAppResp waits in msgsAfterAppend).
   */
  handleAppendEntries(m: Message): void {
    if (this.strictLease) this.voteHold = this.electionTimeout;
    if (m.index < this.raftLog.committed) {
      const r = msg(MessageType.MsgAppResp, m.from);
      r.index = this.raftLog.committed;
      this.send(r);
      return;
    }
    const mlastIndex = this.raftLog.maybeAppend(m.index, m.logTerm, m.entries, m.commit);
    if (mlastIndex !== undefined) {
      const r = msg(MessageType.MsgAppResp, m.from);
      r.index = mlastIndex;
      this.send(r);
      return;
    }
    this.logger.debug(
      `${this.hex} [logterm: ${this.raftLog.zeroTermOnOutOfBounds(m.index)}, index: ${m.index}] rejected MsgApp ` +
        `[logterm: ${m.logTerm}, index: ${m.index}] from ${m.from.toString(16)}`,
    );
    // Hint the leader at the largest (index, term) with index <= m.index and
    // term <= m.logTerm in our log: everything above it cannot match, which
    // skips a divergent uncommitted tail in one round trip.
    const hintIndex = Math.min(m.index, this.raftLog.lastIndex());
    const hint = this.raftLog.findConflictByTerm(hintIndex, m.logTerm);
    const r = msg(MessageType.MsgAppResp, m.from);
    r.index = m.index;
    r.reject = true;
    r.rejectHint = hint.index;
    r.logTerm = hint.term;
    this.send(r);
  }

  /**
   * A heartbeat of the current leader: adopt its commit index (it is never
   * beyond what the leader knows we hold, see sendHeartbeatTo) and answer,
   * echoing the context so that the leader can count the acknowledgement
   * for a read request or lease round.
   */
  handleHeartbeat(m: Message): void {
    // Acknowledging the heartbeat promises its leader a lease (lease.ts).
    if (this.strictLease) this.voteHold = this.electionTimeout;
    // A leader sends commit = min(its commit, our match), so it never exceeds
    // our last index -- unless the message is forged, or we lost entries we
    // had acknowledged (a damaged disk). etcd's raft panics here; we ignore
    // the message instead: raising commit past our log is impossible, and
    // clamping it to our last index could commit entries the leader does not
    // have. No answer either, so the sender learns nothing from us.
    if (m.commit > this.raftLog.lastIndex()) {
      this.logger.warning(
        `${this.hex} [term: ${this.term}] ignored a heartbeat from ${m.from.toString(16)} with commit ${m.commit} beyond the last index ${this.raftLog.lastIndex()}`,
      );
      return;
    }
    this.raftLog.commitTo(m.commit);
    const r = msg(MessageType.MsgHeartbeatResp, m.from);
    r.context = m.context;
    this.send(r);
  }

  /**
   * A MsgSnap of the current leader. The answer is an acknowledgement either
   * way: of the snapshot's last index if restored, or of our commit index
   * if the snapshot was not needed, which lets the leader resume from there.
   */
  handleSnapshot(m: Message): void {
    if (this.strictLease) this.voteHold = this.electionTimeout;
    // A MsgSnap always carries a snapshot; treat a missing one as empty.
    const s = m.snapshot ?? new Snapshot();
    const { index: sindex, term: sterm } = s.metadata;
    const r = msg(MessageType.MsgAppResp, m.from);
    if (this.restore(s)) {
      this.logger.info(
        `${this.hex} [commit: ${this.raftLog.committed}] restored snapshot [index: ${sindex}, term: ${sterm}]`,
      );
      r.index = this.raftLog.lastIndex();
    } else {
      this.logger.info(
        `${this.hex} [commit: ${this.raftLog.committed}] ignored snapshot [index: ${sindex}, term: ${sterm}]`,
      );
      r.index = this.raftLog.committed;
    }
    this.send(r);
  }

  /**
   * Restores log and configuration from a snapshot; false if it is obsolete
   * or unusable. A snapshot at or below our commit index brings nothing new;
   * one whose last entry we already hold only advances the commit index (our
   * log beyond it may hold more, which a restore would discard). Otherwise
   * the whole log is replaced and the configuration rebuilt from the
   * snapshot's ConfState.
   */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.raftLog.committed) return false;
    if (this.state !== StateType.StateFollower) {
      // Defense in depth: only followers restore snapshots.
      this.logger.warning(`${this.hex} attempted to restore snapshot as leader; should never happen`);
      this.becomeFollower(this.term + 1, None);
      return false;
    }
    // Defense in depth: a snapshot whose config does not contain us is unusable.
    const cs = s.metadata.confState;
    const found =
      cs.voters.includes(this.id) || cs.learners.includes(this.id) || cs.votersOutgoing.includes(this.id);
    if (!found) {
      this.logger.warning(
        `${this.hex} attempted to restore snapshot but it is not in the ConfState ${goConfState(cs)}; should never happen`,
      );
      return false;
    }
    const { index, term } = s.metadata;
    if (this.raftLog.matchTerm(index, term)) {
      // We already have the snapshot's last entry: just commit up to it.
      const last = this.raftLog.lastEntryID();
      this.logger.info(
        `${this.hex} [commit: ${this.raftLog.committed}, lastindex: ${last.index}, lastterm: ${last.term}] ` +
          `fast-forwarded commit to snapshot [index: ${index}, term: ${term}]`,
      );
      this.raftLog.commitTo(index);
      return false;
    }
    // A conf change already handed out for applying would be applied later on
    // top of the snapshot's configuration, which already reflects it (and
    // perhaps later changes too). Refuse the snapshot until it is applied;
    // the leader sends it again. (Entries below firstIndex were compacted by
    // the application, so they are applied.)
    if (
      this.hasConfChangeIn(
        Math.max(this.raftLog.applied + 1, this.raftLog.firstIndex()),
        this.raftLog.applying + 1,
      )
    ) {
      this.logger.info(
        `${this.hex} [commit: ${this.raftLog.committed}, applied: ${this.raftLog.applied}, applying: ${this.raftLog.applying}] ` +
          `ignored snapshot [index: ${index}, term: ${term}] while a conf change is being applied`,
      );
      return false;
    }
    this.raftLog.restore(s);
    // Rebuild the configuration from the snapshot's ConfState.
    this.trk = new ProgressTracker(this.trk.maxInflight, this.trk.maxInflightBytes);
    let r: ChangeResult;
    try {
      r = restoreConf(new Changer(this.trk, this.raftLog.lastIndex()), cs);
    } catch (err) {
      this.logger.panic(`unable to restore config ${goConfState(cs)}: ${(err as Error).message}`);
    }
    this.assertConfStatesEquivalent(cs, this.switchToConfig(r.config, r.progress));
    const last = this.raftLog.lastEntryID();
    this.logger.info(
      `${this.hex} [commit: ${this.raftLog.committed}, lastindex: ${last.index}, lastterm: ${last.term}] ` +
        `restored snapshot [index: ${index}, term: ${term}]`,
    );
    return true;
  }

  /**
   * Whether this node may become leader: a voter with no snapshot pending
   * (until the snapshot is persisted, the log and configuration we would
   * lead with are not yet ours).
   */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasNextOrInProgressSnapshot();
  }

  /**
   * Applies a committed conf change (the application calls it through
   * RawNode when it applies the entry); returns the new ConfState for the
   * application to store with its state. The changer refuses invalid
   * changes with ConfChangeError; for a committed change that means the
   * members' configurations have diverged, which the application cannot
   * repair by retrying.
   */
  applyConfChange(cc: ConfChangeV2): ConfState {
    const changer = new Changer(this.trk, this.raftLog.lastIndex());
    let r: ChangeResult;
    if (leaveJoint(cc)) r = changer.leaveJoint();
    else {
      const j = enterJoint(cc);
      r = j.ok ? changer.enterJoint(j.autoLeave, cc.changes) : changer.simple(cc.changes);
    }
    return this.switchToConfig(r.config, r.progress);
  }

  /**
   * Makes the given configuration active and reacts to it: a removed leader
   * may step down, and a leader commits or probes according to the new quorum.
   */
  switchToConfig(cfg: ChangeResult["config"], progress: ChangeResult["progress"]): ConfState {
    this.trk.setConfig(cfg, progress);
    this.logger.info(`${this.hex} switched to configuration ${this.trk.config.toString()}`);
    const cs = this.trk.confState();
    const pr = this.trk.progress.get(this.id);
    // Whether we are a learner; a removed node is not.
    this.isLearner = pr?.isLearner === true;
    if ((pr === undefined || this.isLearner) && this.state === StateType.StateLeader) {
      // The leader was removed or demoted. As in etcd, it keeps leading
      // unless stepDownOnRemoval: it goes on replicating and committing what
      // its log holds (its quorum is now the new configuration's, without
      // itself) but drops new proposals (propose).
      if (this.stepDownOnRemoval) this.becomeFollower(this.term, None);
      return cs;
    }
    // The rest concerns a leader with other members.
    if (this.state !== StateType.StateLeader || cs.voters.length === 0) return cs;
    if (this.maybeCommit()) {
      // The new quorum committed more: tell everyone.
      this.bcastAppend();
    } else {
      // Probe newly added members at once rather than at the next heartbeat.
      this.trk.visit((id) => {
        if (id !== this.id) this.maybeSendAppend(id, false);
      });
    }
    // A transfer to a node that is no longer a voter is aborted.
    if (this.leadTransferee !== None && !this.trk.config.voters.has(this.leadTransferee))
      this.abortLeaderTransfer();
    // The new quorum may already have acknowledged rounds that reads wait for.
    if (this.lease !== null) this.advanceLease();
    return cs;
  }

  /**
   * Restores term, vote and commit from storage at start-up. The commit index
   * must lie within the log: it never exceeds what was persisted with it.
   */
  loadState(state: HardState): void {
    if (state.commit < this.raftLog.committed || state.commit > this.raftLog.lastIndex()) {
      this.logger.panic(
        `${this.hex} state.commit ${state.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
      );
    }
    this.raftLog.committed = state.commit;
    this.term = state.term;
    this.vote = state.vote;
  }

  /** Whether the election clock passed this term's randomized timeout. */
  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  /** Draws a new timeout in [electionTimeout, 2*electionTimeout-1] from the seeded source. */
  resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + this.random.intn(this.electionTimeout);
  }

  /**
   * Tells the transfer target to campaign now. From here on the target may
   * win at any moment, votes for it ignoring leases: lease reads stop for
   * the rest of our term (leaseRevoked).
   */
  sendTimeoutNow(to: bigint): void {
    this.leaseRevoked = true;
    this.send(msg(MessageType.MsgTimeoutNow, to));
  }

  /** Ends a leadership transfer (if any): proposals are accepted again. */
  abortLeaderTransfer(): void {
    this.leadTransferee = None;
  }

  /**
   * True if the entry at our commit index has our term (term is never 0 on a
   * leader). Until then a new leader's commit index may lag behind what its
   * predecessor committed, and ReadIndex must not use it (read_only.ts).
   */
  committedEntryInCurrentTerm(): boolean {
    return this.raftLog.zeroTermOnOutOfBounds(this.raftLog.committed) === this.term;
  }

  /** The response to a read request, or null when it was our own (then a ReadState is recorded). */
  responseToReadIndexReq(req: Message, readIndex: number): Message | null {
    if (req.from === None || req.from === this.id) {
      this.readStates.push(new ReadState(readIndex, req.entries[0]!.data));
      return null;
    }
    const m = msg(MessageType.MsgReadIndexResp, req.from);
    m.index = readIndex;
    m.entries = req.entries;
    return m;
  }

  /**
   * Accounts for proposed entries against MaxUncommittedEntriesSize; false if
   * they would exceed it. An empty uncommitted tail accepts any proposal, and
   * empty payloads are never refused (leader no-ops, leaving joint configs).
   */
  increaseUncommittedSize(ents: readonly Entry[]): boolean {
    const s = payloadsSize(ents);
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.maxUncommittedSize) return false;
    this.uncommittedSize += s;
    return true;
  }

  /** Entries of `s` payload bytes were applied: they no longer count as uncommitted. */
  reduceUncommittedSize(s: number): void {
    // The estimate may undercount but never overcounts: saturate at 0.
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }

  /** Answers the read requests held until the first commit of our term. */
  releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0) return;
    if (!this.committedEntryInCurrentTerm()) {
      this.logger.error("pending MsgReadIndex should be released only after first commit in current term");
      return;
    }
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendMsgReadIndexResponse(m);
  }

  /**
   * Answers (or starts confirming) a read request now that our commit index
   * is of our term. The read index is the commit index at arrival; what
   * remains is proving we were still the leader then: a single voter needs
   * no proof; a strict lease proves it while it holds, a quorum round
   * otherwise; ReadOnlySafe runs a heartbeat round with the request's
   * context; ReadOnlyLeaseBased trusts CheckQuorum (no proof, etcd's lease).
   */
  sendMsgReadIndexResponse(m: Message): void {
    // The only voter answers at once, if that voter is us; a leader removed
    // from a one-voter config confirms its leadership like any other.
    if (this.trk.isSingleton() && this.trk.config.voters.incoming.has(this.id)) {
      const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
      if (resp !== null) this.send(resp);
      return;
    }
    if (this.lease !== null) {
      if (this.leaseHolds()) {
        this.leaseReadsLocal++;
        const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
        if (resp !== null) this.send(resp);
        return;
      }
      // No lease (or it was given up with MsgTimeoutNow): confirm leadership
      // with a round started after the request arrived.
      this.leaseReadsFallback++;
      const round = this.startLeaseRound();
      this.lease.pending.push({ round, req: m, index: this.raftLog.committed });
      this.advanceLease();
      return;
    }
    const option = this.leaseRevoked ? ReadOnlyOption.ReadOnlySafe : this.readOnly.option;
    switch (option) {
      case ReadOnlyOption.ReadOnlySafe:
        // Confirm leadership with a quorum heartbeat round carrying the request context.
        this.readOnly.addRequest(this.raftLog.committed, m);
        this.readOnly.recvAck(this.id, m.entries[0]!.data);
        this.bcastHeartbeatWithCtx(m.entries[0]!.data);
        break;
      case ReadOnlyOption.ReadOnlyLeaseBased: {
        const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
        if (resp !== null) this.send(resp);
        break;
      }
    }
  }
}

function isVoteTraffic(t: MessageType): boolean {
  return (
    t === MessageType.MsgVote ||
    t === MessageType.MsgPreVote ||
    t === MessageType.MsgVoteResp ||
    t === MessageType.MsgPreVoteResp
  );
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Go's %v rendering of a ConfState value (used in a warning). */
function goConfState(cs: ConfState): string {
  const l = (x: bigint[]) => `[${x.join(" ")}]`;
  return `{${l(cs.voters)} ${l(cs.learners)} ${l(cs.votersOutgoing)} ${l(cs.learnersNext)} ${cs.autoLeave}}`;
}
