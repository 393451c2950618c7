// Two majority configurations (incoming and outgoing) that must both agree,
// as used during joint consensus.

import { MajorityConfig } from "./majority.ts";
import { type AckedIndexer, type Index, VoteResult } from "./quorum.ts";

export class JointConfig {
  incoming: MajorityConfig;
  outgoing: MajorityConfig;

  constructor(
    incoming: MajorityConfig = new MajorityConfig(),
    outgoing: MajorityConfig = new MajorityConfig(),
  ) {
    this.incoming = incoming;
    this.outgoing = outgoing;
  }

  toString(): string {
    if (this.outgoing.size > 0) return `${this.incoming.toString()}&&${this.outgoing.toString()}`;
    return this.incoming.toString();
  }

  /** Every voter of either half. */
  ids(): Set<bigint> {
    const s = new Set(this.incoming.ids);
    for (const id of this.outgoing.ids) s.add(id);
    return s;
  }

  has(id: bigint): boolean {
    return this.incoming.has(id) || this.outgoing.has(id);
  }

  describe(l: AckedIndexer): string {
    return new MajorityConfig(this.ids()).describe(l);
  }

  /** An index is committed jointly when both halves have committed it. */
  committedIndex(l: AckedIndexer): Index {
    const a = this.incoming.committedIndex(l);
    const b = this.outgoing.committedIndex(l);
    return a < b ? a : b;
  }

  voteResult(votes: ReadonlyMap<bigint, boolean>): VoteResult {
    const r1 = this.incoming.voteResult(votes);
    const r2 = this.outgoing.voteResult(votes);
    if (r1 === r2) return r1;
    if (r1 === VoteResult.VoteLost || r2 === VoteResult.VoteLost) return VoteResult.VoteLost;
    return VoteResult.VotePending;
  }
}
