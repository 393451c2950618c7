// docs/errors.md lists every error code the source defines, so that the
// reference users match on stays complete.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { KvErrorCode } from "../src/kv/index.ts";
import { repoRoot } from "./support/testdata.ts";

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sources(join(dir, d.name)) : d.name.endsWith(".ts") ? [join(dir, d.name)] : [],
  );
}

test("every error code in src/ is in docs/errors.md", () => {
  const doc = readFileSync(join(repoRoot, "docs/errors.md"), "utf8");
  const codes = new Set<string>(Object.values(KvErrorCode));
  for (const f of sources(join(repoRoot, "src"))) {
    for (const m of readFileSync(f, "utf8").matchAll(/"(ERR_[A-Z0-9_]+|ABORT_ERR)"/g)) codes.add(m[1]!);
  }
  assert.ok(codes.size > 60, `only ${codes.size} codes found`);
  const missing = [...codes].filter((c) => !doc.includes(`\`${c}\``));
  assert.deepEqual(missing, []);
});
