// A set of voters deciding by simple majority.

import { compareIds, sortIds } from "../raftpb/ids.ts";
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
   */
  committedIndex(l: AckedIndexer): Index {
    const n = this.ids.size;
    if (n === 0) return INFINITE_INDEX;
    const srt = ackScratch(n);
    let k = 0;
    for (const id of this.ids) srt[k++] = l.ackedIndex(id) ?? 0;
    return majorityIndex(srt, n);
  }

  /** Outcome of an election given yes (true) / no (false) votes. */
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
