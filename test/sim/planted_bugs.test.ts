// The checker bites: each known bug, planted into the core by patching its
// prototypes for the duration of a run, is caught within a fixed number of
// seeds. (Runs are deterministic, so "within N seeds" is exact; the bounds
// leave room for the simulator to evolve.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { plantedBugs } from "../../sim/bugs.ts";
import type { Profile } from "../../sim/scenario.ts";
import { runSeed } from "../../sim/simulator.ts";

const cases: { bug: string; profile: Profile; within: number; kinds: string[] }[] = [
  // Raft's Figure 8: needs leader churn with entries trickling out one at a time.
  { bug: "commit-previous-term", profile: "elections", within: 150, kinds: ["committed-entry-unprotected"] },
  {
    bug: "vote-without-log-check",
    profile: "mixed",
    within: 40,
    kinds: ["leader-completeness", "committed-entry-unprotected"],
  },
  { bug: "ack-before-persist", profile: "mixed", within: 40, kinds: ["durable-quorum"] },
  { bug: "read-without-quorum", profile: "mixed", within: 150, kinds: ["linearizability"] },
  // A strict lease one tick longer than electionTick - 1 - margin: at the
  // widest drift the margin covers, followers' promises end before it does.
  {
    bug: "lease-one-tick-long",
    profile: "leases",
    within: 20,
    kinds: ["lease-outlives-promises", "linearizability"],
  },
  // etcd's behaviour back: a member that missed the commit of a membership
  // change waits for the vote of the member it removed (etcd-io/etcd#12359).
  { bug: "ignore-shared-commit", profile: "membership", within: 80, kinds: ["membership-deadlock"] },
];

test("every planted bug has a case", () => {
  assert.deepEqual(cases.map((c) => c.bug).sort(), plantedBugs.map((b) => b.name).sort());
});

for (const c of cases) {
  test(`planted bug ${c.bug} is caught within ${c.within} seeds (${c.profile})`, () => {
    let caughtAt = 0;
    let kind = "";
    for (let seed = 1; seed <= c.within && caughtAt === 0; seed++) {
      const r = runSeed({ seed, bug: c.bug, profile: c.profile });
      if (!r.ok) {
        caughtAt = seed;
        kind = r.failure!.kind;
      }
    }
    assert.ok(caughtAt > 0, `${c.bug} survived ${c.within} seeds`);
    assert.ok(c.kinds.includes(kind), `${c.bug} was caught as ${kind}`);
    // The bug is gone afterwards: the same seed passes.
    assert.equal(runSeed({ seed: caughtAt, profile: c.profile }).ok, true);
  });
}
