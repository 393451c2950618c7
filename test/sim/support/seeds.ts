// Runs a range of seeds in-process and fails with the replay commands of
// every failing seed.

import assert from "node:assert/strict";
import { runRange } from "../../../sim/run.ts";
import type { Profile } from "../../../sim/scenario.ts";

export function assertSeedsPass(from: number, count: number, profile: Profile = "mixed"): void {
  const t = runRange(from, count, { profile });
  const failures = t.failed.map((r) => {
    const flag = profile === "mixed" ? "" : ` --profile ${profile}`;
    return `seed ${r.seed}: ${r.failure!.message}\n  replay: npm run sim -- --seed ${r.seed}${flag} --trace`;
  });
  assert.equal(t.seeds, count);
  assert.ok(t.steps > count * 1000, `suspiciously few steps: ${t.steps}`);
  assert.deepEqual(failures, []);
}
