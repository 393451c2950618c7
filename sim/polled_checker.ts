// The safety checker (checker.ts) for a harness that reports nothing as it
// happens, such as rafttest's Network: after every step the test calls
// check(), and PolledChecker derives the checker's observations from each
// node's state — a new raft instance is a restart, a changed durable hard
// state was persisted, entries appended to the node's applied list were
// applied, the whole log is re-read for log matching. The properties checked
// are the checker's, all of them, at every step.
//
// Invariants it relies on (documented by rafttest's Network):
//   - `raft` is a new object after each restart, and `appliedEntries` a new
//     list that the restarted state machine refills from the snapshot on;
//   - `storage` is the durable state: what a restart starts from;
//   - the test calls check() between steps, never during one.
// It observes leaders before other nodes within a step (so a commit is first
// seen where it was made whenever that node still leads), but a node that
// committed and stepped down in the same step can be seen first: the checker
// runs with commitsFromLeadersOnly off.

import { type Entry, type HardState, StateType } from "../src/index.ts";
import type { Raft } from "../src/internal.ts";
import { type CheckedNode, Checker } from "./checker.ts";
import { chainHash, contentHash, FNV_OFFSET } from "./state_machine.ts";

/** The durable storage of a polled node (MemoryStorage satisfies it). */
export interface PolledStorage {
  initialState(): { hardState: HardState };
  firstIndex(): number;
  lastIndex(): number;
  term(i: number): number;
  snapshot(): { metadata: { index: number } };
}

/** What PolledChecker reads from a node (rafttest's NetworkNode satisfies it). */
export interface PolledNode {
  readonly id: bigint;
  /** The running raft instance: a new object after every restart. */
  readonly raft: Raft;
  /** Durable state, which survives restarts. */
  readonly storage: PolledStorage;
  /** Entries this incarnation's state machine applied, in order. */
  readonly appliedEntries: readonly Entry[];
}

/** The checker's view of one polled node; always up (the harness has no down nodes). */
class Tracked implements CheckedNode {
  readonly id: bigint;
  node: PolledNode;
  /** The raft instance seen at the last check (a different one means a restart). */
  seen: Raft | null = null;
  /** How many of the incarnation's applied entries were checked, and the state hash after them. */
  applied = 0;
  /** The state hash after the last applied entry; undefined once the chain is unknown (a snapshot). */
  hash: number | undefined = FNV_OFFSET;
  lastIndex = 0;
  durable = { term: 0, vote: 0n, commit: 0 };

  constructor(node: PolledNode) {
    this.id = node.id;
    this.node = node;
  }

  get raft(): Raft {
    return this.node.raft;
  }

  durablyHas(index: number, term: number): boolean {
    const s = this.node.storage;
    if (index <= s.firstIndex() - 1) return true;
    if (index > s.lastIndex()) return false;
    return s.term(index) === term;
  }

  lastEntry(): { index: number; term: number } {
    return this.node.raft.raftLog.lastEntryID();
  }

  termAt(i: number): number {
    return this.node.raft.raftLog.termOrError(i);
  }
}

export class PolledChecker {
  readonly checker: Checker;
  private readonly tracked = new Map<bigint, Tracked>();
  private current: Tracked[] = [];

  /** `nodes` gives the harness's nodes as they are now (restarted ones included). */
  constructor(private readonly nodes: () => Iterable<PolledNode>) {
    this.checker = new Checker(
      (id) => this.tracked.get(id),
      () => this.current,
      () => this.current,
      false,
    );
  }

  /** Checks every property against the nodes' current state; throws InvariantViolation. */
  check(): void {
    const cur: Tracked[] = [];
    for (const n of this.nodes()) {
      let t = this.tracked.get(n.id);
      if (t === undefined) {
        t = new Tracked(n);
        this.tracked.set(n.id, t);
      }
      t.node = n;
      cur.push(t);
    }
    this.current = cur;
    const c = this.checker;
    for (const t of cur) {
      if (t.seen === t.node.raft) continue;
      // A new incarnation: its state machine starts over from the durable snapshot.
      t.seen = t.node.raft;
      t.applied = 0;
      t.lastIndex = t.node.storage.snapshot().metadata.index;
      t.hash = t.lastIndex === 0 ? FNV_OFFSET : undefined;
      c.onStart(t);
    }
    for (const t of cur) {
      const hs = t.node.storage.initialState().hardState;
      const d = t.durable;
      if (hs.term !== d.term || hs.vote !== d.vote || hs.commit !== d.commit) {
        c.onDurableHardState(t, hs);
        t.durable = { term: hs.term, vote: hs.vote, commit: hs.commit };
      }
    }
    // Leaders first, so that a commit index is first seen at the leader that advanced it.
    for (const t of cur) if (t.raft.state === StateType.StateLeader) c.observe(t);
    for (const t of cur) if (t.raft.state !== StateType.StateLeader) c.observe(t);
    for (const t of cur) {
      const ents = t.node.appliedEntries;
      for (; t.applied < ents.length; t.applied++) {
        const e = ents[t.applied]!;
        // A gap means a snapshot was restored in between: the state hash is no longer known.
        if (e.index !== t.lastIndex + 1) t.hash = undefined;
        const content = contentHash(e);
        if (t.hash !== undefined) t.hash = chainHash(t.hash, e, content);
        c.onApply(t, e, content, t.hash);
        t.lastIndex = e.index;
      }
    }
    for (const t of cur) c.checkWholeLog(t);
  }
}
