#!/usr/bin/env node
// Runs the test files under test/ with node's own test runner through the tsx
// loader. The spec reporter ends with "ℹ tests N", "ℹ pass N" and "ℹ fail N"
// lines that CI can read; the exit status is non-zero on any failure.
//
//   node scripts/run-tests.mjs            every *.test.ts except the end-to-end ones (npm test)
//   node scripts/run-tests.mjs --e2e      only *.e2e.test.ts: real processes, etcd, chromium (npm run test:e2e)
//   node scripts/run-tests.mjs --all      both
//   node scripts/run-tests.mjs FILE...    the files given
//
// End-to-end files are named *.e2e.test.ts: they start real member processes,
// etcd 3.4 members, etcdctl or a browser, and take minutes, so `npm test`
// stays quick while CI (`npm run test:all`) runs both groups.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

function collect(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith(".test.ts")) out.push(relative(process.cwd(), p));
  }
  return out;
}

const args = process.argv.slice(2);
const modes = new Set(["--e2e", "--all", "--unit"]);
const mode = args.find((a) => modes.has(a)) ?? "--unit";
const given = args.filter((a) => !modes.has(a));
const isE2e = (f) => f.endsWith(".e2e.test.ts");

/** Runs files with node's test runner; returns its exit status. */
function run(list, concurrency) {
  const res = spawnSync(
    process.execPath,
    [
      // The package's own names ("tsraft", "tsraft/host", ... as the examples
      // import them) resolve to src/ through the "source" export condition:
      // no build needed, and one copy of each module with the tests' own imports.
      "--conditions=source",
      "--import",
      "tsx",
      "--test",
      "--test-reporter=spec",
      `--test-concurrency=${concurrency}`,
      // A test that hangs fails after 10 minutes instead of stalling CI.
      "--test-timeout=600000",
      ...list,
    ],
    { stdio: "inherit" },
  );
  return res.status ?? 1;
}

// End-to-end files run one at a time: each starts several real processes
// (members, etcd, chromium) whose elections and timeouts suffer when two
// such files share the two cores (an interop leader lost its term that way).
let status;
if (given.length > 0) status = run(given, 2);
else {
  const all = collect("test", []);
  const unit = all.filter((f) => !isE2e(f));
  const e2e = all.filter(isE2e);
  status = 0;
  if (mode !== "--e2e") status = run(unit, 2);
  if (mode !== "--unit") status = run(e2e, 1) || status;
}
process.exit(status);
