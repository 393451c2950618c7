// Two majority configurations (incoming and outgoing) that must both agree,
// as used during joint consensus.
//
// During a membership change from C_old to C_new the cluster first runs
// under C_old,new (this JointConfig, outgoing = C_old, incoming = C_new):
// every decision - commit or election - needs a majority of C_old AND a
// majority of C_new. Any quorum of the joint config therefore contains a
// quorum of C_old (so it intersects every quorum that could have decided
// under C_old alone) and a quorum of C_new (so it intersects every quorum
// that will decide under C_new alone); no decision can ever be taken by two
// disjoint groups, whatever the two memberships are. Outside a change the
// outgoing half is empty and, being neutral (see MajorityConfig), leaves the
// incoming half to decide alone.

import { MajorityConfig } from "./majority.ts";
import { type AckedIndexer, type Index, VoteResult } from "./quorum.ts";

export class JointConfig {
  /** The configuration being moved to (C_new); the only one outside a change. */
  incoming: MajorityConfig;
  /** The configuration being left (C_old); empty unless joint. */
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

  /**
   * An index is committed jointly when both halves have committed it: the
   * smaller of the two answers (an empty outgoing half answers infinity).
   */
  committedIndex(l: AckedIndexer): Index {
    const a = this.incoming.committedIndex(l);
    const b = this.outgoing.committedIndex(l);
    return a < b ? a : b;
  }

  /**
   * Won only if both halves are won; lost as soon as either half is lost
   * (that half can never form a quorum for this candidate); pending
   * otherwise. A voter in both halves casts one vote that counts in both.
   */
  voteResult(votes: ReadonlyMap<bigint, boolean>): VoteResult {
    const r1 = this.incoming.voteResult(votes);
    const r2 = this.outgoing.voteResult(votes);
    if (r1 === r2) return r1;
    if (r1 === VoteResult.VoteLost || r2 === VoteResult.VoteLost) return VoteResult.VoteLost;
    return VoteResult.VotePending;
  }
}
