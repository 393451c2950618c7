// The harness's short mix for CI: three real tsraft-kv processes, every kind
// of fault once, in a seeded order with 0.3-1 s of calm between them (kill,
// pause, partition, flap, membership churn), clients reading, writing and
// compare-and-swapping through every member; the history must be
// linearizable, every member must catch up and hold the same values, and the
// cluster must serve again after the heal. About a minute on a quiet 2-core
// machine; restarts dominate (a member's restart takes 7-10 s there).
import assert from "node:assert/strict";
import { test } from "node:test";
import { FAULT_KINDS, runOnce } from "../../jepsen/index.ts";
import { describeRun, e2eOptions } from "./support/e2e.ts";

test("a short mix of every fault leaves a linearizable history and members that agree", async (t) => {
  const log: string[] = [];
  const r = await runOnce(
    e2eOptions({
      nemesis: [...FAULT_KINDS],
      decks: 1,
      flapRounds: [1, 1],
      seed: 14,
      log: (l) => log.push(l),
    }),
  );
  t.diagnostic(describeRun(r, log).split("\n").slice(0, 4).join("; "));
  assert.equal(r.verdict, "valid", describeRun(r, log));
  // The run did what it is for: load, and faults of several kinds.
  const total = ["read", "write", "cas"].reduce(
    (n, f) => n + (r.ops[`${f} ok`] ?? 0) + (r.ops[`${f} fail`] ?? 0) + (r.ops[`${f} info`] ?? 0),
    0,
  );
  assert.ok(total > 500, `only ${total} operations`);
  assert.deepEqual(
    Object.keys(r.faults).sort(),
    [...FAULT_KINDS].sort(),
    `faults ${JSON.stringify(r.faults)}`,
  );
  assert.ok((r.ops["write ok"] ?? 0) > 100 && (r.ops["read ok"] ?? 0) > 100, JSON.stringify(r.ops));
});
