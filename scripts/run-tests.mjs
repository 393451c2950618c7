#!/usr/bin/env node
// Runs every *.test.ts under test/ (or the files given) with node's own test
// runner through the tsx loader. The spec reporter ends with "ℹ tests N",
// "ℹ pass N" and "ℹ fail N" lines that CI can read; the exit status is non-zero
// on any failure.
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
const files = args.length > 0 ? args : collect("test", []);
const res = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=2", ...files],
  { stdio: "inherit" },
);
process.exit(res.status ?? 1);
