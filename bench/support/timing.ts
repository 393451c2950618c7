// Small timing helpers for the benchmarks: run a function in batches until a
// time budget is spent and report ns per operation.

export interface Measurement {
  ops: number;
  ns: number;
  nsPerOp: number;
}

/** Runs `fn` (which performs `opsPerCall` operations) repeatedly for about `ms` milliseconds. */
export function measure(fn: () => void, ms = 1000, opsPerCall = 1): Measurement {
  // Warm up so that the JIT has optimized the code being measured.
  const warmEnd = performance.now() + Math.min(300, ms / 3);
  while (performance.now() < warmEnd) fn();
  let calls = 0;
  const start = process.hrtime.bigint();
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) fn();
    calls += 64;
  }
  const ns = Number(process.hrtime.bigint() - start);
  const ops = calls * opsPerCall;
  return { ops, ns, nsPerOp: ns / ops };
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

// The table printer lives in table.ts; re-exported for the benchmarks that
// import it from here.
export { printTable } from "./table.ts";
