// The package as users install it: every subpath export and bin maps to a
// source file that the build compiles into that place.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "./support/testdata.ts";

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  exports: Record<string, { source: string; types: string; import: string }>;
  bin: Record<string, string>;
};

// dist/<path>.js is compiled from src/<path>.ts (tsconfig.build.json, rootDir src).
const source = (dist: string) =>
  join(repoRoot, dist.replace(/^\.?\/?dist\//, "src/").replace(/\.(d\.ts|js)$/, ".ts"));

test("every subpath export and bin has its source", () => {
  const subpaths = Object.keys(pkg.exports).sort();
  assert.deepEqual(subpaths, [
    ".",
    "./host",
    "./internal",
    "./kv",
    "./rafthttp",
    "./rafttest",
    "./snap",
    "./storage",
    "./wal",
    "./wire",
  ]);
  for (const [name, e] of Object.entries(pkg.exports)) {
    assert.ok(existsSync(source(e.import)), `${name}: ${e.import} has no source ${source(e.import)}`);
    assert.equal(source(e.types), source(e.import), `${name}: types and code disagree`);
    // The "source" condition (examples and tests run from src without a build) names the same file.
    assert.equal(join(repoRoot, e.source), source(e.import), `${name}: source condition disagrees`);
  }
  for (const [name, bin] of Object.entries(pkg.bin)) {
    const src = source(bin);
    assert.ok(existsSync(src), `bin ${name}: ${bin} has no source`);
    assert.match(readFileSync(src, "utf8"), /^#!\/usr\/bin\/env node\n/, `bin ${name} needs a shebang`);
  }
});

test("every subpath entry point loads and exports something", async () => {
  for (const [name, e] of Object.entries(pkg.exports)) {
    const mod = (await import(source(e.import))) as Record<string, unknown>;
    assert.ok(Object.keys(mod).length > 0, `${name} exports nothing`);
  }
});

// npm installs bins as symlinks (node_modules/.bin/tsraft-kv -> the real
// file); a CLI that compared its own URL with argv[1] did nothing at all then.
test("the bins run when started through a symlink, as npm installs them", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-bin-"));
  try {
    for (const [name, bin] of Object.entries(pkg.bin)) {
      const link = join(dir, name);
      symlinkSync(source(bin), link);
      const r = spawnSync(process.execPath, ["--import", "tsx", link, "--help"], {
        cwd: repoRoot,
        encoding: "utf8",
        timeout: 30_000,
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: ${name} `, "m"), `${name} --help printed nothing`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
