// Runs every bench/*.bench.ts file (or those whose name contains one of the
// arguments) in its own process, one after another, so that each benchmark
// starts from a fresh heap and a cold JIT.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

let failed = 0;
for (const f of files) {
  console.log(`\n=== ${f} ===`);
  const res = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", join(dir, f)], {
    stdio: "inherit",
  });
  if (res.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
