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

/** Prints rows as an aligned text table. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(r));
}
