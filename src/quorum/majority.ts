// A set of voters deciding by simple majority.
//
// With n voters a quorum is any n/2 + 1 of them (integer division): 2 of 3,
// 3 of 4, 3 of 5. Even sizes buy no extra fault tolerance (4 voters tolerate
// one failure, like 3) but are allowed, as a step between odd sizes.

import { compareIds, sortIds } from "../raftpb/index.ts";
import { type AckedIndexer, INFINITE_INDEX, type Index, VoteResult } from "./quorum.ts";

/** Renders a set as "(1 2 3)": IDs ascending, in hex, as etcd prints configurations. */
export function setString(ids: Iterable<bigint>): string {
  return `(${sortIds(ids)
    .map((id) => id.toString(16))
    .join(" ")})`;
}

// Scratch space for committedIndex, shared by every config (the core is
// single-threaded and committedIndex does not re-enter): no allocation per
// call, and none per config either.
let scratch = new Float64Array(16);

/** A shared scratch array of at least n slots for majorityIndex (the core is single-threaded). */
export function ackScratch(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(n);
  return scratch;
}

/**
 * The index acknowledged by a majority of n voters whose acknowledged
 * indexes are in acked[0, n) (missing acknowledgements given as 0): the
 * (n/2 + 1)-th largest. Sorts acked[0, n) in place. n must be > 0.
 *
 * Why that element: after sorting ascending, the element at position
 * n - (n/2 + 1) and the n/2 + 1 elements from there to the end are all at
 * least as large, so a quorum acknowledged it; any larger index is missing
 * from at least n - n/2 voters, which leaves fewer than a quorum. Example with
 * five voters acknowledging 7, 3, 9, 5, 9: sorted 3 5 7 9 9, position
 * 5 - 3 = 2 holds 7, acknowledged by three of five.
 */
export function majorityIndex(acked: Float64Array, n: number): Index {
  // Insertion sort: voter sets are tiny and this avoids a comparator closure.
  for (let i = 1; i < n; i++) {
    const v = acked[i]!;
    let j = i - 1;
    while (j >= 0 && acked[j]! > v) {
      acked[j + 1] = acked[j]!;
      j--;
    }
    acked[j + 1] = v;
  }
  return acked[n - (((n / 2) | 0) + 1)]!;
}

/**
 * A set of voters that decides by simple majority. The empty set is a valid
 * configuration with special answers (an infinite committed index, every
 * election won) so that it is neutral as the unused half of a JointConfig.
 */
export class MajorityConfig {
  readonly ids: Set<bigint>;

  constructor(ids: Iterable<bigint> = []) {
    this.ids = new Set(ids);
  }

  get size(): number {
    return this.ids.size;
  }

  has(id: bigint): boolean {
    return this.ids.has(id);
  }

  toString(): string {
    return setString(this.ids);
  }

  /** Voter IDs in ascending order. */
  slice(): bigint[] {
    return sortIds(this.ids);
  }

  /**
   * The multi-line picture etcd's tests print: one bar per voter whose length
   * ranks its acknowledged index; equal indexes share a bar.
   */
  describe(l: AckedIndexer): string {
    const n = this.ids.size;
    if (n === 0) return "<empty majority quorum>";
    const info = Array.from(this.ids, (id) => {
      const idx = l.ackedIndex(id);
      return { id, idx: idx ?? 0, ok: idx !== undefined, bar: 0 };
    });
    info.sort((a, b) => a.idx - b.idx || compareIds(a.id, b.id));
    for (let i = 1; i < info.length; i++) {
      info[i]!.bar = info[i - 1]!.idx < info[i]!.idx ? i : info[i - 1]!.bar;
    }
    info.sort((a, b) => compareIds(a.id, b.id));
    let out = `${" ".repeat(n)}    idx\n`;
    for (const t of info) {
      out += t.ok ? `${"x".repeat(t.bar)}>${" ".repeat(n - t.bar)}` : `?${" ".repeat(n)}`;
      out += ` ${String(t.idx).padStart(5)}    (id=${t.id.toString(16)})\n`;
    }
    return out;
  }

  /**
   * The largest index acknowledged by a majority. An empty config returns
   * infinity so that it does not constrain the other half of a joint config.
   *
   * The answer is the quorum's, not raft's commit index: raft commits it only
   * if the entry there has the leader's current term (RaftLog.maybeCommit),
   * because an index a quorum holds from an older term can still be
   * overwritten by a leader that did not see it.
   */
  committedIndex(l: AckedIndexer): Index {
    const n = this.ids.size;
    if (n === 0) return INFINITE_INDEX;
    const srt = ackScratch(n);
    let k = 0;
    for (const id of this.ids) srt[k++] = l.ackedIndex(id) ?? 0;
    return majorityIndex(srt, n);
  }

  /**
   * Outcome of an election given yes (true) / no (false) votes; voters absent
   * from `votes` have not answered. Won with a quorum of yes votes, lost once
   * the yes votes plus the missing ones can no longer reach a quorum,
   * pending otherwise. Votes of non-members are ignored. An empty config
   * wins (see the class comment).
   */
  voteResult(votes: ReadonlyMap<bigint, boolean>): VoteResult {
    if (this.ids.size === 0) return VoteResult.VoteWon;
    let yes = 0;
    let missing = 0;
    for (const id of this.ids) {
      const v = votes.get(id);
      if (v === undefined) missing++;
      else if (v) yes++;
    }
    const q = ((this.ids.size / 2) | 0) + 1;
    if (yes >= q) return VoteResult.VoteWon;
    if (yes + missing >= q) return VoteResult.VotePending;
    return VoteResult.VoteLost;
  }
}
