// The ProgressTracker: the active membership configuration, every member's
// replication progress, and the votes of the current election.
//
// Invariants (established by confchange's Changer, which builds every
// configuration and progress map installed here, and checked there):
// - every voter (either half), learner and staged learner (learnersNext)
//   has a Progress; nothing else has one (the Changer deletes the Progress
//   of a member it removes; this one is not checked);
// - a member is a learner or a voter, never both: learners intersects
//   neither half of the voters; a Progress's isLearner says which;
// - learnersNext holds outgoing voters that become learners when the joint
//   configuration is left; autoLeave is only set while joint.
// The configuration and the map are replaced as a whole (setConfig), never
// edited in place; the caches here depend on that (plus ProgressMap.version
// for changes to the map's contents).
//
// Only voters count, for commits (committed) as for elections (tallyVotes,
// quorumActive); learners are tracked for replication alone.

import {
  type AckedIndexer,
  ackScratch,
  INFINITE_INDEX,
  JointConfig,
  MajorityConfig,
  majorityIndex,
  setString,
  VoteResult,
} from "../quorum/index.ts";
import { ConfState, sortIds } from "../raftpb/index.ts";
import { Inflights } from "./inflights.ts";
import { type Progress, ProgressMap } from "./progress.ts";

function sorted(s: Set<bigint> | null): bigint[] {
  return s === null ? [] : sortIds(s);
}

/**
 * The membership configuration. Empty learner sets are represented as null.
 * The ConfState of a snapshot or of the application's state is the same
 * information in list form (confState()).
 */
export class TrackerConfig {
  voters: JointConfig;
  /** True if the config is joint and raft should leave it automatically. */
  autoLeave: boolean;
  /** Learners; never overlaps either half of `voters`. */
  learners: Set<bigint> | null;
  /**
   * Voters of the outgoing config that become learners when the joint
   * config is left (a voter cannot be a learner at the same time).
   */
  learnersNext: Set<bigint> | null;

  constructor(
    voters: JointConfig = new JointConfig(),
    autoLeave = false,
    learners: Set<bigint> | null = null,
    learnersNext: Set<bigint> | null = null,
  ) {
    this.voters = voters;
    this.autoLeave = autoLeave;
    this.learners = learners;
    this.learnersNext = learnersNext;
  }

  toString(): string {
    let out = `voters=${this.voters.toString()}`;
    if (this.learners !== null) out += ` learners=${setString(this.learners)}`;
    if (this.learnersNext !== null) out += ` learners_next=${setString(this.learnersNext)}`;
    if (this.autoLeave) out += " autoleave";
    return out;
  }

  /** A copy sharing no memory with this one. */
  clone(): TrackerConfig {
    return new TrackerConfig(
      new JointConfig(
        new MajorityConfig(this.voters.incoming.ids),
        new MajorityConfig(this.voters.outgoing.ids),
      ),
      this.autoLeave,
      this.learners === null ? null : new Set(this.learners),
      this.learnersNext === null ? null : new Set(this.learnersNext),
    );
  }
}

// Reads Match out of the progress map for quorum computations.
class MatchAckIndexer implements AckedIndexer {
  progress: ProgressMap;
  constructor(progress: ProgressMap) {
    this.progress = progress;
  }
  ackedIndex(id: bigint): number | undefined {
    return this.progress.get(id)?.match;
  }
}

/**
 * The Progress of every voter, per half of the joint configuration, valid for
 * one (configuration, progress map) pair: committed() runs on every append
 * acknowledgement, and reading Match through these arrays avoids hashing each
 * voter's bigint ID in the progress Map.
 */
class VoterProgress {
  constructor(
    readonly config: TrackerConfig,
    readonly voters: JointConfig,
    readonly incoming: MajorityConfig,
    readonly outgoing: MajorityConfig,
    readonly inSize: number,
    readonly outSize: number,
    readonly progress: ProgressMap,
    readonly version: number,
    /** Progress of each incoming / outgoing voter (undefined: not tracked, counts as Match 0). */
    readonly inPrs: (Progress | undefined)[],
    readonly outPrs: (Progress | undefined)[],
  ) {}
}

function prsOf(ids: Set<bigint>, progress: ProgressMap): (Progress | undefined)[] {
  const out: (Progress | undefined)[] = [];
  for (const id of ids) out.push(progress.get(id));
  return out;
}

/** MajorityConfig.committedIndex over the voters' Progress (same arithmetic, via majorityIndex). */
function committedOf(prs: (Progress | undefined)[]): number {
  const n = prs.length;
  if (n === 0) return INFINITE_INDEX;
  const srt = ackScratch(n);
  for (let i = 0; i < n; i++) {
    const pr = prs[i];
    srt[i] = pr === undefined ? 0 : pr.match;
  }
  return majorityIndex(srt, n);
}

export class ProgressTracker {
  /** The active configuration: the one of the latest applied conf change (or snapshot). */
  config: TrackerConfig;
  /** Progress of every member (see the invariants above); meaningful on the leader. */
  progress: ProgressMap;
  /**
   * Votes received in the current election (true: granted), by voter. Only
   * the first answer of each member counts (recordVote), so a duplicated or
   * reordered response cannot change the tally.
   */
  votes: Map<bigint, boolean>;
  /** Window size of each new Progress (Config.maxInflightMsgs). */
  maxInflight: number;
  /** Byte limit of each new window (Config.maxInflightBytes; Infinity: none). */
  maxInflightBytes: number;
  private readonly acks: MatchAckIndexer;
  private voterPrs: VoterProgress | null = null;

  constructor(maxInflight: number, maxInflightBytes = 0) {
    this.maxInflight = maxInflight;
    this.maxInflightBytes = maxInflightBytes;
    this.config = new TrackerConfig();
    this.progress = new ProgressMap();
    this.votes = new Map();
    this.acks = new MatchAckIndexer(this.progress);
  }

  /** Replaces the configuration and progress map (after a conf change or restore). */
  setConfig(cfg: TrackerConfig, progress: ProgressMap): void {
    this.config = cfg;
    this.progress = progress;
    this.acks.progress = progress;
  }

  /** An empty window with the configured limits, for a new or reset Progress. */
  newInflights(): Inflights {
    return new Inflights(this.maxInflight, this.maxInflightBytes);
  }

  /** The active configuration as a ConfState (lists sorted ascending). */
  confState(): ConfState {
    const v = this.config.voters;
    return new ConfState(
      v.incoming.slice(),
      sorted(this.config.learners),
      v.outgoing.slice(),
      sorted(this.config.learnersNext),
      this.config.autoLeave,
    );
  }

  /**
   * True iff the only voter is one node (and the config is not joint). Such
   * a node is its own quorum: it commits and confirms reads on its own.
   */
  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && this.config.voters.outgoing.size === 0;
  }

  /**
   * The largest index a quorum of the voters acknowledged (both halves when
   * joint), from each voter's Progress.match. Raft commits it only if it is
   * of the leader's term (RaftLog.maybeCommit).
   */
  committed(): number {
    // Same result as this.config.voters.committedIndex(this.acks), without a
    // Map lookup per voter (see VoterProgress).
    const c = this.currentVoterProgress();
    const a = committedOf(c.inPrs);
    const b = committedOf(c.outPrs);
    return a < b ? a : b;
  }

  /**
   * The cached voter Progress arrays, rebuilt when the configuration or the
   * progress map was replaced or changed. Configurations are replaced, never
   * edited in place (the Changer works on copies), but a changed set size is
   * checked too as a safety net.
   */
  private currentVoterProgress(): VoterProgress {
    const cfg = this.config;
    const voters = cfg.voters;
    const incoming = voters.incoming;
    const outgoing = voters.outgoing;
    const progress = this.progress;
    const c = this.voterPrs;
    if (
      c !== null &&
      c.config === cfg &&
      c.voters === voters &&
      c.incoming === incoming &&
      c.outgoing === outgoing &&
      c.inSize === incoming.ids.size &&
      c.outSize === outgoing.ids.size &&
      c.progress === progress &&
      c.version === progress.version
    ) {
      return c;
    }
    const fresh = new VoterProgress(
      cfg,
      voters,
      incoming,
      outgoing,
      incoming.ids.size,
      outgoing.ids.size,
      progress,
      progress.version,
      prsOf(incoming.ids, progress),
      prsOf(outgoing.ids, progress),
    );
    this.voterPrs = fresh;
    return fresh;
  }

  /** Calls f for every tracked member in ascending ID order. */
  visit(f: (id: bigint, pr: Progress) => void): void {
    const ids = this.progress.sortedIds();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      f(id, this.progress.get(id)!);
    }
  }

  /**
   * True if a quorum of voters was recently active (recentActive, i.e. heard
   * from since the last CheckQuorum period; the leader counts itself). Used
   * as an election would be: with a joint configuration both halves must be
   * active.
   */
  quorumActive(): boolean {
    const votes = new Map<bigint, boolean>();
    for (const [id, pr] of this.progress) {
      if (!pr.isLearner) votes.set(id, pr.recentActive);
    }
    return this.config.voters.voteResult(votes) === VoteResult.VoteWon;
  }

  /** Voter IDs (either half), ascending. */
  voterNodes(): bigint[] {
    return sortIds(this.config.voters.ids());
  }

  /** Learner IDs, ascending. */
  learnerNodes(): bigint[] {
    return sorted(this.config.learners);
  }

  /** Forgets the votes of the last election (a new campaign or term). */
  resetVotes(): void {
    this.votes = new Map();
  }

  /** Records a vote; only the first vote of each node counts. */
  recordVote(id: bigint, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /**
   * Granted and rejected counts among current voters, and the election
   * result (decided by the quorum rule of the configuration, see
   * quorum/majority.ts; counts are for logging).
   */
  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: this.config.voters.voteResult(this.votes) };
  }
}
