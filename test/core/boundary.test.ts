// The raft core must run in a browser: nothing in its five folders imports a
// Node built-in, a package, or a module outside those folders. (tsconfig.core.json
// type-checks the same files without Node's types.)
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const src = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");
const core = ["raftpb", "quorum", "tracker", "confchange", "raft"];

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith(".ts") ? [join(dir, d.name)] : [],
  );
}

test("the core folders import nothing but each other", () => {
  const offenders: string[] = [];
  let checked = 0;
  for (const folder of core) {
    for (const f of files(join(src, folder))) {
      checked++;
      // TypeScript's own scanner: imports, re-exports and dynamic imports.
      for (const { fileName: spec } of ts.preProcessFile(readFileSync(f, "utf8"), true, true).importedFiles) {
        const target = spec.startsWith(".") ? relative(src, resolve(dirname(f), spec)) : null;
        const inCore = target !== null && core.includes(target.split("/")[0]!);
        if (!inCore) offenders.push(`${relative(src, f)} imports ${spec}`);
      }
    }
  }
  assert.ok(checked > 20, `only ${checked} core files found`);
  assert.deepEqual(offenders, []);
});
