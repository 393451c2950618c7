// The core's behaviour before each fix the simulator prompted, re-planted by
// patching prototypes (test-only): the regression tests show that the seed
// which found a bug fails without its fix and passes with it.

import { type Message, MessageType, type RaftError, StateType } from "../../../src/index.ts";
import { Raft } from "../../../src/internal.ts";

export interface RevertedFix {
  readonly name: string;
  plant(): () => void;
}

function patchStep(wrap: (r: Raft, m: Message) => "default" | null): () => void {
  const original = Raft.prototype.step;
  Raft.prototype.step = function (this: Raft, m: Message): RaftError | null {
    return wrap(this, m) === null ? null : original.call(this, m);
  };
  return () => {
    Raft.prototype.step = original;
  };
}

export const revertedFixes: readonly RevertedFix[] = [
  {
    // Before: with maxSizePerMsg 0 and no maxCommittedSizePerReady, the apply
    // budget defaulted to 0 bytes. (Planted at the end of the Raft
    // constructor, which calls becomeFollower last; only meaningful for runs
    // whose scenario leaves the budget to that default.)
    name: "zero-apply-budget",
    plant: () => {
      const original = Raft.prototype.becomeFollower;
      const seen = new WeakSet<Raft>();
      Raft.prototype.becomeFollower = function (this: Raft, term: number, lead: bigint): void {
        original.call(this, term, lead);
        if (seen.has(this)) return;
        seen.add(this);
        const log = this.raftLog;
        if (log.maxApplyingEntsSize === 1) {
          log.maxApplyingEntsSize = 0;
          if (log.applied > 0) log.applyingEntsPaused = true;
        }
      };
      return () => {
        Raft.prototype.becomeFollower = original;
      };
    },
  },
  {
    // Before: a MsgVote from a lower term was ignored without an answer.
    name: "silent-lower-term-vote",
    plant: () =>
      patchStep((r, m) =>
        m.type === MessageType.MsgVote && m.term !== 0 && m.term < r.term ? null : "default",
      ),
  },
  {
    // Before: without CheckQuorum or PreVote, a MsgApp or MsgHeartbeat from a
    // lower term was ignored without an answer.
    name: "silent-lower-term-append",
    plant: () =>
      patchStep((r, m) =>
        (m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat) &&
        m.term !== 0 &&
        m.term < r.term &&
        !r.checkQuorum &&
        !r.preVote
          ? null
          : "default",
      ),
  },
  {
    // Before: a leader whose configuration had a single voter answered
    // ReadIndex from its commit index at once, whoever that voter was and
    // whether or not it had committed an entry of its term.
    name: "singleton-read-shortcut",
    plant: () =>
      patchStep((r, m) => {
        if (m.term !== 0 || m.type !== MessageType.MsgReadIndex) return "default";
        if (r.state !== StateType.StateLeader || !r.trk.isSingleton()) return "default";
        const resp = r.responseToReadIndexReq(m, r.raftLog.committed);
        if (resp !== null) r.send(resp);
        return null;
      }),
  },
  {
    // Before: a follower restored a snapshot even while a conf change it had
    // handed out for applying was not applied yet.
    name: "restore-during-conf-apply",
    plant: () => {
      const proto = Raft.prototype as unknown as { hasConfChangeIn(lo: number, hi: number): boolean };
      const original = proto.hasConfChangeIn;
      proto.hasConfChangeIn = function (this: Raft, lo: number, hi: number): boolean {
        // Only restore() asks about [.., applying]; hasUnappliedConfChanges asks about [.., committed].
        if (hi === this.raftLog.applying + 1 && hi !== this.raftLog.committed + 1) return false;
        return original.call(this, lo, hi);
      };
      return () => {
        proto.hasConfChangeIn = original;
      };
    },
  },
];

export function withReverted<T>(name: string, fn: () => T): T {
  const fix = revertedFixes.find((f) => f.name === name);
  if (fix === undefined) throw new Error(`unknown fix ${name}`);
  const restore = fix.plant();
  try {
    return fn();
  } finally {
    restore();
  }
}
