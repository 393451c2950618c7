// Raft's safety properties (paper Figure 3) checked after every step of
// randomized, seeded runs with message loss, reordering, partitions and
// restarts: election safety, leader append-only, log matching, leader
// completeness and state machine safety. Then the faults stop and the
// cluster must converge (liveness). The checking is the simulator's checker
// (sim/checker.ts), driven from the nodes' state by PolledChecker after every
// step; a planted bug shows it catches a broken election rule here too.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { withBug } from "../../sim/bugs.ts";
import { InvariantViolation } from "../../sim/checker.ts";
import { PolledChecker } from "../../sim/polled_checker.ts";
import { ErrProposalDropped, None, SeededRandom } from "../../src/index.ts";
import { Network, type NodeConfig } from "../../src/rafttest/index.ts";

/** Runs every check; a violation names the seed and step. */
function check(checker: PolledChecker, seed: number, step: number): void {
  try {
    checker.check();
  } catch (e) {
    if (e instanceof InvariantViolation) e.message = `seed ${seed}, step ${step}: ${e.message}`;
    throw e;
  }
}

function chaos(seed: number, config: NodeConfig, steps: number): void {
  const ids = [1n, 2n, 3n, 4n, 5n];
  const net = new Network({ voters: ids, seed, config: { electionTick: 6, ...config } });
  net.reorder = true;
  const rnd = new SeededRandom(seed * 7919);
  const checker = new PolledChecker(() => net.nodes.values());
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
    check(checker, seed, step);
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
  check(checker, seed, steps);
  const want = net.appliedData(lead);
  assert.equal(want[want.length - 1], "final");
  for (const id of ids) assert.deepEqual(net.appliedData(id), want, `seed ${seed}: node ${id} diverged`);
  const committed = checker.checker.maxCommitted;
  assert.ok(committed > 5, `seed ${seed}: too little progress (${committed})`);
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

  test("a broken election rule is caught: votes granted without the log check (planted bug)", () => {
    let caught: InvariantViolation | null = null;
    withBug("vote-without-log-check", () => {
      for (let seed = 1; seed <= 20 && caught === null; seed++) {
        try {
          chaos(seed, {}, 300);
        } catch (e) {
          if (!(e instanceof InvariantViolation)) throw e;
          caught = e;
        }
      }
    });
    assert.ok(caught !== null, "20 seeds ran with the planted bug and no invariant broke");
  });
});
