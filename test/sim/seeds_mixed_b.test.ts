// The default scenario mix, second half.
import { test } from "node:test";
import { assertSeedsPass } from "./support/seeds.ts";

test("simulation: seeds 151-300 (mixed scenarios) keep every invariant", () => {
  assertSeedsPass(151, 150);
});

test("simulation: seeds 1-100 of the leader-churn profile keep every invariant", () => {
  assertSeedsPass(1, 100, "elections");
});
