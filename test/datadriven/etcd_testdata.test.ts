// Replays every etcd raft data-driven file (quorum, confchange, interaction)
// and requires byte-identical output. In CI, missing testdata is a failure.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { describe, test } from "node:test";
import { describeFailures, runDataDriven } from "../../src/datadriven/index.ts";
import { handlerFor } from "../../src/rafttest/index.ts";
import { collectFiles, kindOf, testdataExists, testdataRoot } from "../support/testdata.ts";

const kinds = (process.env.TSRAFT_DATADRIVEN_KINDS ?? "quorum,confchange,interaction").split(",");

if (!testdataExists()) {
  test("etcd testdata is present", (t) => {
    if (process.env.CI === "true") assert.fail(`etcd testdata not found at ${testdataRoot()}`);
    t.skip(`etcd testdata not found at ${testdataRoot()} (set ETCD_RAFT_TESTDATA)`);
  });
} else {
  for (const kind of kinds) {
    describe(`etcd testdata: ${kind}`, () => {
      for (const file of collectFiles(`${testdataRoot()}/${kind}`)) {
        test(basename(file), () => {
          const handler = handlerFor(kindOf(file));
          assert.ok(handler, `no handler for ${kindOf(file)}`);
          const r = runDataDriven(file, readFileSync(file, "utf8"), handler);
          assert.ok(r.passed > 0, "the file has directives");
          assert.equal(r.failed, 0, describeFailures(r));
        });
      }
    });
  }
}
