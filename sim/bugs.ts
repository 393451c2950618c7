// Known bugs the simulator can plant into the raft core to prove that the
// checker catches them. They are planted by patching prototypes inside the
// simulating process (never by flags in the core) and undone afterwards.

import { type Message, MessageType, ReadOnlyOption } from "../src/index.ts";
import { Raft, RaftLog } from "../src/internal.ts";

export interface PlantedBug {
  readonly name: string;
  readonly description: string;
  /** Installs the bug; returns the function that removes it. */
  plant(): () => void;
}

function patch<T extends object, K extends keyof T>(proto: T, key: K, impl: T[K]): () => void {
  const original = proto[key];
  proto[key] = impl;
  return () => {
    proto[key] = original;
  };
}

export const plantedBugs: readonly PlantedBug[] = [
  {
    name: "commit-previous-term",
    description:
      "the leader counts replicas of an entry from a previous term as committing it (raft paper, Figure 8)",
    plant: () =>
      patch(
        RaftLog.prototype,
        "maybeCommit",
        function (this: RaftLog, index: number, _term: number): boolean {
          if (index > this.committed) {
            this.commitTo(index);
            return true;
          }
          return false;
        },
      ),
  },
  {
    name: "vote-without-log-check",
    description: "a node grants its vote without checking that the candidate's log is up to date",
    plant: () => patch(RaftLog.prototype, "isUpToDate", (_index: number, _term: number): boolean => true),
  },
  {
    name: "ack-before-persist",
    description:
      "a follower acknowledges appended entries before they are durable (with async storage writes the " +
      "response leaves at once instead of after the MsgStorageAppend)",
    plant: () => {
      const original = Raft.prototype.send;
      return patch(Raft.prototype, "send", function (this: Raft, m: Message): void {
        if (m.type === MessageType.MsgAppResp && m.to !== this.id && m.to !== 0n) {
          if (m.from === 0n) m.from = this.id;
          m.term = this.term;
          this.msgs.push(m);
          return;
        }
        original.call(this, m);
      });
    },
  },
  {
    name: "read-without-quorum",
    description: "a leader answers ReadIndex (ReadOnlySafe) from its commit index without a heartbeat quorum",
    plant: () => {
      const original = Raft.prototype.sendMsgReadIndexResponse;
      return patch(Raft.prototype, "sendMsgReadIndexResponse", function (this: Raft, m: Message): void {
        if (this.readOnly.option === ReadOnlyOption.ReadOnlySafe) {
          const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
          if (resp !== null) this.send(resp);
          return;
        }
        original.call(this, m);
      });
    },
  },
  {
    name: "lease-one-tick-long",
    description:
      "a strict lease is served one tick longer than electionTick - 1 - leaseDriftMarginTicks after the " +
      "round a quorum acknowledged (stale reads once a successor is elected as early as allowed)",
    plant: () => {
      // Both the reads and the step-down at the lapse get the extra tick.
      type Internals = { leaseQuorumTick(): number; leaseRenewedTick(): number; leaseLapsed(): boolean };
      const proto = Raft.prototype as unknown as Internals;
      const undoHolds = patch(Raft.prototype, "leaseHolds", function (this: Raft): boolean {
        const quorumTick = (this as unknown as Internals).leaseQuorumTick();
        return (
          this.lease !== null && !this.leaseRevoked && this.leaseClock - quorumTick < this.leaseTicks + 1
        );
      });
      const originalLapsed = proto.leaseLapsed;
      proto.leaseLapsed = function (this: Raft): boolean {
        return this.leaseClock - (this as unknown as Internals).leaseRenewedTick() >= this.leaseTicks + 1;
      };
      return () => {
        undoHolds();
        proto.leaseLapsed = originalLapsed;
      };
    },
  },
  {
    name: "ignore-shared-commit",
    description:
      "members ignore the commit index vote messages carry (etcd's behaviour): one that missed the commit of " +
      "a membership change waits forever for the vote of the member it removed or demoted",
    plant: () => {
      const proto = Raft.prototype as unknown as { learnCommit(m: Message): void };
      const original = proto.learnCommit;
      proto.learnCommit = () => {};
      return () => {
        proto.learnCommit = original;
      };
    },
  },
];

export function findBug(name: string): PlantedBug {
  const bug = plantedBugs.find((b) => b.name === name);
  if (bug === undefined) {
    throw new Error(
      `unknown bug ${JSON.stringify(name)}; known: ${plantedBugs.map((b) => b.name).join(", ")}`,
    );
  }
  return bug;
}

/** Runs fn with the named bug planted (if any), always removing it afterwards. */
export function withBug<T>(name: string | undefined, fn: () => T): T {
  if (name === undefined) return fn();
  const restore = findBug(name).plant();
  try {
    return fn();
  } finally {
    restore();
  }
}
