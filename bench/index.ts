// Runs every bench/*.bench.ts file (or those whose name contains one of the
// arguments) in its own process, one after another, so that each benchmark
// starts from a fresh heap and a cold JIT. Benchmarks that report rows through
// bench/lib.ts's report() are gathered into one side-by-side table at the end.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { printRows, type Row } from "./lib.ts";

const dir = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

const tmp = mkdtempSync(join(tmpdir(), "tsraft-bench-"));
const results = join(tmp, "rows.jsonl");
let failed = 0;
for (const f of files) {
  console.log(`\n=== ${f} ===`);
  const res = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", join(dir, f)], {
    stdio: "inherit",
    env: { ...process.env, BENCH_RESULTS: results },
  });
  if (res.status !== 0) failed++;
}
let rows: Row[] = [];
try {
  rows = readFileSync(results, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Row);
} catch {
  // No benchmark reported rows.
}
rmSync(tmp, { recursive: true, force: true });
if (rows.length > 0) {
  console.log("\n=== side by side (Go figures: shared/anchors/PERF.md, same kind of machine) ===");
  printRows(rows);
}
process.exit(failed === 0 ? 0 : 1);
