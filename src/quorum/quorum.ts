// Quorum arithmetic: majority and joint (two-majority) configurations, the
// committed index they imply, and election outcomes.

/** A log index as acknowledged by a voter. */
export type Index = number;

/** Looks up the index a voter has acknowledged; undefined when nothing is known. */
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

export const VoteResult = { VotePending: 1, VoteLost: 2, VoteWon: 3 } as const;
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult];
export const voteResultNames: Record<VoteResult, string> = {
  1: "VotePending",
  2: "VoteLost",
  3: "VoteWon",
};

/** "No index" sentinel of an empty majority: it never constrains a joint quorum. */
export const INFINITE_INDEX = Number.POSITIVE_INFINITY;
