// Rebuilding a configuration from a ConfState (as done when restoring a
// snapshot or restarting) must reproduce that ConfState exactly.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ConfState } from "../../src/index.ts";
import { Changer, confStatesEquivalent, ProgressTracker, restore } from "../../src/internal.ts";

// Member IDs from a pool across the whole unsigned 64-bit range: small ones
// and hash-like ones (etcd's member IDs), around 2^53 and at or above 2^63.
const ID_POOL: readonly bigint[] = [
  ...Array.from({ length: 12 }, (_, i) => BigInt(i + 1)),
  2n ** 53n - 1n,
  2n ** 53n,
  0x8e2b7a1c3f4d5e60n,
  2n ** 63n - 1n,
  2n ** 63n,
  0xfedcba9876543210n,
  0xa5b4c3d2e1f00718n,
  2n ** 64n - 1n,
];
const member = fc.integer({ min: 0, max: ID_POOL.length - 1 }).map((i) => ID_POOL[i]!);

/** A random valid ConfState: voters, learners, and optionally a joint config with learnersNext. */
const confState = fc
  .record({
    voters: fc.uniqueArray(member, { minLength: 1, maxLength: 5 }),
    learners: fc.uniqueArray(member, { maxLength: 4 }),
    outgoing: fc.uniqueArray(member, { maxLength: 5 }),
    learnersNextPick: fc.uniqueArray(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
    autoLeave: fc.boolean(),
  })
  .map(({ voters, learners, outgoing, learnersNextPick, autoLeave }) => {
    // learnersNext: outgoing voters that are not incoming voters.
    const candidates = outgoing.filter((id) => !voters.includes(id));
    const learnersNext = [
      ...new Set(learnersNextPick.map((i) => candidates[i]).filter((x) => x !== undefined)),
    ];
    // Learners overlap neither half of the voters nor learnersNext.
    const ls = learners.filter((id) => !voters.includes(id) && !outgoing.includes(id));
    const joint = outgoing.length > 0;
    return new ConfState(voters, ls, outgoing, joint ? learnersNext : [], joint && autoLeave);
  });

test("confchange restore round trip: restoring any valid ConfState yields an equivalent ConfState", () => {
  fc.assert(
    fc.property(confState, (cs) => {
      const tracker = new ProgressTracker(20);
      const r = restore(new Changer(tracker, 10), cs);
      tracker.setConfig(r.config, r.progress);
      const got = tracker.confState();
      assert.equal(confStatesEquivalent(cs, got), undefined);
      // Every member has a progress entry, learners are marked as such.
      for (const id of [...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext])
        assert.ok(tracker.progress.has(id), `progress for ${id}`);
      for (const id of cs.learners) assert.equal(tracker.progress.get(id)!.isLearner, true);
      for (const id of cs.learnersNext) assert.equal(tracker.progress.get(id)!.isLearner, false);
    }),
    { numRuns: 500, seed: 7 },
  );
});

test("confchange restore round trip: examples, including a joint config with learnersNext", () => {
  const cases = [
    new ConfState([1n, 2n, 3n]),
    new ConfState([1n, 2n, 3n], [4n, 5n]),
    new ConfState([1n, 2n, 3n], [5n], [1n, 2n, 4n, 6n], [4n, 6n], true),
    new ConfState([1n], [], [1n, 2n], [], false),
  ];
  for (const cs of cases) {
    const tracker = new ProgressTracker(20);
    const r = restore(new Changer(tracker, 10), cs);
    tracker.setConfig(r.config, r.progress);
    assert.equal(confStatesEquivalent(cs, tracker.confState()), undefined);
  }
});
