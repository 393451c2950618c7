// The default scenario mix, first half: every invariant holds after every
// step, and the cluster recovers after every heal.
import { test } from "node:test";
import { assertSeedsPass } from "./support/seeds.ts";

test("simulation: seeds 1-150 (mixed scenarios) keep every invariant", () => {
  assertSeedsPass(1, 150);
});
