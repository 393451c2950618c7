// Replays tsraft's own data-driven files (testdata/, etcd's format) for
// behaviour etcd's raft does not have: strict leases and shared commits in
// vote messages. Output must match byte for byte, as for etcd's files.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { describe, test } from "node:test";
import { describeFailures, runDataDriven } from "../../src/datadriven/index.ts";
import { handlerFor } from "../../src/rafttest/index.ts";
import { collectFiles, kindOf, repoRoot } from "../support/testdata.ts";

const files = collectFiles(join(repoRoot, "testdata"));

describe("tsraft testdata", () => {
  test("the folder holds the files", () => {
    assert.ok(files.length >= 4, `only ${files.length} files under testdata/`);
  });
  for (const file of files) {
    test(`${kindOf(file)}/${basename(file)}`, () => {
      const handler = handlerFor(kindOf(file));
      assert.ok(handler, `no handler for ${kindOf(file)}`);
      const r = runDataDriven(file, readFileSync(file, "utf8"), handler);
      assert.ok(r.passed > 0, "the file has directives");
      assert.equal(r.failed, 0, describeFailures(r));
    });
  }
});
