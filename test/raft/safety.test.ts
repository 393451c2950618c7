// Raft's safety properties (paper Figure 3) checked after every step of
// randomized, seeded runs with message loss, reordering, partitions and
// restarts: election safety, leader append-only, log matching, leader
// completeness and state machine safety. Then the faults stop and the
// cluster must converge (liveness).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Entry, ErrProposalDropped, None, SeededRandom, StateType } from "../../src/index.ts";
import { Network, type NodeConfig } from "../../src/rafttest/index.ts";

interface Committed {
  term: number;
  data: string;
  /** The term of the node that first saw it committed. */
  seenAtTerm: number;
}

const key = (e: Entry) => `${e.term}:${String.fromCharCode(...e.data)}`;

class SafetyChecker {
  /** term -> leader */
  private readonly leaders = new Map<number, bigint>();
  /** `${id}:${term}` -> the leader's log (index -> key) when last seen as leader in that term */
  private readonly leaderLogs = new Map<string, string[]>();
  /** index -> committed entry */
  readonly committed = new Map<number, Committed>();
  /** id -> applied keys by index */
  private readonly applied = new Map<bigint, Map<number, string>>();

  constructor(private readonly net: Network) {}

  check(step: number): void {
    const logs = new Map<bigint, Entry[]>();
    for (const id of this.net.ids()) logs.set(id, this.net.raft(id).raftLog.allEntries());
    for (const id of this.net.ids()) {
      const r = this.net.raft(id);
      const log = logs.get(id)!;
      const where = `step ${step}, node ${id}, term ${r.term}`;
      if (r.state === StateType.StateLeader) {
        // Election safety: at most one leader per term.
        const other = this.leaders.get(r.term);
        assert.ok(
          other === undefined || other === id,
          `two leaders in term ${r.term}: ${other} and ${id} (${where})`,
        );
        this.leaders.set(r.term, id);
        // Leader append-only: what it had as leader in this term is still there.
        const k = `${id}:${r.term}`;
        const prev = this.leaderLogs.get(k);
        const cur = log.map(key);
        if (prev !== undefined) {
          for (let i = 0; i < prev.length; i++)
            assert.equal(cur[i], prev[i], `leader rewrote index ${i + 1} (${where})`);
        }
        this.leaderLogs.set(k, cur);
        // Leader completeness: every entry committed at this term or before is in its log.
        for (const [index, c] of this.committed) {
          if (c.seenAtTerm > r.term) continue;
          assert.equal(
            cur[index - 1],
            `${c.term}:${c.data}`,
            `leader lacks committed index ${index} (${where})`,
          );
        }
      }
      // Record what this node considers committed; commitment never disagrees.
      for (let i = 1; i <= r.raftLog.committed; i++) {
        const e = log[i - 1]!;
        const c = this.committed.get(i);
        const data = String.fromCharCode(...e.data);
        if (c === undefined) this.committed.set(i, { term: e.term, data, seenAtTerm: r.term });
        else
          assert.equal(`${c.term}:${c.data}`, `${e.term}:${data}`, `committed index ${i} differs (${where})`);
      }
      // State machine safety: no two nodes apply different entries at an index.
      let mine = this.applied.get(id);
      if (mine === undefined) this.applied.set(id, (mine = new Map()));
      for (const e of this.net.node(id).appliedEntries) mine.set(e.index, key(e));
    }
    // Log matching: same index and term imply identical prefixes.
    const ids = this.net.ids();
    for (let a = 0; a < ids.length; a++) {
      for (let b = a + 1; b < ids.length; b++) {
        const la = logs.get(ids[a]!)!;
        const lb = logs.get(ids[b]!)!;
        const n = Math.min(la.length, lb.length);
        let last = -1;
        for (let i = n - 1; i >= 0; i--) {
          if (la[i]!.term === lb[i]!.term) {
            last = i;
            break;
          }
        }
        for (let i = 0; i <= last; i++)
          assert.equal(
            key(la[i]!),
            key(lb[i]!),
            `logs of ${ids[a]} and ${ids[b]} differ at ${i + 1} (step ${step})`,
          );
      }
    }
    const byIndex = new Map<number, string>();
    for (const m of this.applied.values()) {
      for (const [i, k] of m) {
        const prev = byIndex.get(i);
        assert.ok(
          prev === undefined || prev === k,
          `two different entries applied at index ${i} (step ${step})`,
        );
        byIndex.set(i, k);
      }
    }
  }
}

function chaos(seed: number, config: NodeConfig, steps: number): void {
  const ids = [1n, 2n, 3n, 4n, 5n];
  const net = new Network({ voters: ids, seed, config: { electionTick: 6, ...config } });
  net.reorder = true;
  const rnd = new SeededRandom(seed * 7919);
  const checker = new SafetyChecker(net);
  let proposals = 0;
  for (let step = 0; step < steps; step++) {
    const roll = rnd.intn(100);
    if (roll < 3) {
      net.heal();
    } else if (roll < 6) {
      const a = ids[rnd.intn(5)]!;
      net.isolate(a);
    } else if (roll < 8) {
      const cut = ids.filter(() => rnd.intn(2) === 0);
      net.partition(
        cut,
        ids.filter((id) => !cut.includes(id)),
      );
    } else if (roll < 10) {
      for (const a of ids) for (const b of ids) if (a !== b) net.drop(a, b, 0.2);
    } else if (roll < 11) {
      net.restart(ids[rnd.intn(5)]!);
    }
    for (const id of ids) if (rnd.intn(3) === 0) net.tick(id);
    if (rnd.intn(3) === 0) {
      try {
        net.propose(ids[rnd.intn(5)]!, `s${seed}p${proposals}`);
        proposals++;
      } catch (e) {
        if (e !== ErrProposalDropped) throw e;
      }
    }
    for (const id of ids) net.processReady(id);
    net.deliver();
    checker.check(step);
  }
  // Liveness: with the network healed, a leader emerges and everything converges.
  net.heal();
  for (let i = 0; i < 100; i++) {
    net.tickAndStabilize(1);
    if (net.leader() !== None && i > 20) break;
  }
  const lead = net.leader();
  assert.notEqual(lead, None, `seed ${seed}: no leader after healing`);
  net.propose(lead, "final");
  net.tickAndStabilize(3);
  checker.check(steps);
  const want = net.appliedData(lead);
  assert.equal(want[want.length - 1], "final");
  for (const id of ids) assert.deepEqual(net.appliedData(id), want, `seed ${seed}: node ${id} diverged`);
  assert.ok(checker.committed.size > 5, `seed ${seed}: too little progress (${checker.committed.size})`);
}

describe("safety under faults (Figure 3)", () => {
  const variants: Array<[string, NodeConfig]> = [
    ["plain", {}],
    ["pre-vote", { preVote: true }],
    ["pre-vote + check quorum", { preVote: true, checkQuorum: true }],
    ["async storage writes", { asyncStorageWrites: true }],
    ["small messages and windows", { maxSizePerMsg: 0, maxInflightMsgs: 2 }],
  ];
  for (const [name, config] of variants) {
    test(`election safety, leader append-only, log matching, leader completeness and state machine safety hold (${name})`, () => {
      for (let seed = 1; seed <= 4; seed++) chaos(seed, config, 300);
    });
  }
});
