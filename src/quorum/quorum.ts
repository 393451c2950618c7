// Quorum arithmetic: majority and joint (two-majority) configurations, the
// committed index they imply, and election outcomes.
//
// Raft's safety rests on one property of the quorums defined here: any two
// quorums of the same configuration share at least one voter. Two majorities
// of n voters have together more than n members, so they overlap. Hence an
// entry acknowledged by a quorum is held by at least one member of every
// later quorum, in particular of every quorum that elects a future leader
// (and the vote rule in raft.ts makes sure that member only votes for a log
// at least as up to date as its own), and two candidates of one term cannot
// both collect a quorum of votes, since the shared voter votes once per term.
//
// A joint configuration (incoming and outgoing majorities, used while the
// membership changes) requires a majority of each half, so its quorums
// overlap with every quorum of the old configuration and of the new one:
// that is what lets a cluster move between arbitrary memberships without a
// moment where two disjoint groups could each decide (see confchange).
//
// Nothing here knows about terms: callers count only what is safe to count
// (raft.ts counts acknowledgements of its own log and votes of its own term).

/** A log index as acknowledged by a voter. */
export type Index = number;

/**
 * Looks up the index a voter has acknowledged (for raft: the Progress match
 * of that voter); undefined when nothing is known, which counts as 0.
 */
export interface AckedIndexer {
  ackedIndex(id: bigint): Index | undefined;
}

/** A plain map from voter ID to acknowledged index, usable as an AckedIndexer. */
export class MapAckIndexer implements AckedIndexer {
  readonly m: Map<bigint, Index>;
  constructor(m: Map<bigint, Index> = new Map()) {
    this.m = m;
  }
  ackedIndex(id: bigint): Index | undefined {
    return this.m.get(id);
  }
}

/**
 * The outcome of an election so far. VotePending means the missing votes can
 * still decide it either way; VoteWon and VoteLost are final for the votes
 * given (a voter votes at most once per term, so a decided result cannot
 * change).
 */
export const VoteResult = { VotePending: 1, VoteLost: 2, VoteWon: 3 } as const;
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult];
export const voteResultNames: Record<VoteResult, string> = {
  1: "VotePending",
  2: "VoteLost",
  3: "VoteWon",
};

/**
 * The committed index of an empty majority: larger than any real index, so
 * that min(incoming, outgoing) of a joint configuration whose outgoing half
 * is empty (the usual, non-joint case) is decided by the incoming half alone.
 * A configuration with no voters at all reports it too; raft never has one
 * while it is a leader (it is then a voter itself).
 */
export const INFINITE_INDEX = Number.POSITIVE_INFINITY;
