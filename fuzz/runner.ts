// Runs one target for a number of cases with fast-check (shrinking a
// failure to a small counterexample).

import fc from "fast-check";
import type { FuzzTarget } from "./target.ts";

export interface FuzzResult {
  target: string;
  runs: number;
  seed: number;
  seconds: number;
  failure: { message: string; counterexample: string; path: string } | null;
}

export function fuzzTarget<T>(
  target: FuzzTarget<T>,
  runs: number,
  seed: number,
  progress?: Int32Array,
  shrink = true,
): FuzzResult {
  const t0 = performance.now();
  let done = 0;
  const details = fc.check(
    fc.property(target.input, (x) => {
      done++;
      if (progress !== undefined) Atomics.add(progress, 0, 1);
      target.run(x);
    }),
    { numRuns: runs, seed, endOnFailure: !shrink },
  );
  const seconds = (performance.now() - t0) / 1000;
  if (!details.failed) return { target: target.name, runs: details.numRuns, seed, seconds, failure: null };
  const ce = details.counterexample?.[0] as T | undefined;
  const err = details.errorInstance;
  return {
    target: target.name,
    runs: done,
    seed,
    seconds,
    failure: {
      message: err instanceof Error ? err.message : String(err),
      counterexample:
        ce === undefined ? "(none)" : target.show !== undefined ? target.show(ce) : JSON.stringify(ce),
      path: details.counterexamplePath ?? "",
    },
  };
}
