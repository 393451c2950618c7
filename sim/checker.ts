// Raft's safety properties, checked incrementally: the project's one safety
// checker. Every check is driven by an observation (a node was touched by a
// step, a Ready handed out entries, an entry was applied, state became
// durable), so that checking "after every step" costs time proportional to
// what the step changed. The simulator reports those observations as they
// happen; harnesses that report nothing (rafttest's Network in
// test/raft/safety.test.ts) use PolledChecker (polled_checker.ts), which
// derives them from each node's state after every step.
//
// The properties (raft paper, Figure 3, and what makes them hold):
//   election safety     at most one leader per term ("election-safety"); a
//                       voter grants one vote per term, in memory and on
//                       disk ("vote-safety");
//   leader append-only  a leader never removes or rewrites entries of its
//                       log while it leads in a term ("leader-append-only");
//   log matching        an (index, term) pair names one entry, with one
//                       predecessor term, on every node ("log-matching");
//   leader completeness a leader holds every entry committed in an earlier
//                       term, and leaders of later terms hold what is being
//                       committed now ("leader-completeness"); at commit
//                       time a quorum holds the entry durably
//                       ("durable-quorum") and no node lacking it could win
//                       an election ("committed-entry-unprotected");
//   state machine safety no two nodes apply different entries at an index
//                       or reach different states there, nothing beyond
//                       the commit index is applied ("state-machine-safety");
//   and what they rest on: commit indexes never regress, agree on what is
//   committed, and a node does not go beyond what some leader committed
//   ("commit-regression", "committed-mismatch", "commit-source"); durable
//   term, vote and commit never go back, also across restarts ("durability").

import { type Entry, type HardState, StateType } from "../src/index.ts";
import { type JointConfig, type Raft, TERM_UNAVAILABLE, VoteResult } from "../src/internal.ts";
import { chainHash, contentHash } from "./state_machine.ts";

/** A broken invariant. `kind` is a short stable name (used by tests and in reports). */
export class InvariantViolation extends Error {
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(`${kind}: ${message}`);
    this.name = "InvariantViolation";
    this.kind = kind;
  }
}

/** What the checker needs to know about a simulated node. */
export interface CheckedNode {
  readonly id: bigint;
  /** The running raft instance; null while the node is down. */
  readonly raft: Raft | null;
  /** Whether entry (index, term) is in durable storage, or covered by the durable snapshot. */
  durablyHas(index: number, term: number): boolean;
  /** The last entry of the log it would campaign or vote with now (durable log while down); null if shut down for good. */
  lastEntry(): { index: number; term: number } | null;
  /** Term of entry i in that log; negative if compacted or absent. */
  termAt(i: number): number;
}

interface PerNode {
  seenCommit: number;
  durableTerm: number;
  durableVote: bigint;
  durableCommit: number;
  /** The term in which the node was last observed as leader (0: never), and its last entry then. */
  leaderTerm: number;
  leaderLast: number;
  leaderLastTerm: number;
}

const TERM_LIMIT = 1 << 21;

/** How a committing node is named in a failure: a leader, or (PolledChecker only) a node that has stepped down since. */
function role(r: Raft): string {
  return r.state === StateType.StateLeader ? "leader" : "node";
}

function fail(kind: string, message: string): never {
  throw new InvariantViolation(kind, message);
}

export interface CheckerStats {
  leaders: number;
  maxTerm: number;
  committed: number;
  entriesChecked: number;
  appliesChecked: number;
  readsChecked: number;
}

export class Checker {
  /** Log matching: (index, term) -> content hash and term of the preceding entry (-1: unknown). */
  private readonly entryHash = new Map<number, number>();
  private readonly entryPrev = new Map<number, number>();
  /** The committed log as first observed at a leader: dense arrays by index. */
  private readonly cTerm: number[] = [];
  private readonly cHash: number[] = [];
  /** Term of the leader that was first seen committing the index. */
  private readonly cAtTerm: number[] = [];
  maxCommitted = 0;
  /** State hash of the state machine right after applying each index. */
  private readonly stateHash: number[] = [];
  private readonly leaderOfTerm = new Map<number, bigint>();
  /** Granted votes: term * 2^21 + voter -> candidate (the simulator's node IDs are below 2^21). */
  private readonly votes = new Map<number, bigint>();
  private readonly perNode = new Map<bigint, PerNode>();
  readonly stats: CheckerStats = {
    leaders: 0,
    maxTerm: 0,
    committed: 0,
    entriesChecked: 0,
    appliesChecked: 0,
    readsChecked: 0,
  };

  /**
   * `commitsFromLeadersOnly`: a commit index may only go beyond everything
   * committed so far at a leader ("commit-source"). True when the harness
   * reports every step (the simulator); a harness that is looked at only
   * between batches of deliveries (PolledChecker) can see a leader's new
   * commit index first on a node that has already stepped down, so there
   * any node may be the first seen committing.
   */
  constructor(
    private readonly lookup: (id: bigint) => CheckedNode | undefined,
    private readonly liveNodes: () => Iterable<CheckedNode>,
    private readonly allNodes: () => Iterable<CheckedNode>,
    private readonly commitsFromLeadersOnly = true,
  ) {}

  /** The bootstrap entry every initial member starts from (via its snapshot). */
  seed(index: number, term: number, stateHash: number): void {
    this.cTerm[index] = term;
    this.cHash[index] = 0;
    this.cAtTerm[index] = term;
    this.maxCommitted = index;
    this.stateHash[index] = stateHash;
  }

  private per(id: bigint): PerNode {
    let p = this.perNode.get(id);
    if (p === undefined) {
      p = {
        seenCommit: 0,
        durableTerm: 0,
        durableVote: 0n,
        durableCommit: 0,
        leaderTerm: 0,
        leaderLast: 0,
        leaderLastTerm: 0,
      };
      this.perNode.set(id, p);
    }
    return p;
  }

  /** A node (re)started: its in-memory commit index restarts from its durable state. */
  onStart(n: CheckedNode): void {
    const r = n.raft!;
    const p = this.per(n.id);
    if (r.raftLog.committed < p.durableCommit) {
      fail(
        "durability",
        `node ${n.id} restarted with commit ${r.raftLog.committed} below its durable commit ${p.durableCommit}`,
      );
    }
    if (r.term < p.durableTerm) {
      fail("durability", `node ${n.id} restarted at term ${r.term} below its durable term ${p.durableTerm}`);
    }
    p.seenCommit = r.raftLog.committed;
    // A restarted node is a follower; whatever it led before is no longer its log.
    p.leaderTerm = 0;
    this.checkCommittedRange(n, r, Math.max(0, r.raftLog.firstIndex() - 1), r.raftLog.committed);
  }

  /** Called for every node an event touched, after the event. */
  observe(n: CheckedNode): void {
    const r = n.raft;
    if (r === null) return;
    if (r.term > this.stats.maxTerm) this.stats.maxTerm = r.term;
    if (r.term >= TERM_LIMIT) fail("limits", `term ${r.term} exceeds what the checker can index`);
    if (r.state === StateType.StateLeader) {
      const prev = this.leaderOfTerm.get(r.term);
      if (prev === undefined) {
        this.leaderOfTerm.set(r.term, n.id);
        this.stats.leaders++;
        this.checkLeaderCompleteness(n, r);
      } else if (prev !== n.id) {
        fail("election-safety", `nodes ${prev} and ${n.id} are both leaders of term ${r.term}`);
      }
    }
    const p = this.per(n.id);
    if (r.state === StateType.StateLeader) this.checkAppendOnly(n, r, p);
    const c = r.raftLog.committed;
    if (c < p.seenCommit) fail("commit-regression", `node ${n.id} commit went from ${p.seenCommit} to ${c}`);
    if (c > p.seenCommit) {
      const from = p.seenCommit;
      p.seenCommit = c;
      this.onCommitAdvance(n, r, from, c);
    }
  }

  /**
   * Leader append-only: while a node leads in a term, the last entry it was
   * last seen with stays in its log (compaction aside) and its log does not
   * shrink. Together with log matching (an (index, term) pair names one
   * entry) this means the leader never overwrote or dropped an entry.
   */
  private checkAppendOnly(n: CheckedNode, r: Raft, p: PerNode): void {
    const last = r.raftLog.lastIndex();
    if (p.leaderTerm === r.term) {
      const t = r.raftLog.termOrError(p.leaderLast);
      if (last < p.leaderLast || t === TERM_UNAVAILABLE || (t >= 0 && t !== p.leaderLastTerm)) {
        fail(
          "leader-append-only",
          `leader ${n.id} of term ${r.term} had entry ${p.leaderLast} (term ${p.leaderLastTerm}); now its log ` +
            `ends at ${last} and ${t < 0 ? "lacks that index" : `has term ${t} there`}`,
        );
      }
    }
    p.leaderTerm = r.term;
    p.leaderLast = last;
    p.leaderLastTerm = r.raftLog.lastTerm();
  }

  private onCommitAdvance(n: CheckedNode, r: Raft, from: number, to: number): void {
    if (to > this.maxCommitted) {
      if (r.state !== StateType.StateLeader && this.commitsFromLeadersOnly) {
        fail(
          "commit-source",
          `follower ${n.id} (term ${r.term}) committed up to ${to}, beyond anything a leader committed (${this.maxCommitted})`,
        );
      }
      const lo = this.maxCommitted + 1;
      const ents = r.raftLog.slice(lo, to + 1, Number.POSITIVE_INFINITY);
      if (ents.length !== to + 1 - lo) fail("internal", `node ${n.id} returned a short slice`);
      for (const e of ents) {
        this.cTerm[e.index] = e.term;
        this.cHash[e.index] = contentHash(e);
        this.cAtTerm[e.index] = r.term;
      }
      this.maxCommitted = to;
      this.stats.committed = to;
      this.checkDurableQuorum(n, r, to, ents[ents.length - 1]!.term);
      this.checkProtected(n, r, to, ents[ents.length - 1]!.term);
      // Every other leader of a later term must already hold what was just committed.
      for (const other of this.liveNodes()) {
        const or = other.raft;
        if (or === null || other === n || or.state !== StateType.StateLeader || or.term <= r.term) continue;
        this.checkHas(other, or, lo, to, `leader of term ${or.term}`);
      }
    }
    this.checkCommittedRange(n, r, from, to);
  }

  // The committed entries in (from, to] that n still holds must be the committed ones.
  private checkCommittedRange(n: CheckedNode, r: Raft, from: number, to: number): void {
    const lo = Math.max(from + 1, r.raftLog.firstIndex());
    for (let i = lo; i <= to; i++) {
      const t = r.raftLog.termOrError(i);
      if (t < 0) continue;
      if (t !== this.cTerm[i]) {
        fail(
          "committed-mismatch",
          `node ${n.id} considers index ${i} committed at term ${t}, but term ${this.cTerm[i]} was committed there`,
        );
      }
    }
  }

  private checkHas(n: CheckedNode, r: Raft, lo: number, hi: number, who: string): void {
    const start = Math.max(lo, r.raftLog.firstIndex());
    for (let i = start; i <= hi; i++) {
      const t = r.raftLog.termOrError(i);
      if (t === TERM_UNAVAILABLE) {
        fail(
          "leader-completeness",
          `${who} ${n.id} lacks committed index ${i} (term ${this.cTerm[i]}; its last index is ${r.raftLog.lastIndex()})`,
        );
      }
      if (t >= 0 && t !== this.cTerm[i]) {
        fail(
          "leader-completeness",
          `${who} ${n.id} has term ${t} at committed index ${i}, which was committed with term ${this.cTerm[i]}`,
        );
      }
    }
  }

  private checkLeaderCompleteness(n: CheckedNode, r: Raft): void {
    const start = Math.max(1, r.raftLog.firstIndex());
    for (let i = start; i <= this.maxCommitted; i++) {
      if (this.cAtTerm[i]! >= r.term) continue;
      const t = r.raftLog.termOrError(i);
      if (t === TERM_UNAVAILABLE || (t >= 0 && t !== this.cTerm[i])) {
        fail(
          "leader-completeness",
          `new leader ${n.id} of term ${r.term} ${t === TERM_UNAVAILABLE ? "lacks" : `has term ${t} at`} index ${i}, ` +
            `committed at term ${this.cTerm[i]} by the leader of term ${this.cAtTerm[i]}`,
        );
      }
    }
  }

  // A commit is only sound if a quorum of the leader's configuration holds the entry durably.
  private checkDurableQuorum(n: CheckedNode, r: Raft, index: number, term: number): void {
    const voters: JointConfig = r.trk.config.voters;
    const acks = new Map<bigint, boolean>();
    const holders: bigint[] = [];
    for (const id of voters.ids()) {
      const node = this.lookup(id);
      const has = node?.durablyHas(index, term) === true;
      acks.set(id, has);
      if (has) holders.push(id);
    }
    if (voters.voteResult(acks) !== VoteResult.VoteWon) {
      fail(
        "durable-quorum",
        `${role(r)} ${n.id} (term ${r.term}) committed index ${index} (term ${term}) but only [${holders.join(",")}] ` +
          `of voters ${voters.toString()} hold it durably`,
      );
    }
  }

  /**
   * Once committed, an entry must be protected: no node lacking it can win
   * an election, because a quorum holds logs more up to date than that
   * node's. Checked against the committing leader's configuration, and
   * against the node's own applied configuration when raft would let it
   * campaign with it (a node that has not applied a membership change still
   * counts votes in the old configuration). Checking this at commit time
   * catches a broken commit or election rule before an entry is actually
   * overwritten.
   */
  private checkProtected(n: CheckedNode, r: Raft, index: number, term: number): void {
    const leaderCfg: JointConfig = r.trk.config.voters;
    for (const x of this.allNodes()) {
      const xl = x.lastEntry();
      if (xl === null) continue;
      const t = x.termAt(index);
      // Compacted (-1) means it was applied, hence holds it.
      if (t === term || t === -1) continue;
      const configs = [leaderCfg];
      const xr = x.raft;
      if (xr?.promotable() && !xr.hasUnappliedConfChanges()) configs.push(xr.trk.config.voters);
      for (const cfg of configs) {
        const yes = this.electors(x, xl, cfg);
        if (yes === null) continue;
        fail(
          "committed-entry-unprotected",
          `${role(r)} ${n.id} (term ${r.term}) committed index ${index} (term ${term}), yet node ${x.id} ` +
            `(last ${xl.index}/${xl.term}, ${t < 0 ? "without that index" : `term ${t} there`}) could be elected by ` +
            `[${yes.join(",")}] in ${cfg === leaderCfg ? "the leader's" : "its own"} configuration ${cfg.toString()}`,
        );
      }
    }
  }

  /** The voters of cfg that would grant x a vote if it won all of them, when they make a quorum; else null. */
  private electors(x: CheckedNode, xl: { index: number; term: number }, cfg: JointConfig): bigint[] | null {
    const grants = new Map<bigint, boolean>();
    for (const id of cfg.ids()) {
      const vl = id === x.id ? xl : (this.lookup(id)?.lastEntry() ?? null);
      grants.set(id, vl !== null && (vl.term < xl.term || (vl.term === xl.term && vl.index <= xl.index)));
    }
    if (cfg.voteResult(grants) !== VoteResult.VoteWon) return null;
    return [...grants].filter(([, g]) => g).map(([id]) => id);
  }

  /** Entries a Ready (or MsgStorageAppend) hands out for persistence. */
  onAppendEntries(n: CheckedNode, r: Raft, ents: readonly Entry[], prevTerm: number): void {
    for (const e of ents) {
      this.stats.entriesChecked++;
      if (e.term > r.term) {
        fail("log", `node ${n.id} at term ${r.term} appends entry ${e.index} of future term ${e.term}`);
      }
      if (e.term >= TERM_LIMIT) fail("limits", `term ${e.term} too large`);
      const key = e.index * TERM_LIMIT + e.term;
      const h = contentHash(e);
      const known = this.entryHash.get(key);
      if (known === undefined) {
        this.entryHash.set(key, h);
        this.entryPrev.set(key, prevTerm);
      } else {
        if (known !== h) {
          fail("log-matching", `node ${n.id} has a different entry at index ${e.index} term ${e.term}`);
        }
        const kp = this.entryPrev.get(key)!;
        if (prevTerm >= 0) {
          if (kp < 0) this.entryPrev.set(key, prevTerm);
          else if (kp !== prevTerm) {
            fail(
              "log-matching",
              `entry ${e.index}/${e.term} follows term ${prevTerm} on node ${n.id} but term ${kp} elsewhere`,
            );
          }
        }
      }
      prevTerm = e.term;
    }
  }

  /**
   * The state machine of n applied e; `hashAfter` is its state hash
   * afterwards (undefined when the harness cannot know it, e.g. after a
   * snapshot it did not follow: then only the entry itself is checked).
   */
  onApply(n: CheckedNode, e: Entry, content: number, hashAfter?: number): void {
    this.stats.appliesChecked++;
    const i = e.index;
    if (i > this.maxCommitted || this.cTerm[i] !== e.term || this.cHash[i] !== content) {
      fail(
        "state-machine-safety",
        i > this.maxCommitted
          ? `node ${n.id} applied index ${i} (term ${e.term}) beyond the committed index ${this.maxCommitted}`
          : `node ${n.id} applied index ${i} term ${e.term}, but the committed entry there has term ${this.cTerm[i]}` +
              (this.cTerm[i] === e.term ? " and different content" : ""),
      );
    }
    if (hashAfter !== undefined) this.onState(n, i, hashAfter, "applying");
  }

  /** The state hash of a state machine at `index` (after an apply, or in a snapshot). */
  onState(n: CheckedNode, index: number, hash: number, how: string): void {
    const known = this.stateHash[index];
    if (known === undefined) this.stateHash[index] = hash;
    else if (known !== hash) {
      fail("state-machine-safety", `node ${n.id} reached a different state at index ${index} by ${how}`);
    }
  }

  /** A HardState became durable on n. */
  onDurableHardState(n: CheckedNode, hs: HardState): void {
    const p = this.per(n.id);
    if (hs.term < p.durableTerm)
      fail("durability", `node ${n.id} persisted term ${hs.term} after ${p.durableTerm}`);
    if (hs.term === p.durableTerm && p.durableVote !== 0n && hs.vote !== p.durableVote) {
      fail(
        "vote-safety",
        `node ${n.id} changed its durable vote in term ${hs.term} from ${p.durableVote} to ${hs.vote}`,
      );
    }
    if (hs.commit < p.durableCommit) {
      fail("durability", `node ${n.id} persisted commit ${hs.commit} after ${p.durableCommit}`);
    }
    p.durableTerm = hs.term;
    p.durableVote = hs.vote;
    p.durableCommit = hs.commit;
    if (hs.vote !== 0n) this.onVote(hs.vote, n.id, hs.term);
  }

  /** voter granted its vote to candidate in term. */
  onVote(candidate: bigint, voter: bigint, term: number): void {
    const key = term * TERM_LIMIT + Number(voter);
    const prev = this.votes.get(key);
    if (prev === undefined) this.votes.set(key, candidate);
    else if (prev !== candidate) {
      fail("vote-safety", `node ${voter} voted for both ${prev} and ${candidate} in term ${term}`);
    }
  }

  /** The hash chain step, exposed so the application computes exactly what the checker expects. */
  static chain(h: number, e: Entry, content: number): number {
    return chainHash(h, e, content);
  }

  /** Full log-matching pass over a node's whole log (used at the end of a run). */
  checkWholeLog(n: CheckedNode): void {
    const r = n.raft;
    if (r === null) return;
    const log = r.raftLog;
    const first = log.firstIndex();
    const last = log.lastIndex();
    if (last < first) return;
    const ents = log.slice(first, last + 1, Number.POSITIVE_INFINITY);
    this.onAppendEntries(n, r, ents, log.termOrError(first - 1));
    this.checkCommittedRange(n, r, first - 1, log.committed);
  }
}
