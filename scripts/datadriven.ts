// npm run datadriven [-- FILE|DIR|quorum|confchange|interaction ...] [--rewrite OUTDIR]
//
// Replays etcd raft's data-driven files against tsraft and prints a unified
// diff for every directive whose output differs, then "N passed, N failed"
// (counting directives). Exits non-zero on any failure. With no arguments it
// runs everything under ../shared/testdata/etcd-raft (or $ETCD_RAFT_TESTDATA),
// then tsraft's own files under testdata/ (etcd's format, for behaviour that
// etcd's raft does not have, such as strict leases), each with its own tally.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { describeFailures, rewriteFile, runDataDriven } from "../src/datadriven/index.ts";
import { handlerFor } from "../src/rafttest/index.ts";
import { collectFiles, kindOf, repoRoot, testdataRoot } from "../test/support/testdata.ts";

const args = process.argv.slice(2);
let rewriteDir: string | undefined;
const targets: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--rewrite") rewriteDir = args[++i];
  else targets.push(args[i]!);
}

const root = testdataRoot();
const ownRoot = join(repoRoot, "testdata");
const etcdPresent = existsSync(root);

let passed = 0;
let failed = 0;

function run(paths: readonly string[]): void {
  for (const p of paths) {
    for (const file of collectFiles(p)) {
      const handler = handlerFor(kindOf(file));
      if (handler === undefined) {
        console.log(`${file}: no handler for directory "${kindOf(file)}"`);
        failed++;
        continue;
      }
      const r = runDataDriven(file, readFileSync(file, "utf8"), handler);
      passed += r.passed;
      failed += r.failed;
      const status = r.failed === 0 ? "ok  " : "FAIL";
      console.log(`${status} ${kindOf(file)}/${basename(file)}: ${r.passed} passed, ${r.failed} failed`);
      if (r.failed > 0) process.stdout.write(describeFailures(r));
      if (rewriteDir !== undefined) {
        mkdirSync(join(rewriteDir, kindOf(file)), { recursive: true });
        writeFileSync(
          join(rewriteDir, kindOf(file), basename(file)),
          rewriteFile(
            r.results.map((x) => x.data),
            r.results.map((x) => x.actual),
          ),
        );
      }
    }
  }
}

if (targets.length === 0) {
  if (etcdPresent) {
    run([root]);
    console.log(`etcd's files: ${passed} passed, ${failed} failed`);
  } else {
    const msg = `etcd testdata not found at ${root} (set ETCD_RAFT_TESTDATA)`;
    if (process.env.CI === "true") {
      console.error(`error: ${msg}`);
      process.exit(1);
    }
    console.log(`notice: ${msg}; only tsraft's own files are run`);
  }
  const [p0, f0] = [passed, failed];
  run([ownRoot]);
  console.log(`tsraft's files (testdata/): ${passed - p0} passed, ${failed - f0} failed`);
} else {
  run(targets.map((t) => (existsSync(t) ? t : join(root, t))));
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
