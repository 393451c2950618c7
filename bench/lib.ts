// Helpers shared by the benchmarks: timing, heap measurement and the
// side-by-side rows (our figure, the Go figure from shared/anchors/PERF.md,
// the ratio). Rows are printed at once and, when the runner sets
// BENCH_RESULTS, appended to that file as JSON lines so that `npm run bench`
// can print one combined table at the end.
import { appendFileSync } from "node:fs";
import { printTable } from "./support/table.ts";

export interface Row {
  /** Benchmark name, e.g. "RawNode3Voters SIZE=3 BATCH=1". */
  name: string;
  /** Our figure. */
  ours: number;
  /** The unit of both figures, e.g. "ns/proposal". */
  unit: string;
  /** The Go etcd raft figure from PERF.md (null: none published). */
  go: number | null;
  /** Free text: allocations, heap, entries per Ready... */
  note?: string;
}

const fmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) < 100) return n.toFixed(1);
  return fmt.format(n);
}

export function ratio(r: Row): string {
  return r.go === null ? "-" : `${(r.ours / r.go).toFixed(2)}x`;
}

/** Prints rows as a Markdown table (ours, Go, ratio). */
export function printRows(rows: readonly Row[]): void {
  const header = ["benchmark", "ours", "Go etcd raft", "ratio", "unit", "notes"];
  const lines = rows.map((r) => [
    r.name,
    formatNumber(r.ours),
    r.go === null ? "-" : formatNumber(r.go),
    ratio(r),
    r.unit,
    r.note ?? "",
  ]);
  printTable(header, lines, "markdown");
}

/** Prints the rows and records them for the runner's combined table. */
export function report(rows: readonly Row[]): void {
  printRows(rows);
  const file = process.env.BENCH_RESULTS;
  if (file) appendFileSync(file, rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
}

export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

export function heapUsed(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

/** Nanoseconds elapsed since `start` (a process.hrtime.bigint() value). */
export function since(start: bigint): number {
  return Number(process.hrtime.bigint() - start);
}

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Whether the benchmarks were asked to run briefly (BENCH_QUICK=1, used by tests). */
export const quick = process.env.BENCH_QUICK === "1";

interface GCStat {
  beforeGC: { heapStatistics: { usedHeapSize: number } };
  afterGC: { heapStatistics: { usedHeapSize: number } };
}

/**
 * Counts the bytes allocated on the V8 heap while `fn` runs: the sum, over
 * every garbage collection, of what the heap grew by since the previous one,
 * plus the growth after the last. (V8 has no allocation counter; this is
 * exact up to objects allocated and freed by the same minor GC... which it
 * still counts, since they were allocated before the collection ran.)
 */
export async function allocatedBytes(fn: () => unknown): Promise<number> {
  const { GCProfiler } = await import("node:v8");
  gc();
  const start = process.memoryUsage().heapUsed;
  const p = new GCProfiler();
  p.start();
  await fn();
  const end = process.memoryUsage().heapUsed;
  const stats = (p.stop()?.statistics ?? []) as GCStat[];
  let total = 0;
  let prev = start;
  for (const s of stats) {
    total += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - prev);
    prev = s.afterGC.heapStatistics.usedHeapSize;
  }
  return total + Math.max(0, end - prev);
}
